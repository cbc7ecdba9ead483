"""Prometheus metrics: a small thread-safe registry and the text exposition format (0.0.4).

`ShipmateMetrics` declares every metric the webhook server and the workers report, so the
names live in one place:

    shipmate_webhook_deliveries_total{event,outcome}   outcome: queued | duplicate | ignored
    shipmate_webhook_rejected_total{reason}            401/400/413/415/503 reasons
    shipmate_webhook_ack_seconds                       time to answer a delivery
    shipmate_queue_jobs{state}                         pending, delayed, running, done, failed, dead
    shipmate_jobs_processed_total{event}
    shipmate_jobs_failed_total{event,retry}
    shipmate_jobs_dead_lettered_total{event,reason}    reason: exhausted | bug | stopped
    shipmate_job_duration_seconds{event}               time in the handler
    shipmate_delivery_latency_seconds{event}           received → finished processing
    shipmate_http_timeouts_total{phase}                header | request (counted by bot.server)

Values are observed by callers; nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence

LabelValues = tuple[str, ...]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric(ABC):
    kind = ""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(sorted(labels))}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    @abstractmethod
    def samples(self) -> list[str]:
        """The sample lines of this metric, sorted by label values."""


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items()) or ([((), 0.0)] if not self.labelnames else [])
        return [f"{self.name}{_labels(self.labelnames, k)} {_format_value(v)}" for k, v in items]


class Gauge(_Metric):
    """A gauge whose values come from a callback at scrape time."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str],
        collect: Callable[[], Iterable[tuple[LabelValues, float]]],
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self._collect = collect

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.labelnames, k)} {_format_value(v)}" for k, v in sorted(self._collect())
        ]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        self._data: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._data.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            data = self._data.get(self._key(labels))
            return data[0][-1] if data else 0

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._data.items())
        if not items and not self.labelnames:  # a plain histogram reports zeros before its first value
            items = [((), ([0] * (len(self.buckets) + 1), 0.0))]
        lines: list[str] = []
        for key, (counts, total) in items:
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                le = f'le="{_format_value(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.labelnames, key, le)} {count}")
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_format_value(total)}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {counts[-1]}")
        return lines


class Registry:
    """Metrics by name; `render()` gives the text exposition, sorted by name."""

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: _Metric) -> None:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is registered already")
            self._metrics[metric.name] = metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labelnames)
        self.register(metric)
        return metric

    def histogram(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> Histogram:
        metric = Histogram(name, help_text, labelnames, buckets)
        self.register(metric)
        return metric

    def gauge(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str],
        collect: Callable[[], Iterable[tuple[LabelValues, float]]],
    ) -> Gauge:
        metric = Gauge(name, help_text, labelnames, collect)
        self.register(metric)
        return metric

    def render(self) -> str:
        with self._lock:
            metrics = [self._metrics[n] for n in sorted(self._metrics)]
        lines: list[str] = []
        for metric in metrics:
            try:
                samples = metric.samples()
            except Exception as exc:  # a failing collector must not break the whole scrape
                lines.append(f"# {metric.name} unavailable: {type(exc).__name__}")
                continue
            lines.extend(metric.header())
            lines.extend(samples)
        return "\n".join(lines) + "\n"


class ShipmateMetrics:
    """The metrics of the webhook server and the worker pool (one instance per process)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        r = self.registry
        self.deliveries = r.counter(
            "shipmate_webhook_deliveries_total",
            "Authenticated webhook deliveries by event and outcome (queued, duplicate, ignored).",
            ("event", "outcome"),
        )
        self.rejected = r.counter(
            "shipmate_webhook_rejected_total",
            "Webhook requests refused, by reason.",
            ("reason",),
        )
        self.ack_seconds = r.histogram(
            "shipmate_webhook_ack_seconds", "Time to verify, store and answer a delivery."
        )
        self.jobs_processed = r.counter(
            "shipmate_jobs_processed_total", "Jobs whose handler returned.", ("event",)
        )
        self.jobs_failed = r.counter(
            "shipmate_jobs_failed_total",
            "Jobs whose handler raised, by whether they will be retried.",
            ("event", "retry"),
        )
        self.dead_letters = r.counter(
            "shipmate_jobs_dead_lettered_total",
            "Jobs dead-lettered (kept for `shipmate queue`), by reason: exhausted (temporary errors on every"
            " attempt), bug (an unexpected exception), stopped (every attempt's worker stopped mid-job).",
            ("event", "reason"),
        )
        self.job_seconds = r.histogram(
            "shipmate_job_duration_seconds", "Time spent in the event handler.", ("event",)
        )
        self.latency_seconds = r.histogram(
            "shipmate_delivery_latency_seconds",
            "Time from receiving a delivery to finishing its processing.",
            ("event",),
        )
        self.http_timeouts = r.counter(
            "shipmate_http_timeouts_total",
            "Connections closed at the header timeout or cut at the request timeout.",
            ("phase",),
        )

    def watch_queue(self, stats: Callable[[], Mapping[str, int]]) -> None:
        """Report the queue's job counts by state at every scrape."""

        def collect() -> list[tuple[LabelValues, float]]:
            return [((state,), float(count)) for state, count in stats().items()]

        self.registry.gauge("shipmate_queue_jobs", "Jobs in the queue by state.", ("state",), collect)

    def render(self) -> str:
        return self.registry.render()
