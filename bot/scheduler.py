"""The bot's scheduled jobs (APScheduler 3.x `BackgroundScheduler`). Jobs only emit events or
call use cases of `bot.app`; everything they remember lives in JSON files in the data dir.

| job | every | what it does |
|---|---|---|
| `poll` | `SHIPMATE_POLL_SECONDS` | for each repository in `SHIPMATE_POLL_REPOSITORIES` (those without a webhook), `bot.app.polling.poll_repository` against the heads seen last time (`poll-state.json`); the synthetic deliveries go into the webhook queue |
| `locks` | 5 minutes | `bot.app.locks.sweep_locks` for every repository the bot has served: expired locks, locks of closed pull requests |
| `drift` | 1 minute | for every repository the bot has served whose default branch's `shipmate.yaml` has `drift.schedule`, run `bot.app.drift.check_drift` when the cron expression has come due since the last check (`drift-state.json`) |

Repositories the bot has served are remembered in `repositories.json` (with the GitHub App
installation they came from), so sweeps and drift checks cover webhook repositories too.
Each job runs at most once at a time; a failing repository is logged and the others go on.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.app.drift import check_drift
from bot.app.locks import sweep_locks
from bot.app.polling import poll_repository
from bot.app.services import Services
from bot.core.clock import parse_rfc3339, rfc3339
from bot.core.config.settings import RepoSettings
from bot.core.errors import ConfigError
from bot.core.ports import Clock, EventQueue

log = logging.getLogger("shipmate.scheduler")

LOCK_SWEEP_SECONDS = 300.0
DRIFT_TICK_SECONDS = 60.0
_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class JsonFile:
    """A small JSON document in the data dir, rewritten atomically, safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        with self._lock:
            return self._read()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s); starting afresh", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with self._lock:
            data = self._read()
            change(data)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
                out.write("\n")
            os.replace(tmp, self.path)
            return data


class RepositoryBook:
    """The repositories the bot has served, with their App installation (or null)."""

    def __init__(self, data_dir: Path) -> None:
        self.file = JsonFile(data_dir / "repositories.json")
        self._known: dict[str, int | None] = {
            str(k): (v if isinstance(v, int) else None) for k, v in self.file.read().items()
        }
        self._lock = threading.Lock()

    def remember(self, repo: str, installation_id: int | None) -> None:
        with self._lock:
            if repo in self._known and (installation_id is None or self._known[repo] == installation_id):
                return
            self._known[repo] = installation_id if installation_id is not None else self._known.get(repo)
            value = self._known[repo]

        def change(data: dict[str, Any]) -> None:
            data[repo] = value

        self.file.update(change)

    def repositories(self) -> dict[str, int | None]:
        with self._lock:
            return dict(sorted(self._known.items()))


def crontab(expression: str) -> CronTrigger:
    """A UTC trigger for a cron expression as `shipmate.yaml` writes it (Sunday = 0 or 7,
    macros such as `@daily`). APScheduler numbers weekdays from Monday, so numeric weekdays
    are turned into names first."""
    text = _MACROS.get(expression.strip(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 cron fields, got {expression!r}")
    minute, hour, day, month, weekday = fields

    def name(token: str) -> str:
        return _DAYS[int(token) % 7] if token.isdigit() else token

    parts = []
    for item in weekday.split(","):
        rng, slash, step = item.partition("/")
        bounds = "-".join(name(t) for t in rng.split("-"))
        parts.append(bounds + (slash + step if slash else ""))
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=",".join(parts), timezone=UTC)


def due(expression: str, last: datetime, now: datetime) -> bool:
    """Whether the schedule fires after `last` and at or before `now`."""
    trigger = crontab(expression)
    following = trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    return following is not None and following <= now


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
        """Sweep the locks of every known repository; returns how many were freed."""
        freed = 0
        for repo, installation in self._repositories().items():
            try:
                swept = sweep_locks(self.services, repo, installation)
                freed += len(swept.expired) + len(swept.closed)
            except Exception:
                log.exception("sweeping the locks of %s failed", repo)
        return freed

    def run_drift(self) -> list[str]:
        """Check drift where a schedule came due; returns the repositories checked."""
        now = self.clock.now()
        checked = []
        for repo, installation in self._repositories().items():
            try:
                if self._drift_due(repo, installation, now):
                    check_drift(self.services, repo, installation)
                    checked.append(repo)
            except Exception:
                log.exception("the drift check of %s failed", repo)
        return checked

    def _drift_due(self, repo: str, installation: int | None, now: datetime) -> bool:
        access = self.services.access(repo, installation)
        try:
            settings = self.services.policy_tree(access, repo).settings()
        except ConfigError as exc:
            log.warning("%s: shipmate.yaml is invalid, no drift check: %s", repo, exc)
            return False
        schedule = _schedule(settings)
        if schedule is None:
            return False
        last_text = self.drift_state.read().get(repo)
        stamp = rfc3339(now)

        def mark(data: dict[str, Any]) -> None:
            data[repo] = stamp

        if not isinstance(last_text, str):
            self.drift_state.update(mark)  # first sight: the next fire time counts from now
            return False
        if not due(schedule, parse_rfc3339(last_text), now):
            return False
        self.drift_state.update(mark)
        return True

    def _repositories(self) -> dict[str, int | None]:
        known = self.book.repositories()
        for repo in self.poll_repositories:
            known.setdefault(repo, None)
        return dict(sorted(known.items()))


def _schedule(settings: RepoSettings) -> str | None:
    return settings.drift.schedule
