"""The `StateBackend` rules over any `Store` (`bot.core.statelayout`): revisions, phases,
locks and fencing, the same for the Git state branch, a directory and memory.

Every operation is one transaction: read what it needs from the newest snapshot, check the
rules (lock token, phase transition, "latest must be terminal"), and return the files to
write. When the store finds another writer got there first it re-runs the function on the
new snapshot, so a create re-reads the index and takes the next free revision, and every
check is made against what is actually there. Nothing is written when a check fails.

Reads cost the same however long the history is: the index is consulted by its header
(`peek_latest_revision`) and releases are read by path.

Nothing secret is written: every release passes through the backend's `Masker` (all the
secrets the process knows; see `bot.core.mask.mask_release`) before it is serialised, and
every commit message and drift report through it before it is committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from bot.core import mask
from bot.core import statelayout as layout
from bot.core.clock import rfc3339
from bot.core.errors import ConfigError, Problem, StateConflict
from bot.core.lock import Lock, LockSlot
from bot.core.lockqueue import LockQueue, Waiting, ordinal
from bot.core.ports import Clock, Unlocked
from bot.core.release import (
    Release,
    ReleaseMeta,
    append_index,
    check_can_start,
    check_transition,
    peek_latest_revision,
    peek_revisions,
    valid_name,
)
from bot.core.statelayout import Done, Snapshot, Store, Write
from bot.core.yamlio import dump_data, load_data

T = TypeVar("T")


class StoreBackend:
    """`bot.core.ports.StateBackend` on a `Store` (git state branch, directory, memory)."""

    def __init__(self, store: Store, clock: Clock, masker: mask.Masker | None = None) -> None:
        self.store = store
        self.clock = clock
        self.masker = masker if masker is not None else mask.Masker()
        self._mask_cache = mask.MaskCache()
        self._mutex = threading.RLock()

    @property
    def description(self) -> str:
        return self.store.description

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> StoreBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _masking(self, release: Release) -> Release:
        """`release` as it may be written (every field; lossless State entries: own credentials)."""
        lits = self.masker.literals
        return self._mask_cache.release(release, lits, self.masker.own, self.masker.lossless) if lits else release

    def _transact(self, fn: Callable[[Snapshot], Write[T] | Done[T]]) -> T:
        def masked(snap: Snapshot) -> Write[T] | Done[T]:
            out = fn(snap)
            if isinstance(out, Write):
                message = self.masker.text(out.message)
                if message != out.message:
                    return Write(out.changes, message, out.result, out.order)
            return out

        with self._mutex:
            return self.store.transact(masked)

    def _read(self, fn: Callable[[Snapshot], T]) -> T:
        with self._mutex:
            return fn(self.store.snapshot())

    # --- reading ------------------------------------------------------------------------

    def latest(self, project: str, workspace: str) -> Release | None:
        layout.check_key(project, workspace)
        return self._read(lambda snap: _latest(snap, project, workspace))

    def latest_many(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Release | None]:
        for project, workspace in keys:
            layout.check_key(project, workspace)
        return self._read(lambda snap: {(p, w): _latest(snap, p, w) for p, w in keys})

    def get(self, project: str, workspace: str, revision: int) -> Release | None:
        layout.check_key(project, workspace)
        return self._read(lambda snap: _release(snap, project, workspace, revision))

    def list(self, project: str, workspace: str) -> tuple[Release, ...]:
        layout.check_key(project, workspace)

        def read(snap: Snapshot) -> tuple[Release, ...]:
            meta = _index(snap, project, workspace)
            out = []
            for item in meta.release_meta_datas:
                release = _release(snap, project, workspace, item.revision)
                if release is None:
                    path = layout.release_path(project, workspace, item.revision)
                    raise ConfigError(
                        [Problem(snap.label(layout.index_path(project, workspace)), 0, 0,
                                 "releaseMetaDatas", f"lists revision {item.revision} but "
                                 f"{snap.label(path)} does not exist")]
                    )
                out.append(release)
            return tuple(out)

        return self._read(read)

    def index(self, project: str, workspace: str) -> ReleaseMeta:
        layout.check_key(project, workspace)
        return self._read(lambda snap: _index(snap, project, workspace))

    def view(self) -> SnapshotView:
        return self._read(SnapshotView)

    # --- writing releases ---------------------------------------------------------------

    def create(self, release: Release, lock: Lock | None = None) -> Release:
        p, w = release.project, release.workspace
        layout.check_key(p, w)
        layout.check_name("stack", release.stack)
        with self._mutex:
            release = self._masking(release)

        def fn(snap: Snapshot) -> Write[Release]:
            now = self.clock.now()
            _slot(snap, p, w).check_writer(lock, now, f"record a release of {p}/{w}")
            index_file = layout.index_path(p, w)
            index_text = _text(snap, index_file)
            latest_rev = peek_latest_revision(index_text, snap.label(index_file))
            latest = _release(snap, p, w, latest_rev) if latest_rev else None
            if latest_rev and latest is None:
                raise ConfigError(
                    [Problem(snap.label(index_file), 1, 1, "latestRevision",
                             f"is {latest_rev} but {snap.label(layout.release_path(p, w, latest_rev))} "
                             "does not exist")]
                )
            check_can_start(latest)
            revision = latest_rev + 1
            new = release.with_revision(revision)
            index = append_index(index_text, revision, release.stack, snap.label(index_file))
            release_file = layout.release_path(p, w, revision)
            return Write(
                changes={release_file: new.to_yaml().encode(), index_file: index.encode()},
                message=_message(new, provenance=True),
                result=new,
                order=(index_file,),
            )

        return self._transact(fn)

    def update(self, release: Release, lock: Lock | None = None) -> Release:
        return self._write_release(release, lock, free_lock=False)

    def finish(self, release: Release, lock: Lock | None) -> Release:
        if not release.phase.terminal:
            raise StateConflict(
                f"finish needs a succeeded or failed release, got {release.phase} "
                f"for {release.key} r{release.revision}"
            )
        return self._write_release(release, lock, free_lock=lock is not None)

    def _write_release(self, release: Release, lock: Lock | None, free_lock: bool) -> Release:
        p, w, rev = release.project, release.workspace, release.revision
        layout.check_key(p, w)
        with self._mutex:
            release = self._masking(release)

        def fn(snap: Snapshot) -> Write[Release]:
            now = self.clock.now()
            slot = _slot(snap, p, w)
            slot.check_writer(lock, now, f"update release {p}/{w} r{rev}")
            stored = _release(snap, p, w, rev)
            if stored is None:
                raise StateConflict(f"there is no release {p}/{w} r{rev} to update")
            check_transition(stored, release.phase)
            if (stored.stack, stored.create_time) != (release.stack, release.create_time):
                raise StateConflict(
                    f"release {p}/{w} r{rev} on the backend is a different release "
                    f"(stack {stored.stack}, created {rfc3339(stored.create_time)})"
                )
            changes: dict[str, bytes | None] = {
                layout.release_path(p, w, rev): release.to_yaml().encode()
            }
            note = ""
            if free_lock and lock is not None:
                freed = slot.release(lock)
                if freed is not None:
                    changes[layout.lock_path(p, w)] = freed.to_yaml().encode()
                    note = f"; lock released by {lock.owner}"
            return Write(changes=changes, message=_message(release, note=note), result=release)

        return self._transact(fn)

    # --- locks --------------------------------------------------------------------------

    def acquire_lock(
        self,
        project: str,
        workspace: str,
        owner: str,
        lease_seconds: float,
        pull_request: int | None = None,
        run_id: str = "",
    ) -> Lock:
        layout.check_key(project, workspace)

        def fn(snap: Snapshot) -> Write[Lock]:
            slot, lock = _slot(snap, project, workspace).acquire(
                owner, self.clock.now(), lease_seconds, pull_request, run_id
            )
            return Write(
                changes={layout.lock_path(project, workspace): slot.to_yaml().encode()},
                message=f"lock {project}/{workspace}: acquired by {lock.describe()} "
                f"(token {lock.token}, until {rfc3339(lock.expire_time)})",
                result=lock,
            )

        return self._transact(fn)

    def renew_lock(self, lock: Lock, lease_seconds: float) -> Lock:
        def fn(snap: Snapshot) -> Write[Lock]:
            slot, renewed = _slot(snap, lock.project, lock.workspace).renew(
                lock, self.clock.now(), lease_seconds
            )
            return Write(
                changes={layout.lock_path(lock.project, lock.workspace): slot.to_yaml().encode()},
                message=f"lock {lock.key}: renewed by {lock.owner} "
                f"(token {lock.token}, until {rfc3339(renewed.expire_time)})",
                result=renewed,
            )

        return self._transact(fn)

    def release_lock(self, lock: Lock) -> bool:
        def fn(snap: Snapshot) -> Write[bool] | Done[bool]:
            freed = _slot(snap, lock.project, lock.workspace).release(lock)
            if freed is None:
                return Done(False)
            return Write(
                changes={layout.lock_path(lock.project, lock.workspace): freed.to_yaml().encode()},
                message=f"lock {lock.key}: released by {lock.owner} (token {lock.token})",
                result=True,
            )

        return self._transact(fn)

    def force_unlock(self, project: str, workspace: str, actor: str = "") -> Unlocked:
        layout.check_key(project, workspace)

        def fn(snap: Snapshot) -> Write[Unlocked] | Done[Unlocked]:
            now = self.clock.now()
            changes: dict[str, bytes | None] = {}
            parts = []
            failed: Release | None = None
            latest = _latest(snap, project, workspace)
            if latest is not None and not latest.phase.terminal:
                failed = self._masking(latest.unlocked(now, actor))
                changes[layout.release_path(project, workspace, failed.revision)] = (
                    failed.to_yaml().encode()
                )
                parts.append(f"r{failed.revision} marked failed (was {latest.phase})")
            slot = _slot(snap, project, workspace)
            freed: Lock | None = slot.holder
            if freed is not None:
                changes[layout.lock_path(project, workspace)] = slot.freed().to_yaml().encode()
                parts.append(f"lock of {freed.describe()} (token {freed.token}) freed")
            result = Unlocked(release=failed, lock=freed)
            if not changes:
                return Done(result)
            who = f" by {actor}" if actor else ""
            return Write(
                changes=changes,
                message=f"unlock {project}/{workspace}{who}: " + ", ".join(parts),
                result=result,
            )

        return self._transact(fn)

    def list_locks(self) -> tuple[Lock, ...]:
        return self._read(lambda snap: tuple(s.holder for s in _slots(snap) if s.holder))

    def release_pull_request_locks(self, pull_request: int) -> tuple[Lock, ...]:
        return self._free_where(
            lambda lock: lock.pull_request == pull_request,
            f"pull request #{pull_request} closed or unlocked",
        )

    def sweep_expired_locks(self) -> tuple[Lock, ...]:
        now = self.clock.now()
        return self._free_where(lambda lock: lock.expired(now), "lease expired")

    def _free_where(self, match: Callable[[Lock], bool], why: str) -> tuple[Lock, ...]:
        def fn(snap: Snapshot) -> Write[tuple[Lock, ...]] | Done[tuple[Lock, ...]]:
            changes: dict[str, bytes | None] = {}
            freed: list[Lock] = []
            for slot in _slots(snap):
                if slot.holder is not None and match(slot.holder):
                    freed.append(slot.holder)
                    changes[layout.lock_path(slot.project, slot.workspace)] = (
                        slot.freed().to_yaml().encode()
                    )
            if not freed:
                return Done(())
            keys = ", ".join(f"{lock.key} ({lock.describe()})" for lock in freed)
            return Write(changes=changes, message=f"locks freed, {why}: {keys}", result=tuple(freed))

        return self._transact(fn)

    # --- drift --------------------------------------------------------------------------

    def write_drift(self, project: str, workspace: str, report: Mapping[str, Any]) -> None:
        layout.check_key(project, workspace)
        body = dump_data(mask.mask_data(dict(report), self.masker.literals)).encode()

        def fn(snap: Snapshot) -> Write[None]:
            return Write(
                changes={layout.drift_path(project, workspace): body},
                message=f"drift {project}/{workspace}: checked",
                result=None,
            )

        self._transact(fn)

    # --- the lock queue (bot.core.lockqueue) --------------------------------------------------

    def queue(self, project: str, workspace: str) -> LockQueue:
        """The live line for project+workspace's lock (expired entries left out)."""
        layout.check_key(project, workspace)
        return _queue(self.store.snapshot(), project, workspace).live(self.clock.now())

    def join_queue(self, project: str, workspace: str, entry: Waiting) -> int:
        """Put `entry` in the line (a pull request waiting already keeps its place); its
        1-based position."""
        layout.check_key(project, workspace)

        def fn(snap: Snapshot) -> Write[int] | Done[int]:
            line = _queue(snap, project, workspace).live(self.clock.now())
            joined = line.join(entry)
            position = joined.position(entry.pull_request)
            assert position is not None
            if joined == line:
                return Done(position)
            return Write(changes={layout.queue_path(project, workspace): joined.to_yaml().encode()},
                         message=f"queue {project}/{workspace}: #{entry.pull_request} waits "
                                 f"({ordinal(position)} in line)", result=position)

        return self._transact(fn)

    def leave_queues(self, pull_request: int, merges: bool = False) -> tuple[str, ...]:
        """Take `pull_request`'s `/apply` out of every line (with `merges`, its merge's entry
        too); the keys it left."""
        def fn(snap: Snapshot) -> Write[tuple[str, ...]] | Done[tuple[str, ...]]:
            changes: dict[str, bytes] = {}
            for line in _queues(snap):
                after = line.leave(pull_request, merges)
                if after != line:
                    changes[layout.queue_path(line.project, line.workspace)] = after.to_yaml().encode()
            left = tuple(sorted(path[len(layout.QUEUES) + 1:-len(".yaml")] for path in changes))
            if not changes:
                return Done(())
            return Write(changes=changes, message=f"queues: #{int(pull_request)} left {', '.join(left)}",
                         result=left)

        return self._transact(fn)

    def next_in_queue(self, project: str, workspace: str) -> Waiting | None:
        """When nobody holds project+workspace's lock, the first live entry of its line, taken
        out of it (the expired ones dropped); None when the lock is held or nobody waits."""
        layout.check_key(project, workspace)

        def fn(snap: Snapshot) -> Write[Waiting | None] | Done[Waiting | None]:
            now = self.clock.now()
            holder = _slot(snap, project, workspace).holder
            stored = _queue(snap, project, workspace)
            line = stored.live(now)
            if (holder is not None and not holder.expired(now)) or not line.waiting:
                return Done(None)
            first = line.waiting[0]
            rest = line.behind_first()
            return Write(changes={layout.queue_path(project, workspace): rest.to_yaml().encode()},
                         message=f"queue {project}/{workspace}: #{first.pull_request}'s turn", result=first)

        return self._transact(fn)

    def write_previews(self, pull_request: int, report: Mapping[str, Any]) -> None:
        body = dump_data(mask.mask_data(dict(report), self.masker.literals)).encode()

        def fn(snap: Snapshot) -> Write[None]:
            return Write(
                changes={layout.previews_path(pull_request): body},
                message=f"preview of pull request #{int(pull_request)}: recorded",
                result=None,
            )

        self._transact(fn)


