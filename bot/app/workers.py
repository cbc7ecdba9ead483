"""The worker pool: N threads claim jobs from the `EventQueue` and call the event handler.

- A job is completed only after `handle(delivery)` returned, so a crash mid-handler leaves
  it leased and another worker (or the restarted process) runs it again once the lease
  expires: processing is at-least-once, and handlers make their effects idempotent by
  delivery ID (or by what the event names: a PR's head SHA, a comment ID).
- While a handler runs, a maintenance thread renews its lease every third of the lease, so
  long handlers (Terraform applies) keep their job; it also purges finished jobs past the
  retention.
- A handler that raises fails the job, by the error's retry axis (`bot.core.errors.retry_kind`):
  temporary errors (`TransientError`, `StateConflict`, connection resets, timeouts) are retried
  with exponential backoff, waiting at least the `Retry-After` the error carries, up to the
  queue's attempts, then dead-lettered; permanent ones (bad config, denied, plan errors) are
  finished at once; an unexpected exception is a bug: it gets one attempt, an incident id in
  the log next to its traceback, and the job is dead-lettered.
- Attempts are counted by the queue at claim time, so a worker that dies mid-job used one up;
  a claim handed out past the last attempt (`Job.exhausted`) does not run the handler again:
  it only reports the job dead and buries it.
- A handler that also implements `JobReporter` (or a `reporter` given) is told how every job
  ended, in the same context the handler ran in: `succeeded(delivery)` or `failed(failure)`
  for every failure that ends the job (not for one that will be retried). That is where the
  pull request gets its error comment and no commit status is left `pending`.
- `stop()` stops claiming, lets running handlers finish (up to a timeout) and joins.

Each job runs in a fresh `contextvars` context that carries its log fields (`bot.logs`:
delivery, event, repository, pull request) and its delivery's receive time (`bot.metrics`,
for the report latency); a job that succeeded is logged once, with its duration.
"""

from __future__ import annotations

import contextvars
import logging
import os
import platform
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, Protocol, runtime_checkable

from bot import logs
from bot.core.errors import RetryKind, retry_delay, retry_kind
from bot.core.events import Delivery
from bot.core.ports import Clock, EventQueue, Job
from bot.metrics import ShipmateMetrics, received

log = logging.getLogger("shipmate.workers")

Handler = Callable[[Delivery], None]


FailureKind = Literal["permanent", "exhausted", "bug", "stopped"]


@dataclass(frozen=True, slots=True)
class JobFailure:
    """How a job ended without success.

    kind: `permanent` (a config or usage error, reported at once), `exhausted` (temporary
    errors until the last attempt), `bug` (an unexpected exception; `incident` names its log
    entry) or `stopped` (every attempt's worker stopped mid-job: killed, crashed, out of
    memory). All but `permanent` leave the job dead-lettered (`shipmate queue`).
    """

    delivery: Delivery
    job_id: int
    kind: FailureKind
    error: str
    attempts: int
    incident: str = ""

    @property
    def dead_letter(self) -> bool:
        return self.kind != "permanent"


@runtime_checkable
class JobReporter(Protocol):
    """Told how each job ended (see the module docstring); must not raise (it is logged)."""

    def succeeded(self, delivery: Delivery) -> None: ...

    def failed(self, failure: JobFailure) -> None: ...


def is_temporary(error: BaseException) -> bool:
    """Whether a failed job should be tried again later."""
    return retry_kind(error) == "temporary"


def new_incident_id() -> str:
    """A short id that names one unexpected failure in the log and in the comment about it."""
    return uuid.uuid4().hex[:12]


def start_job(delivery: Delivery) -> None:
    """Give the current (fresh) context the job's log fields and its delivery's receive time."""
    parsed = delivery.parsed
    number = getattr(parsed, "number", None)
    if number is None and getattr(parsed, "is_pull_request", False):
        number = getattr(parsed, "issue_number", None)
    repo = getattr(parsed, "repo", None)
    logs.bind(delivery=delivery.id, event=delivery.event, repository=repo if isinstance(repo, str) else None,
              pull_request=number if isinstance(number, int) else None)
    received(delivery.received_at)


