"""The bot's scheduled jobs (APScheduler 3.x `BackgroundScheduler`). Jobs only enqueue typed
events (`bot.core.events`) into the webhook queue; the workers run them through the router
like any delivery, so they get the queue's ordering (one key per repository), leases,
retries and dead letters. What the jobs remember lives in JSON files in the data dir
(`bot.adapters.localfs.datafiles`).

| job | every | what it enqueues |
|---|---|---|
| `poll` | `SHIPMATE_POLL_SECONDS` | for each repository in `SHIPMATE_POLL_REPOSITORIES` (those without a webhook), `bot.app.polling.poll_repository` against the heads seen last time (`poll-state.json`): push and pull-request events |
| `locks` | 5 minutes | a `SweepLocks` for every repository the bot has served (`bot.app.locks.sweep_locks`: expired locks, locks of closed pull requests) |
| `drift` | 1 minute | a `CheckDrift` for every repository the bot has served whose policy's `drift.schedule` has come due since the last look (`drift-state.json`; `bot.app.drift.check_drift`) |

Fire once across replicas: each event's delivery ID names what it is for (the repository and
the sweep's time slot, or the schedule's fire time), so replicas sharing a queue enqueue the
same IDs and the queue keeps one of each. Repositories the bot has served are recorded by the
router (`repositories.json`, with the GitHub App installation they came from), so sweeps and
drift checks cover webhook repositories too. Each job runs at most once at a time; a failing
repository is logged and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bot.adapters.localfs.datafiles import JsonFile
from bot.app.polling import poll_repository
from bot.app.services import Services
from bot.core import schedule
from bot.core.clock import parse_rfc3339, rfc3339
from bot.core.errors import ConfigError
from bot.core.events import CheckDrift, SweepLocks, delivery_of
from bot.core.ports import Clock, EventQueue, RepositoryBook

log = logging.getLogger("shipmate.scheduler")

LOCK_SWEEP_SECONDS = 300.0
DRIFT_TICK_SECONDS = 60.0


class Scheduler:
    """The jobs, on a `BackgroundScheduler`; `run_*` run one round now (tests, the demo)."""

    def __init__(
        self,
        services: Services,
        queue: EventQueue,
        data_dir: Path,
        book: RepositoryBook,
        *,
        notify: Callable[[], None] = lambda: None,
        poll_repositories: Sequence[str] = (),
        poll_seconds: float = 60.0,
        lock_sweep_seconds: float = LOCK_SWEEP_SECONDS,
        drift_tick_seconds: float = DRIFT_TICK_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.services = services
        self.queue = queue
        self.book = book
        self.notify = notify
        self.poll_repositories = tuple(poll_repositories)
        self.lock_sweep_seconds = lock_sweep_seconds
        self.clock: Clock = clock or services.clock
        self.seen = JsonFile(data_dir / "poll-state.json")
        self.drift_state = JsonFile(data_dir / "drift-state.json")
        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        if self.poll_repositories:
            self._scheduler.add_job(self.run_poll, "interval", seconds=poll_seconds, id="poll",
                                    next_run_time=datetime.now(UTC))
        self._scheduler.add_job(self.run_lock_sweep, "interval", seconds=lock_sweep_seconds, id="locks")
        self._scheduler.add_job(self.run_drift, "interval", seconds=drift_tick_seconds, id="drift")

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler started: %s", ", ".join(job.id for job in self._scheduler.get_jobs()))

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    # --- jobs -------------------------------------------------------------------------------

    def run_poll(self) -> int:
        """Poll each configured repository once; returns the number of deliveries queued."""
        queued = 0
        for repo in self.poll_repositories:
            try:
                queued += self._poll(repo)
            except Exception:
                log.exception("polling %s failed", repo)
        if queued:
            self.notify()
        return queued

    def _poll(self, repo: str) -> int:
        access = self.services.access(repo, None)
        seen = self.seen.read().get(repo, {})
        result = poll_repository(access.host, repo, seen if isinstance(seen, Mapping) else {}, self.clock.now())
        queued = sum(1 for delivery in result.deliveries if self.queue.put(delivery))

        def change(data: dict[str, Any]) -> None:
            data[repo] = result.seen

        self.seen.update(change)
        if result.deliveries:
            log.info("polled %s: %d change(s), %d queued", repo, len(result.deliveries), queued)
        return queued

    def run_lock_sweep(self) -> int:
        """Enqueue a lock sweep of every known repository; returns how many were queued (a
        sweep another replica queued for this time slot already is not queued again)."""
        now = self.clock.now()
        slot = int(now.timestamp() // self.lock_sweep_seconds)
        queued = 0
        for repo, installation in self._repositories().items():
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
        now = self.clock.now()
        queued = []
        for repo, installation in self._repositories().items():
            try:
                fired = self._drift_due(repo, installation, now)
                if fired is None:
                    continue
                due = rfc3339(fired)
                if self.queue.put(delivery_of(CheckDrift(f"drift:{repo}:{due}", repo, installation, due), now)):
                    queued.append(repo)
            except Exception:
                log.exception("queueing the drift check of %s failed", repo)
        if queued:
            self.notify()
        return queued

    def _drift_due(self, repo: str, installation: int | None, now: datetime) -> datetime | None:
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
        last_text = self.drift_state.read().get(repo)
        stamp = rfc3339(now)

        def mark(data: dict[str, Any]) -> None:
            data[repo] = stamp

        if not isinstance(last_text, str):
            self.drift_state.update(mark)  # first sight: the next fire time counts from now
            return None
        if not schedule.due(expression, parse_rfc3339(last_text), now):
            return None
        self.drift_state.update(mark)
        return schedule.latest_fire(expression, now)

    def _repositories(self) -> dict[str, int | None]:
        known = self.book.repositories()
        for repo in self.poll_repositories:
            known.setdefault(repo, None)
        return dict(sorted(known.items()))
