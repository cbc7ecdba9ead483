"""Locks per project+workspace: owner, lease and fencing token, as pure values and rules.

A `LockSlot` is what the backend stores for one project+workspace
(`locks/<project>/<workspace>.yaml`): the last fencing token handed out and the current
holder, if any. The slot survives release so tokens only ever grow for a key.

Rules:
- `acquire` fails with `LockHeld` while another owner holds an unexpired lease. The same
  owner may acquire again; it gets a new token, which fences out its own earlier run.
- Every write to a release passes the writer's `Lock` (or none): `check_writer` accepts it
  only if its token is the current holder's. An expired holder that nobody replaced may still
  write (no one else can have acted, since acting needs a newer token); once anyone else
  acquires, the stale token is refused. So two holders can never both act.
- A write without a lock is allowed only while nobody holds an unexpired lease.

Times come in from the caller's clock; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import parse_time, rfc3339, rfc3339_micro
from bot.core.errors import PolicyDenied, StateConflict
from bot.core.release import StateChecker
from bot.core.yamlio import dump_data, load_data


@dataclass(frozen=True, slots=True)
class Lock:
    """A held lease on one project+workspace."""

    project: str
    workspace: str
    owner: str
    token: int
    acquire_time: datetime
    expire_time: datetime
    pull_request: int | None = None
    run_id: str = ""

    @property
    def key(self) -> str:
        return f"{self.project}/{self.workspace}"

    def expired(self, now: datetime) -> bool:
        return now >= self.expire_time

    def describe(self) -> str:
        """`pr-12 (pull request #12, run 77)`: who holds it, for messages."""
        extra = []
        if self.pull_request is not None:
            extra.append(f"pull request #{self.pull_request}")
        if self.run_id:
            extra.append(f"run {self.run_id}")
        return self.owner + (f" ({', '.join(extra)})" if extra else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "token": self.token,
            "pullRequest": self.pull_request,
            "runId": self.run_id,
            "acquireTime": rfc3339_micro(self.acquire_time),
            "expireTime": rfc3339_micro(self.expire_time),
        }


class LockedOut(PolicyDenied):
    """A command that takes its locks first found one held by another owner (`holder`):
    nothing ran; an `/apply` may wait in line for it (`bot.core.lockqueue`)."""

    def __init__(self, message: str, holder: Lock) -> None:
        super().__init__(message)
        self.holder = holder


class LockHeld(StateConflict):
    """Someone else holds an unexpired lock on the project+workspace."""

    def __init__(self, holder: Lock, action: str) -> None:
        self.holder = holder
        super().__init__(
            f"{holder.key} is locked by {holder.describe()} until {rfc3339(holder.expire_time)} "
            f"(token {holder.token}); cannot {action}. Wait for it to finish or expire, or free "
            f"it with `shipmate release unlock --project {holder.project} "
            f"--workspace {holder.workspace}`"
        )


class StaleLock(StateConflict):
    """A writer's lock is no longer the current one: it was released or taken over."""

    def __init__(self, lock: Lock, current: Lock | None, action: str) -> None:
        self.lock = lock
        self.current = current
        now_held = (
            f"it is now held by {current.describe()} (token {current.token})"
            if current
            else "it has been released"
        )
        super().__init__(
            f"cannot {action}: the lock on {lock.key} with token {lock.token} "
            f"({lock.describe()}) is no longer valid; {now_held}"
        )


@dataclass(frozen=True, slots=True)
class LockSlot:
    """The stored lock record of one project+workspace."""

    project: str
    workspace: str
    last_token: int = 0
    holder: Lock | None = None

    def live_holder(self, now: datetime) -> Lock | None:
        if self.holder is not None and not self.holder.expired(now):
            return self.holder
        return None

    def acquire(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        pull_request: int | None = None,
        run_id: str = "",
    ) -> tuple[LockSlot, Lock]:
        if not owner:
            raise StateConflict("a lock needs an owner")
        if lease_seconds <= 0:
            raise StateConflict(f"a lock lease must be positive, got {lease_seconds}s")
        live = self.live_holder(now)
        if live is not None and live.owner != owner:
            raise LockHeld(live, "acquire the lock")
        token = self.last_token + 1
        lock = Lock(
            project=self.project,
            workspace=self.workspace,
            owner=owner,
            token=token,
            acquire_time=now,
            expire_time=now + timedelta(seconds=lease_seconds),
            pull_request=pull_request,
            run_id=run_id,
        )
        return replace(self, last_token=token, holder=lock), lock

    def renew(self, lock: Lock, now: datetime, lease_seconds: float) -> tuple[LockSlot, Lock]:
        if lease_seconds <= 0:
            raise StateConflict(f"a lock lease must be positive, got {lease_seconds}s")
        if self.holder is None or self.holder.token != lock.token:
            raise StaleLock(lock, self.holder, "renew the lock")
        renewed = replace(self.holder, expire_time=now + timedelta(seconds=lease_seconds))
        return replace(self, holder=renewed), renewed

    def release(self, lock: Lock) -> LockSlot | None:
        """The slot with `lock` freed, or None when `lock` is not the holder (nothing to do)."""
        if self.holder is None or self.holder.token != lock.token:
            return None
        return replace(self, holder=None)

    def freed(self) -> LockSlot:
        return replace(self, holder=None)

    def check_writer(self, lock: Lock | None, now: datetime, action: str) -> None:
        """Fencing: raise unless a writer holding `lock` (or no lock) may act now."""
        if lock is None:
            live = self.live_holder(now)
            if live is not None:
                raise LockHeld(live, action)
            return
        if (lock.project, lock.workspace) != (self.project, self.workspace):
            raise StateConflict(
                f"cannot {action} on {self.project}/{self.workspace} with the lock of {lock.key}"
            )
        if self.holder is None or self.holder.token != lock.token:
            raise StaleLock(lock, self.holder, action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "workspace": self.workspace,
            "lastToken": self.last_token,
            "holder": self.holder.to_dict() if self.holder else None,
        }

    def to_yaml(self) -> str:
        return dump_data(self.to_dict())

    @classmethod
    def from_yaml(cls, text: str, source: str = "") -> LockSlot:
        data = load_data(source, text, invalid="not valid YAML")
        check = StateChecker(source, text)

        if not isinstance(data, Mapping):
            raise check.error("", "expected a lock mapping")
        project, workspace = data.get("project"), data.get("workspace")
        if not isinstance(project, str) or not isinstance(workspace, str):
            raise check.error("project", "expected project and workspace names")
        last = check.integer(data, "lastToken", minimum=0)
        raw = data.get("holder")
        holder: Lock | None = None
        if raw is not None:
            if not isinstance(raw, Mapping):
                raise check.error("holder", "expected a mapping or null")
            try:
                holder = Lock(
                    project=project,
                    workspace=workspace,
                    owner=str(raw["owner"]),
                    token=int(raw["token"]),
                    acquire_time=parse_time(raw["acquireTime"]),
                    expire_time=parse_time(raw["expireTime"]),
                    pull_request=None if raw.get("pullRequest") is None else int(raw["pullRequest"]),
                    run_id=str(raw.get("runId") or ""),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise check.error("holder", f"malformed lock holder: {exc}") from None
            if holder.token > last:
                raise check.error(("holder", "token"), f"{holder.token} is above lastToken {last}")
        return cls(project=project, workspace=workspace, last_token=last, holder=holder)