class SnapshotView:
    """`bot.core.ports.StateView` over one `Snapshot`; `version` is the snapshot's own
    (`Snapshot.version` where the medium names one, see `bot.core.statelayout`)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        version = getattr(snap, "version", None)
        self.version: str | None = version if isinstance(version, str) else None

    def stacks(self) -> tuple[tuple[str, str], ...]:
        out = []
        for project in self.snap.list_dir(layout.RELEASES):
            for workspace in self.snap.list_dir(f"{layout.RELEASES}/{project}"):
                if valid_name(project) and valid_name(workspace):
                    out.append((project, workspace))
        return tuple(sorted(out))

    def stack_versions(self) -> Mapping[tuple[str, str], str] | None:
        if self.version is None:
            return None
        ids = getattr(self.snap, "ids", None)
        if not callable(ids):  # every stack changes with the whole
            return {pair: self.version for pair in self.stacks()}

        def files(top: str) -> dict[tuple[str, str], str]:
            out = {}
            for project in ids(top):
                for name, oid in ids(f"{top}/{project}").items():
                    out[(project, name.removesuffix(".yaml"))] = str(oid)
            return out

        releases, locks, drift = files(layout.RELEASES), files(layout.LOCKS), files(layout.DRIFT)
        return {
            pair: f"{releases[pair]}:{locks.get(pair, '')}:{drift.get(pair, '')}"
            for pair in sorted(releases) if valid_name(pair[0]) and valid_name(pair[1])
        }

    def revisions(self, project: str, workspace: str) -> tuple[int, ...]:
        layout.check_key(project, workspace)
        path = layout.index_path(project, workspace)
        return peek_revisions(_text(self.snap, path), self.snap.label(path))

    def release(self, project: str, workspace: str, revision: int) -> Release | None:
        layout.check_key(project, workspace)
        return _release(self.snap, project, workspace, revision)

    def lock(self, project: str, workspace: str) -> Lock | None:
        layout.check_key(project, workspace)
        return _slot(self.snap, project, workspace).holder

    def locks(self) -> tuple[Lock, ...]:
        return tuple(slot.holder for slot in _slots(self.snap) if slot.holder)

    def drift(self, project: str, workspace: str) -> Mapping[str, Any] | None:
        layout.check_key(project, workspace)
        return self._record(layout.drift_path(project, workspace), "a drift report")

    def previews(self, pull_request: int) -> Mapping[str, Any] | None:
        return self._record(layout.previews_path(pull_request), "a preview record")

    def _record(self, path: str, what: str) -> Mapping[str, Any] | None:
        text = _text(self.snap, path)
        if text is None:
            return None
        data = load_data(self.snap.label(path), text, invalid="not valid YAML")
        if not isinstance(data, Mapping):
            raise ConfigError([Problem(self.snap.label(path), 0, 0, "", f"expected {what} mapping")])
        return data


# --- reading helpers (pure over a snapshot) ---------------------------------------------------


def _text(snap: Snapshot, path: str) -> str | None:
    data = snap.read(path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem(snap.label(path), 0, 0, "", f"not UTF-8 text (byte {exc.start})")]
        ) from None


def _index(snap: Snapshot, project: str, workspace: str) -> ReleaseMeta:
    path = layout.index_path(project, workspace)
    text = _text(snap, path)
    return ReleaseMeta.from_yaml(text, snap.label(path)) if text else ReleaseMeta()


def _latest(snap: Snapshot, project: str, workspace: str) -> Release | None:
    path = layout.index_path(project, workspace)
    revision = peek_latest_revision(_text(snap, path), snap.label(path))
    if not revision:
        return None
    release = _release(snap, project, workspace, revision)
    if release is None:
        raise ConfigError(
            [Problem(snap.label(path), 1, 1, "latestRevision",
                     f"is {revision} but {snap.label(layout.release_path(project, workspace, revision))} "
                     "does not exist")]
        )
    return release


def _release(snap: Snapshot, project: str, workspace: str, revision: int) -> Release | None:
    path = layout.release_path(project, workspace, revision)
    text = _text(snap, path)
    if text is None:
        return None
    label = snap.label(path)
    release = Release.from_yaml(text, label)
    found = (release.project, release.workspace, release.revision)
    if found != (project, workspace, revision):
        raise ConfigError(
            [Problem(label, 0, 0, "revision",
                     f"holds {found[0]}/{found[1]} r{found[2]}, expected {project}/{workspace} r{revision}")]
        )
    return release


def _slot(snap: Snapshot, project: str, workspace: str) -> LockSlot:
    path = layout.lock_path(project, workspace)
    text = _text(snap, path)
    if text is None:
        return LockSlot(project=project, workspace=workspace)
    slot = LockSlot.from_yaml(text, snap.label(path))
    if (slot.project, slot.workspace) != (project, workspace):
        raise ConfigError(
            [Problem(snap.label(path), 0, 0, "project",
                     f"holds the lock of {slot.project}/{slot.workspace}, expected {project}/{workspace}")]
        )
    return slot


def _queue(snap: Snapshot, project: str, workspace: str) -> LockQueue:
    path = layout.queue_path(project, workspace)
    text = _text(snap, path)
    return LockQueue(project, workspace) if text is None else LockQueue.from_yaml(text, snap.label(path))


def _queues(snap: Snapshot) -> list[LockQueue]:
    out = []
    for project in snap.list_dir(layout.QUEUES):
        for name in snap.list_dir(f"{layout.QUEUES}/{project}"):
            if name.endswith(".yaml"):
                out.append(_queue(snap, project, name[: -len(".yaml")]))
    return out


def _slots(snap: Snapshot) -> list[LockSlot]:
    out = []
    for project in snap.list_dir(layout.LOCKS):
        for name in snap.list_dir(f"{layout.LOCKS}/{project}"):
            if name.endswith(".yaml"):
                out.append(_slot(snap, project, name[: -len(".yaml")]))
    return out


def _message(release: Release, provenance: bool = False, note: str = "") -> str:
    """`release acme/dev r12: applying (stack web, 5 resources in state)`."""
    extra = [f"stack {release.stack}", f"{len(release.state.resources)} resources in state"]
    if provenance:
        extra.append(f"trigger {release.trigger}")
        if release.actor:
            extra.append(f"by {release.actor}")
        if release.pull_request is not None:
            extra.append(f"PR #{release.pull_request}")
    head = f"release {release.key} r{release.revision}: {release.phase} ({', '.join(extra)}){note}"
    if release.error:
        head += f"\n\n{release.error}"
    return head