def log_success(delivery: Delivery, seconds: float, attempts: int) -> None:
    """The one line a job that succeeded logs."""
    log.info("delivery %s (%s) handled in %.0f ms", delivery.id, delivery.event, seconds * 1000,
             extra={"outcome": "succeeded", "duration_ms": round(seconds * 1000, 1), "attempts": attempts})


def run_once(
    handler: Handler,
    delivery: Delivery,
    *,
    attempts: int = 3,
    classify: Callable[[BaseException], RetryKind] = retry_kind,
    sleep: Callable[[float], None] = time.sleep,
) -> JobFailure | None:
    """Handle one delivery without a queue (the GitHub Action), by the same rules as the pool:
    temporary errors are tried again in process (backoff 1 s, 2 s, ..., at least the error's
    `Retry-After`, at most a minute) up to `attempts`, permanent ones end at once, a bug gets
    one attempt and an incident id in the log. The handler's `JobReporter` side is told how it
    ended, in the context the handler ran in, so no status stays `pending`. Returns the failure
    (job id 0: there is no dead letter to retry), or None when it succeeded."""
    reporter = handler if isinstance(handler, JobReporter) else None
    context = contextvars.Context()
    context.run(start_job, delivery)
    failure: JobFailure | None = None
    started = time.perf_counter()
    for attempt in range(1, max(1, attempts) + 1):
        try:
            context.run(handler, delivery)
            context.run(log_success, delivery, time.perf_counter() - started, attempt)
        except Exception as exc:
            kind = classify(exc)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            if kind == "temporary" and attempt < attempts:
                delay = min(60.0, max(float(2 ** (attempt - 1)), retry_delay(exc, 0.0)))
                log.warning("delivery %s (%s) failed, attempt %d/%d; again in %gs: %s", delivery.id, delivery.event,
                            attempt, attempts, delay, error)
                sleep(delay)
                continue
            if kind == "temporary":
                log.error("delivery %s (%s) failed on all %d attempts: %s", delivery.id, delivery.event, attempt, error)
                failure = JobFailure(delivery, 0, "exhausted", error, attempt)
            elif kind == "permanent":
                log.error("delivery %s (%s) failed for good: %s", delivery.id, delivery.event, error)
                failure = JobFailure(delivery, 0, "permanent", error, attempt)
            else:
                incident = new_incident_id()
                log.error("delivery %s (%s) hit a bug, incident %s: %s\n%s", delivery.id, delivery.event, incident,
                          error, "".join(traceback.format_exception(exc)).rstrip())
                failure = JobFailure(delivery, 0, "bug", error, attempt, incident)
        break
    if reporter is not None:
        try:
            if failure is None:
                context.run(reporter.succeeded, delivery)
            else:
                context.run(reporter.failed, failure)
        except Exception:
            log.exception("reporting the outcome of delivery %s failed", delivery.id)
    return failure


