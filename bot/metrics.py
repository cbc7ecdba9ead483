"""Prometheus metrics of the webhook server, the workers and what they run, on prometheus-client.

`ShipmateMetrics` declares every metric family Shipmate exports, so the names live in one
place, each process (and each server a test builds) in its own `CollectorRegistry`:

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
    shipmate_stack_operations_total{operation,result}  one stack previewed, applied, destroyed, ...
    shipmate_stack_operation_seconds{operation}
    shipmate_resource_operations_total{action,runtime,result}   one resource created, updated, deleted
    shipmate_resource_operation_seconds{action,runtime}
    shipmate_report_latency_seconds{operation}         delivery received → its comment and status written
    shipmate_releases_total{trigger,phase}             releases recorded, by how they ended
    shipmate_lock_acquisitions_total{result}           acquired | held (by someone else)
    shipmate_lock_acquire_seconds                      time to take a lock (a state-branch write)
    shipmate_lock_hold_seconds                         taken → given back within one run
    shipmate_drift_found_total                         stacks a drift check found drifted
    shipmate_github_api_calls_total{call,outcome}      outcome: ok | client_error | server_error | rate_limited | unreachable
    shipmate_github_rate_limit_remaining               GitHub's X-RateLimit-* of the last answer
    shipmate_github_rate_limit
    shipmate_github_rate_limit_reset_timestamp_seconds
    shipmate_github_write_waits_total{result}          waited | deferred: a write found the write budget spent
    shipmate_github_write_wait_seconds_total           seconds writes waited for the budget
    shipmate_state_write_conflicts_total               state-branch compare-and-swap rounds lost
    process_*                                          the serving process (`watch_process`)

Labels stay bounded: events, outcomes, reasons, operations, actions and results are fixed
sets; `runtime` is a resource type, one per installed runtime plug-in; `trigger` and `phase`
are a release's enumerations; `call` names a `CodeHost` method. No metric is labelled by
repository, pull request, stack or resource: those are unbounded (every new pull request
would make new series) and are in the log lines instead (`bot.logs`).

Callers pass label values as keywords (`deliveries.inc(event=..., outcome=...)`); the queue
gauge is read from the queue at scrape time by a collector. `render()` is prometheus-client's
text exposition, served with `CONTENT_TYPE`. The `_created` samples are switched off for the
process so a scrape shows only what was counted. Values are observed by callers; nothing here
reads the clock or does I/O, except the process collector at scrape time.

`received(at)` records, for the job running in the current `contextvars` context, when its
delivery was received (the workers call it as a job starts); `since_received(now)` is how long
ago that was, for `shipmate_report_latency_seconds`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
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
# Stack and resource operations, reports and lock holds: a Terraform apply may take an hour.
LONG_BUCKETS: tuple[float, ...] = (
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
)

_received: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("shipmate_received", default=None)


def received(at: datetime) -> None:
    """The job of the current context handles a delivery received `at` (see the docstring)."""
    _received.set(at)


def since_received(now: datetime) -> float | None:
    """Seconds since the current job's delivery was received; None outside a job."""
    at = _received.get()
    return None if at is None else max(0.0, (now - at).total_seconds())


