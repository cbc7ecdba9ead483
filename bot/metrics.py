"""Prometheus metrics of the webhook server and the workers, on prometheus-client.

`ShipmateMetrics` declares every metric the webhook server and the workers report, so the
names live in one place, each process (and each server a test builds) in its own
`CollectorRegistry`:

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

Callers pass label values as keywords (`deliveries.inc(event=..., outcome=...)`); the queue
gauge is read from the queue at scrape time by a collector. `render()` is prometheus-client's
text exposition, served with `CONTENT_TYPE`. The `_created` samples are switched off for the
process so a scrape shows only what was counted. Values are observed by callers; nothing here reads the
clock or does I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

log = logging.getLogger("shipmate.metrics")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Process-wide in prometheus-client: no `<name>_created` sample (a wall-clock time) per series.
disable_created_metrics()  # type: ignore[no-untyped-call]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)


class LabelledCounter:
    """A prometheus-client counter whose label values are given as keywords."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self._registry = registry
        self._counter = Counter(name, help_text, labelnames, registry=registry)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._counter.labels(**labels).inc(amount)

    def value(self, **labels: str) -> float:
        """The count so far for these label values (0 before the first)."""
        return self._registry.get_sample_value(self.name, labels) or 0.0


class LabelledHistogram:
    """A prometheus-client histogram whose label values are given as keywords."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self.name = name
        self._registry = registry
        self._histogram = Histogram(name, help_text, labelnames, registry=registry, buckets=buckets)
        self._labelled = bool(labelnames)

    def observe(self, value: float, **labels: str) -> None:
        (self._histogram.labels(**labels) if self._labelled else self._histogram).observe(value)

    def count(self, **labels: str) -> int:
        """How many values were observed for these label values."""
        return int(self._registry.get_sample_value(f"{self.name}_count", labels) or 0)


class QueueCollector:
    """`shipmate_queue_jobs{state}`, read from the queue's job counts at every scrape.

    A queue that cannot be read (Redis down) leaves the gauge out of that scrape, logged,
    instead of failing the whole scrape; /readyz reports the queue itself."""

    NAME = "shipmate_queue_jobs"
    HELP = "Jobs in the queue by state."

    def __init__(self, stats: Callable[[], Mapping[str, int]]) -> None:
        self._stats = stats

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=("state",))

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._stats()
        except Exception as exc:
            log.warning("%s unavailable: %s: %s", self.NAME, type(exc).__name__, exc)
            return
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=("state",))
        for state, count in sorted(counts.items()):
            family.add_metric((state,), float(count))
        yield family


class ShipmateMetrics:
    """The metrics of the webhook server and the worker pool (one instance per process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.deliveries = LabelledCounter(
            r,
            "shipmate_webhook_deliveries_total",
            "Authenticated webhook deliveries by event and outcome (queued, duplicate, ignored).",
            ("event", "outcome"),
        )
        self.rejected = LabelledCounter(
            r, "shipmate_webhook_rejected_total", "Webhook requests refused, by reason.", ("reason",)
        )
        self.ack_seconds = LabelledHistogram(
            r, "shipmate_webhook_ack_seconds", "Time to verify, store and answer a delivery."
        )
        self.jobs_processed = LabelledCounter(
            r, "shipmate_jobs_processed_total", "Jobs whose handler returned.", ("event",)
        )
        self.jobs_failed = LabelledCounter(
            r,
            "shipmate_jobs_failed_total",
            "Jobs whose handler raised, by whether they will be retried.",
            ("event", "retry"),
        )
        self.dead_letters = LabelledCounter(
            r,
            "shipmate_jobs_dead_lettered_total",
            "Jobs dead-lettered (kept for `shipmate queue`), by reason: exhausted (temporary errors on every"
            " attempt), bug (an unexpected exception), stopped (every attempt's worker stopped mid-job).",
            ("event", "reason"),
        )
        self.job_seconds = LabelledHistogram(
            r, "shipmate_job_duration_seconds", "Time spent in the event handler.", ("event",)
        )
        self.latency_seconds = LabelledHistogram(
            r,
            "shipmate_delivery_latency_seconds",
            "Time from receiving a delivery to finishing its processing.",
            ("event",),
        )
        self.http_timeouts = LabelledCounter(
            r,
            "shipmate_http_timeouts_total",
            "Connections closed at the header timeout or cut at the request timeout.",
            ("phase",),
        )

    def watch_queue(self, stats: Callable[[], Mapping[str, int]]) -> None:
        """Report the queue's job counts by state at every scrape."""
        self.registry.register(QueueCollector(stats))

    def render(self) -> str:
        """The text exposition of every metric, ordered as declared."""
        return generate_latest(self.registry).decode()