class WorkerPool:
    """Threads that process queued deliveries with `handler`."""

    def __init__(
        self,
        queue: EventQueue,
        handler: Handler,
        *,
        workers: int = 4,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.5,
        metrics: ShipmateMetrics | None = None,
        classify: Callable[[BaseException], RetryKind] = retry_kind,
        reporter: JobReporter | None = None,
        retention: timedelta = timedelta(days=7),
        purge_every_seconds: float = 3600.0,
        clock: Clock,
        identity: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.queue = queue
        self.handler = handler
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.metrics = metrics
        self.classify = classify
        self.reporter = reporter if reporter is not None else (handler if isinstance(handler, JobReporter) else None)
        self.retention = retention
        self.purge_every_seconds = purge_every_seconds
        self.clock = clock
        self.identity = identity or f"{platform.node()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._signals = 0  # queued deliveries not yet looked for by an idle worker
        self._maintenance_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._maintenance: threading.Thread | None = None
        self._next_purge = time.monotonic()
        self._in_flight: dict[str, Job] = {}
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("the worker pool is started already")
        for n in range(self.workers):
            worker_id = f"{self.identity}:w{n}"
            thread = threading.Thread(target=self._work, args=(worker_id,), name=f"shipmate-{worker_id}", daemon=True)
            self._threads.append(thread)
        self._maintenance = threading.Thread(target=self._maintain, name="shipmate-maintenance", daemon=True)
        for thread in (*self._threads, self._maintenance):
            thread.start()

    def notify(self) -> None:
        """Wake one idle worker (a delivery was just queued)."""
        with self._wake:
            self._signals += 1
            self._wake.notify()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop claiming, let running handlers finish; True when every thread ended in time."""
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._maintenance_stop.set()  # leases were renewed until the last handler returned
        if self._maintenance is not None:
            self._maintenance.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(t.is_alive() for t in self._all_threads())
        if not stopped:
            log.warning("stopped with handlers still running; their jobs run again after the lease")
        return stopped

    def alive(self) -> None:
        """Raise unless every worker thread is running (a readiness check)."""
        dead = [t.name for t in self._all_threads() if not t.is_alive()]
        if not self._threads or dead:
            raise RuntimeError(f"worker threads not running: {', '.join(dead) or 'not started'}")

    def _all_threads(self) -> list[threading.Thread]:
        return [*self._threads, *([self._maintenance] if self._maintenance else [])]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    # --- the loops -------------------------------------------------------------------------

    def _work(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            try:
                job = self.queue.claim(worker_id, self.lease_seconds)
            except Exception as exc:  # the queue is unreachable: back off, keep the thread
                log.error("claim failed: %s", exc)
                self._stopping.wait(min(5.0, self.poll_seconds * 4))
                continue
            if job is None:
                # Sleep until notified or the poll interval passes (jobs of other processes,
                # retries coming due); a notification that came since the claim is not lost.
                with self._wake:
                    if self._signals == 0 and not self._stopping.is_set():
                        self._wake.wait(self.poll_seconds)
                    self._signals = max(0, self._signals - 1)
                continue
            self.run(job)

    def run(self, job: Job) -> None:
        """Process one claimed job: call the handler, then complete or fail the job. Each job
        runs in a fresh, empty `contextvars` context shared by the handler and the reporter."""
        contextvars.Context().run(self._run, job)

    def _run(self, job: Job) -> None:
        delivery = job.delivery
        with self._lock:
            self._in_flight[job.worker_id] = job
        started = time.perf_counter()
        start_job(delivery)
        try:
            if job.exhausted:
                self._dead_on_arrival(job)
                return
            try:
                self.handler(delivery)
            except Exception as exc:
                self._failed(job, exc)
            else:
                log_success(delivery, time.perf_counter() - started, job.attempts)
                self._report(lambda r: r.succeeded(delivery))
                self._finish(job, lambda: self.queue.complete(job))
                if self.metrics:
                    self.metrics.jobs_processed.inc(event=delivery.event)
                    latency = (self.clock.now() - delivery.received_at).total_seconds()
                    self.metrics.latency_seconds.observe(max(0.0, latency), event=delivery.event)
            if self.metrics:
                self.metrics.job_seconds.observe(time.perf_counter() - started, event=delivery.event)
        finally:
            with self._lock:
                self._in_flight.pop(job.worker_id, None)

    def _failed(self, job: Job, exc: Exception) -> None:
        delivery = job.delivery
        kind = self.classify(exc)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        of = f"{job.attempts}/{job.max_attempts}" if job.max_attempts else str(job.attempts)
        if self.metrics:
            self.metrics.jobs_failed.inc(event=delivery.event, retry=str(kind == "temporary").lower())
        if kind == "temporary":
            last = 0 < job.max_attempts <= job.attempts
            if not last:
                delay = retry_delay(exc, 0.0)
                log.warning("delivery %s (%s) failed, attempt %s; retried%s: %s", delivery.id, delivery.event, of,
                            f" in at least {delay:g}s (Retry-After)" if delay else " after a backoff", error)
                self._finish(job, lambda: self.queue.fail(job, error, True, delay))
                return
            log.error("delivery %s (%s) failed, attempt %s, the last; dead-lettered: %s",
                      delivery.id, delivery.event, of, error)
            self._end(job, JobFailure(delivery, job.id, "exhausted", error, job.attempts),
                      lambda: self.queue.fail(job, error, True))
        elif kind == "permanent":
            log.error("delivery %s (%s) failed for good: %s", delivery.id, delivery.event, error)
            self._end(job, JobFailure(delivery, job.id, "permanent", error, job.attempts),
                      lambda: self.queue.fail(job, error, False))
        else:
            incident = new_incident_id()
            log.error("delivery %s (%s) hit a bug, incident %s; dead-lettered: %s\n%s", delivery.id, delivery.event,
                      incident, error, "".join(traceback.format_exception(exc)).rstrip())
            self._end(job, JobFailure(delivery, job.id, "bug", error, job.attempts, incident),
                      lambda: self.queue.bury(job, f"incident {incident}: {error}"[:2000]))

    def _dead_on_arrival(self, job: Job) -> None:
        """A claim past the last attempt: every earlier attempt's worker stopped mid-job."""
        delivery = job.delivery
        tried = job.attempts - 1
        error = (f"{tried} attempt{'s' if tried != 1 else ''} ended without an outcome: the worker stopped while "
                 "handling it (killed, crashed or out of memory)")
        log.error("delivery %s (%s) dead-lettered: %s", delivery.id, delivery.event, error)
        self._end(job, JobFailure(delivery, job.id, "stopped", error, tried), lambda: self.queue.bury(job, error))

    def _end(self, job: Job, failure: JobFailure, record: Callable[[], bool]) -> None:
        """Report a failure that ends the job, then record it (a report lost to a crash in
        between is made again by the next claim: at-least-once)."""
        self._report(lambda r: r.failed(failure))
        self._finish(job, record)
        if self.metrics and failure.dead_letter:
            self.metrics.dead_letters.inc(event=failure.delivery.event, reason=failure.kind)

    def _report(self, call: Callable[[JobReporter], None]) -> None:
        if self.reporter is None:
            return
        try:
            call(self.reporter)
        except Exception:
            log.exception("reporting the outcome of a job failed")

    def _finish(self, job: Job, action: Callable[[], bool]) -> None:
        for attempt in range(5):
            try:
                if not action():
                    log.warning("delivery %s: the claim was lost (lease expired); another worker ran it",
                                job.delivery.id)
                return
            except Exception as exc:  # the queue blinked: the job stays leased if this keeps failing
                log.error("delivery %s: could not record the outcome (try %d): %s", job.delivery.id, attempt + 1, exc)
                self._stopping.wait(0.2 * (attempt + 1))

    def _maintain(self) -> None:
        while not self._maintenance_stop.wait(max(0.05, self.lease_seconds / 3)):
            self.maintain_once()

    def maintain_once(self) -> None:
        """Renew the leases of running jobs; purge finished jobs when a purge is due."""
        with self._lock:
            jobs = list(self._in_flight.values())
        for job in jobs:
            try:
                if not self.queue.extend(job, self.lease_seconds):
                    log.warning("delivery %s: lease lost while running", job.delivery.id)
            except Exception as exc:
                log.error("delivery %s: lease renewal failed: %s", job.delivery.id, exc)
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + self.purge_every_seconds
            try:
                purged = self.queue.purge(self.clock.now() - self.retention)
                if purged:
                    log.info("purged %d finished jobs older than %s", purged, self.retention)
            except Exception as exc:
                log.error("purge failed: %s", exc)