class LabelledCounter:
    """A prometheus-client counter whose label values are given as keywords."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self._registry = registry
        self._counter = Counter(name, help_text, labelnames, registry=registry)
        self._labelled = bool(labelnames)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        (self._counter.labels(**labels) if self._labelled else self._counter).inc(amount)

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


class RateLimitCollector:
    """`shipmate_github_rate_limit_remaining`, `shipmate_github_rate_limit` and
    `shipmate_github_rate_limit_reset_timestamp_seconds`: GitHub's `X-RateLimit-*` headers of
    the last answer, whichever credentials it was for. Absent until GitHub first answered, so a
    server that made no call yet does not look out of requests."""

    FAMILIES = (
        ("shipmate_github_rate_limit_remaining",
         "Requests left in GitHub's rate-limit window, from the last answer (X-RateLimit-Remaining)."),
        ("shipmate_github_rate_limit", "Requests allowed per rate-limit window (X-RateLimit-Limit)."),
        ("shipmate_github_rate_limit_reset_timestamp_seconds",
         "When GitHub's rate-limit window resets, in Unix seconds (X-RateLimit-Reset)."),
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None

    def observe(self, remaining: float, limit: float, reset: float) -> None:
        with self._lock:
            self._last = (remaining, limit, reset)

    @property
    def last(self) -> tuple[float, float, float] | None:
        """(remaining, limit, reset time) of the last answer, if any."""
        with self._lock:
            return self._last

    def describe(self) -> Iterator[Metric]:
        for name, help_text in self.FAMILIES:
            yield GaugeMetricFamily(name, help_text)

    def collect(self) -> Iterator[Metric]:
        last = self.last
        if last is None:
            return
        for (name, help_text), value in zip(self.FAMILIES, last, strict=True):
            yield GaugeMetricFamily(name, help_text, value=value)


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
        # --- what the jobs do -------------------------------------------------------------
        self.stack_operations = LabelledCounter(
            r,
            "shipmate_stack_operations_total",
            "Stacks run, by operation (preview, apply, destroy, rollback, drift) and result (succeeded,"
            " failed: it ran or was refused with an error; declined: not confirmed; error: an error the job"
            " is retried for).",
            ("operation", "result"),
        )
        self.stack_seconds = LabelledHistogram(
            r, "shipmate_stack_operation_seconds", "Time to run one stack, by operation.", ("operation",),
            buckets=LONG_BUCKETS,
        )
        self.resource_operations = LabelledCounter(
            r,
            "shipmate_resource_operations_total",
            "Resource operations an apply, destroy or rollback ran, by action (Create, Update, Delete,"
            " UnChanged for an adoption), runtime (the resource type) and result (succeeded, failed, skipped).",
            ("action", "runtime", "result"),
        )
        self.resource_seconds = LabelledHistogram(
            r, "shipmate_resource_operation_seconds", "Time of one resource operation, readiness wait included.",
            ("action", "runtime"), buckets=LONG_BUCKETS,
        )
        self.report_latency = LabelledHistogram(
            r,
            "shipmate_report_latency_seconds",
            "Time from receiving a delivery to writing its report (the pull request comment and status), by"
            " operation.",
            ("operation",), buckets=LONG_BUCKETS,
        )
        self.releases = LabelledCounter(
            r,
            "shipmate_releases_total",
            "Releases recorded on a state branch, by trigger and the phase they ended in (succeeded, failed).",
            ("trigger", "phase"),
        )
        self.lock_acquisitions = LabelledCounter(
            r,
            "shipmate_lock_acquisitions_total",
            "Project+workspace locks asked for, by result: acquired, or held (by another owner: refused).",
            ("result",),
        )
        self.lock_acquire_seconds = LabelledHistogram(
            r, "shipmate_lock_acquire_seconds", "Time to take (or be refused) a lock: a state-branch write."
        )
        self.lock_hold_seconds = LabelledHistogram(
            r,
            "shipmate_lock_hold_seconds",
            "Time a lock was held by the run that took it, until that run gave it back (locks a pull request"
            " keeps after its run are not counted).",
            buckets=LONG_BUCKETS,
        )
        self.drift_found = LabelledCounter(
            r, "shipmate_drift_found_total", "Stacks whose drift check found live objects differing from the release.", ()
        )
        # --- the adapters ----------------------------------------------------------------
        self.github_calls = LabelledCounter(
            r,
            "shipmate_github_api_calls_total",
            "GitHub API calls, by code host call and outcome (ok, client_error, server_error, rate_limited,"
            " unreachable).",
            ("call", "outcome"),
        )
        self.github_write_waits = LabelledCounter(
            r,
            "shipmate_github_write_waits_total",
            "Content-creating GitHub calls that found Shipmate's write budget spent: waited for a slot, or deferred"
            " (the job went back to the queue).",
            ("result",),
        )
        self.github_write_wait_seconds = LabelledCounter(
            r, "shipmate_github_write_wait_seconds_total", "Seconds content-creating GitHub calls waited for the write"
            " budget.", (),
        )
        self.github_rate = RateLimitCollector()
        r.register(self.github_rate)
        self.state_conflicts = LabelledCounter(
            r,
            "shipmate_state_write_conflicts_total",
            "State-branch writes that lost a compare-and-swap race (someone moved the branch) and were tried again.",
            (),
        )

    def watch_process(self) -> None:
        """Export the serving process's CPU, memory, open files and start time (`process_*`)."""
        ProcessCollector(registry=self.registry)

    def watch_queue(self, stats: Callable[[], Mapping[str, int]]) -> None:
        """Report the queue's job counts by state at every scrape."""
        self.registry.register(QueueCollector(stats))

    def render(self) -> str:
        """The text exposition of every metric, ordered as declared."""
        return generate_latest(self.registry).decode()
