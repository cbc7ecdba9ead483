"""The bot's scheduled jobs (APScheduler 3.x `BackgroundScheduler`). Jobs only enqueue typed
events (`bot.core.events`) into the webhook queue; the workers run them through the router
like any delivery, so they get the queue's ordering (one key per repository), leases,
retries and dead letters.

| job | every | what it enqueues |
|---|---|---|
| `poll` | `SHIPMATE_POLL_SECONDS` | for each repository in `SHIPMATE_POLL_REPOSITORIES` (those without a webhook), `bot.app.polling.poll_repository` against the heads seen last time (document `poll-state`): push and pull-request events |
| `locks` | 5 minutes | a `SweepLocks` for every repository the bot has served (`bot.app.locks.sweep_locks`: expired locks, locks of closed pull requests) |
| `drift` | 1 minute | a `CheckDrift` for every repository the bot has served whose policy's `drift.schedule` has come due since the last look (document `drift-state`; `bot.app.drift.check_drift`) |

Every replica runs the scheduler; each job runs once per period across them. A job's
period is its time slot (POSIX time // its interval); every replica checks each job a few
times a period (`check_seconds`) and runs it only if the `JobState` port grants it the
period's run (`begin`): not when the period already ran, nor while another replica's run of
the job holds a live lease. The run renews its lease after each repository and its writes
to the job's documents are fenced by its token, so a replica that dies mid-run is taken
over by another once its lease (`SHIPMATE_QUEUE_LEASE_SECONDS`) expired, and a run that
stalled past its lease cannot overwrite what the newer run remembered. With a Redis queue
the state is in Redis (`bot.adapters.queue.redis_jobs`), shared by the fleet; with SQLite, in
the data directory and this process (`bot.adapters.localfs.jobstate`). Deliveries keep IDs
that name what they are for (the repository and the sweep's slot, the schedule's fire time,
the poll's change), so even a run repeated after a takeover enqueues nothing twice.

The repositories the bot has served are recorded by the router (the `RepositoryBook`, in
Redis or `repositories.json`, with the GitHub App installation they came from), so sweeps
and drift checks cover webhook repositories too. A failing repository is logged and the
others go on. `run_*` run one round now, outside the schedule (tests, the demo).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from bot.adapters.localfs.jobstate import LocalJobState
from bot.app.polling import poll_repository
from bot.app.services import Services
from bot.core import schedule
from bot.core.clock import parse_rfc3339, rfc3339
from bot.core.errors import ConfigError
from bot.core.events import CheckDrift, SweepLocks, delivery_of
from bot.core.ports import Clock, EventQueue, JobRun, JobState, RepositoryBook

log = logging.getLogger("shipmate.scheduler")

LOCK_SWEEP_SECONDS = 300.0
DRIFT_TICK_SECONDS = 60.0
JOB_LEASE_SECONDS = 60.0
POLL_STATE = "poll-state"
DRIFT_STATE = "drift-state"


def check_seconds(period: float) -> float:
    """How often a replica asks whether a job's period is still to run: four times a period,
    at most every 15 seconds, at least every second (a dead holder's period is taken over
    within the same period when its lease is shorter than what is left of it)."""
    return max(1.0, min(period / 4, 15.0))


class Fenced(Exception):
    """A newer run of the job began (this one stalled past its lease): it stops."""


class Scheduler:
    """The jobs, on a `BackgroundScheduler`; `tick(job)` runs the job if its current period is
    still to run; `run_*` run one round now (tests, the demo). `memory` is the `JobState`
    shared with the other replicas, or a data directory for this process alone."""

    def __init__(
        self,
        services: Services,
        queue: EventQueue,
        memory: JobState | Path,
        book: RepositoryBook,
        *,
        notify: Callable[[], None] = lambda: None,
        poll_repositories: Sequence[str] = (),
        poll_seconds: float = 60.0,
        lock_sweep_seconds: float = LOCK_SWEEP_SECONDS,
        drift_tick_seconds: float = DRIFT_TICK_SECONDS,
        lease_seconds: float = JOB_LEASE_SECONDS,
        clock: Clock | None = None,
        holder: str | None = None,
    ) -> None:
        self.services = services
        self.queue = queue
        self.book = book
        self.notify = notify
        self.poll_repositories = tuple(poll_repositories)
        self.lock_sweep_seconds = lock_sweep_seconds
        self.lease_seconds = lease_seconds
        self.clock: Clock = clock or services.clock
        self.state: JobState = LocalJobState(memory, self.clock) if isinstance(memory, Path) else memory
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.periods = {"poll": poll_seconds, "locks": lock_sweep_seconds, "drift": drift_tick_seconds}
        self._rounds: dict[str, Callable[[JobRun], object]] = {
            "poll": self._poll_round, "locks": self._sweep_round, "drift": self._drift_round,
        }
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        for job, period in self.periods.items():
            if job == "poll" and not self.poll_repositories:
                continue
            first = {"next_run_time": datetime.now(UTC)} if job == "poll" else {}
            self._scheduler.add_job(self.tick, "interval", args=[job], seconds=check_seconds(period), id=job,
                                    **first)

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler started: %s (as %s)", ", ".join(job.id for job in self._scheduler.get_jobs()),
                 self.holder)

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    # --- runs -------------------------------------------------------------------------------

    def period(self, job: str) -> int:
        """The job's current time slot."""
        return int(self.clock.now().timestamp() // self.periods[job])

    def tick(self, job: str) -> bool:
        """Run `job` for its current period unless that period ran already or another run of
        the job holds a live lease (on this replica or another); True when it ran here."""
        try:
            run = self.state.begin(job, self.period(job), self.holder, self.lease_seconds)
        except Exception:
            log.exception("the scheduled %s could not be begun", job)
            return False
        if run is None:
            return False
        outcome = self._run(run)
        log.info("ran the scheduled %s for period %d (token %d): %s", job, run.period, run.token, outcome)
        return True

    def _run(self, run: JobRun) -> object:
        try:
            return self._rounds[run.job](run)
        except Fenced:
            log.warning("the %s run with token %d was taken over by a newer run; stopped", run.job, run.token)
            return "taken over"
        finally:
            try:
                self.state.finish(run)
            except Exception:
                log.exception("finishing the %s run with token %d failed", run.job, run.token)

    def _now_run(self, job: str) -> JobRun:
        return self._begun(self.state.begin(job, None, self.holder, self.lease_seconds))

    @staticmethod
    def _begun(run: JobRun | None) -> JobRun:
        assert run is not None, "a run outside the schedule is always granted"
        return run

    def _renew(self, run: JobRun) -> None:
        if not self.state.renew(run, self.lease_seconds):
            raise Fenced(run.job)

    def _write(self, run: JobRun, document: str, key: str, value: object) -> None:
        if not self.state.write(run, document, key, value):
            raise Fenced(run.job)

    # --- jobs -------------------------------------------------------------------------------

    def run_poll(self) -> int:
        """Poll each configured repository once; returns the number of deliveries queued."""
        queued = self._run(self._now_run("poll"))
        return queued if isinstance(queued, int) else 0

    def _poll_round(self, run: JobRun) -> int:
        queued = 0
        try:
            for repo in self.poll_repositories:
                self._renew(run)
                try:
                    queued += self._poll(run, repo)
                except Fenced:
                    raise
                except Exception:
                    log.exception("polling %s failed", repo)
        finally:
            if queued:
                self.notify()
        return queued

    def _poll(self, run: JobRun, repo: str) -> int:
        access = self.services.access(repo, None)
        seen = self.state.read(POLL_STATE).get(repo, {})
        result = poll_repository(access.host, repo, seen if isinstance(seen, Mapping) else {}, self.clock.now())
        queued = sum(1 for delivery in result.deliveries if self.queue.put(delivery))
        self._write(run, POLL_STATE, repo, result.seen)
        if result.deliveries:
            log.info("polled %s: %d change(s), %d queued", repo, len(result.deliveries), queued)
        return queued

    def run_lock_sweep(self) -> int:
        """Enqueue a lock sweep of every known repository; returns how many were queued (a
        sweep another replica queued for this time slot already is not queued again)."""
        queued = self._run(self._now_run("locks"))
        return queued if isinstance(queued, int) else 0

    def _sweep_round(self, run: JobRun) -> int:
        now = self.clock.now()
        slot = int(now.timestamp() // self.lock_sweep_seconds)
        queued = 0
        for repo, installation in self._repositories().items():
            self._renew(run)
            try:
                sweep = SweepLocks(f"locks:{repo}:{slot}", repo, installation)
                queued += self.queue.put(delivery_of(sweep, now))
            except Exception:
                log.exception("queueing the lock sweep of %s failed", repo)
        if queued:
            self.notify()
        return queued

    def run_drift(self) -> list[str]:
        """Enqueue a drift check where a schedule came due; returns the repositories queued."""
        queued = self._run(self._now_run("drift"))
        return queued if isinstance(queued, list) else []

    def _drift_round(self, run: JobRun) -> list[str]:
        now = self.clock.now()
        queued = []
        try:
            for repo, installation in self._repositories().items():
                self._renew(run)
                try:
                    fired = self._drift_due(run, repo, installation, now)
                    if fired is None:
                        continue
                    due = rfc3339(fired)
                    if self.queue.put(delivery_of(CheckDrift(f"drift:{repo}:{due}", repo, installation, due), now)):
                        queued.append(repo)
                except Fenced:
                    raise
                except Exception:
                    log.exception("queueing the drift check of %s failed", repo)
        finally:
            if queued:
                self.notify()
        return queued

    def _drift_due(self, run: JobRun, repo: str, installation: int | None, now: datetime) -> datetime | None:
        """The fire time of the repository's drift schedule that came due since the last
        look, or None."""
        access = self.services.access(repo, installation)
        try:
            settings = self.services.policy_tree(access, repo).settings()
        except ConfigError as exc:
            log.warning("%s: shipmate.yaml is invalid, no drift check: %s", repo, exc)
            return None
        expression = settings.drift.schedule
        if expression is None:
            return None
        last_text = self.state.read(DRIFT_STATE).get(repo)
        stamp = rfc3339(now)
        if not isinstance(last_text, str):
            self._write(run, DRIFT_STATE, repo, stamp)  # first sight: the next fire time counts from now
            return None
        if not schedule.due(expression, parse_rfc3339(last_text), now):
            return None
        self._write(run, DRIFT_STATE, repo, stamp)
        return schedule.latest_fire(expression, now)

    def _repositories(self) -> dict[str, int | None]:
        known = self.book.repositories()
        for repo in self.poll_repositories:
            known.setdefault(repo, None)
        return dict(sorted(known.items()))
