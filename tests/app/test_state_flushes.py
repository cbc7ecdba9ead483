"""How often an apply writes its state (`bot.app.flushes.FlushPolicy` in the `ReleaseRecorder`):
a few writes for a large fast apply, at most about a second behind while operations finish, at
once on a cancel and before a lease renewal, everything at the end; and what a crash loses
between two writes is adopted by the next apply.

Real parts: `StackOps` with the executor, the in-memory state backend (the state branch's
rules; each write one commit) and the `Memory` runtime. Time is a clock the runtime moves."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import pytest

from bot.adapters.memory.runtime import TYPE, MemoryRuntime, World
from bot.adapters.memory.state import MemoryStore
from bot.app.executor import Event
from bot.app.flushes import FlushPolicy
from bot.app.locking import LockSession
from bot.app.stacks import LoadedStack, RunOptions, StackIdentity, StackOps
from bot.core.config.settings import RepoSettings
from bot.core.errors import TransientError
from bot.core.outcome import StackOutcome
from bot.core.ports import JSON
from bot.core.release import Phase
from bot.core.runplan import Provenance
from bot.core.runtimes import Capability, StackRuntimes
from bot.core.spec import Resource, Spec, State
from bot.core.statebackend import StoreBackend
from bot.core.statelayout import Done, Snapshot, Write
from tests.conftest import ManualClock

T = TypeVar("T")
IDENTITY = StackIdentity("shop", "web", "dev")
LEDGER = "Ledger"


def stack(count: int) -> LoadedStack:
    """`count` Memory objects, each after the first depending on it."""
    first = Resource("memory:obj:000", TYPE, {"n": 0})
    rest = [Resource(f"memory:obj:{i:03d}", TYPE, {"n": i}, (first.id,)) for i in range(1, count)]
    return LoadedStack(IDENTITY, Spec((first, *rest)), RepoSettings())


class Ticking:
    """The Memory runtime over `world`, calling `after(n)` when its n-th apply is done."""

    def __init__(self, world: World, after: Callable[[int], None] = lambda n: None) -> None:
        self.inner = MemoryRuntime(world)
        self.after = after
        self.applied = 0

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        return self.inner.read(resources, prior)

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        return self.inner.dry_run(planned, prior)

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        done = self.inner.apply(planned, prior)
        self.applied += 1
        self.after(self.applied)
        return done

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        self.inner.delete(resources, prior)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Applied means ready."""


class Dying:
    """A memory state branch that a crash can cut off: once `dead`, nothing reaches it;
    `refusals` writes are refused before it takes them again (a remote briefly away)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.description = self.inner.description
        self.commits = self.inner.commits
        self.dead = False
        self.refusals = 0

    def snapshot(self) -> Snapshot:
        return self.inner.snapshot()

    def transact(self, fn: Callable[[Snapshot], Write[T] | Done[T]]) -> T:
        if self.dead or self.refusals:
            self.refusals = max(0, self.refusals - 1)
            raise TransientError("the machine went away")
        return self.inner.transact(fn)


def apply(
    store: MemoryStore | Dying, clock: ManualClock, runtime: Ticking, loaded: LoadedStack,
    policy: FlushPolicy = FlushPolicy(), concurrency: int = 10, cancel: threading.Event | None = None,
    lease: float = 900.0, on_event: Callable[[Event], None] | None = None,
    ledger: Ticking | None = None,
) -> tuple[StoreBackend, Callable[[], StackOutcome]]:
    """`loaded` applied through StackOps; `ledger`: the runtime of type `Ledger`, which keeps
    its record in the release only (it declares `recorded-state`, as Terraform does)."""
    backend = StoreBackend(store, clock)
    runtimes = StackRuntimes.of({TYPE: runtime, **({LEDGER: ledger} if ledger else {})},
                                {LEDGER: {Capability.RECORDED_STATE}})
    ops = StackOps(backend, lambda ident, ctx, store=None: runtimes, clock,
                   concurrency=concurrency, flushes=policy, session=LockSession(backend, "me", lease))
    return backend, lambda: ops.apply(loaded, Provenance(actor="me"), RunOptions(cancel=cancel, on_event=on_event))


def writes(store: MemoryStore | Dying) -> list[str]:
    """Each commit, shortened: `applying 36` (phase, resources in state), `lock renewed`."""
    out = []
    for commit in store.commits:
        release = re.match(r"release \S+ r\d+: (\w+) \(stack \w+, (\d+) resources", commit.message)
        lock = re.match(r"lock \S+: (\w+)", commit.message)
        out.append(f"{release[1]} {release[2]}" if release else f"lock {lock[1]}" if lock else commit.message)
    return out


def test_a_141_resource_apply_writes_its_state_three_times_between_start_and_finish() -> None:
    store, clock = MemoryStore(), ManualClock()
    world = World("many")
    backend, run = apply(store, clock, Ticking(world), stack(141))
    outcome = run()
    assert outcome.ok
    # A quarter of the 141 operations (36) makes a write due; the finish writes the rest.
    assert writes(store) == [
        "lock acquired", "previewing 0", "applying 0", "applying 36", "applying 72", "applying 108",
        "succeeded 141",
    ]
    latest = backend.latest("shop", "dev")
    assert latest is not None and len(latest.state.resources) == 141 == len(world.objects)
    assert backend.list_locks() == ()


def test_a_small_count_bound_writes_every_max_pending_operations() -> None:
    store, clock = MemoryStore(), ManualClock()
    _, run = apply(store, clock, Ticking(World("small")), stack(10), FlushPolicy(max_pending=4, pending_share=0))
    run()
    assert writes(store) == ["lock acquired", "previewing 0", "applying 0", "applying 4", "applying 8", "succeeded 10"]


def test_a_slow_apply_is_written_at_the_first_event_a_second_after_the_last_write() -> None:
    store, clock = MemoryStore(), ManualClock()
    runtime = Ticking(World("slow"), after=lambda n: clock.advance(0.6))  # each apply takes 0.6 s
    _, run = apply(store, clock, runtime, stack(5), concurrency=1)
    run()
    # 1.2 s after the last write at the second and the fourth operation; the fifth at the end.
    assert writes(store) == ["lock acquired", "previewing 0", "applying 0", "applying 2", "applying 4", "succeeded 5"]


def test_an_operation_of_a_recorded_state_runtime_is_written_as_soon_as_it_finishes() -> None:
    # Its record lives only in the release (Terraform's state): a crash would lose it, and
    # nothing live could be adopted in its place.
    store, clock, world = MemoryStore(), ManualClock(), World("ledger")
    entries = [Resource(f"ledger:entry:{i}", LEDGER, {"n": i}) for i in range(3)]
    loaded = stack(10)
    mixed = LoadedStack(IDENTITY, Spec((*entries, *loaded.spec.resources)), RepoSettings())
    _, run = apply(store, clock, Ticking(world), mixed, concurrency=1, ledger=Ticking(world))
    assert run().ok
    # The ledger entries run first (no dependencies, first by ID), each written at once; the
    # ten Memory objects together at the end.
    assert writes(store) == [
        "lock acquired", "previewing 0", "applying 0", "applying 1", "applying 2", "applying 3",
        "succeeded 13",
    ]


def test_a_cancel_writes_what_is_done_at_once() -> None:
    store, clock, cancel = MemoryStore(), ManualClock(), threading.Event()
    runtime = Ticking(World("cancel"), after=lambda n: cancel.set() if n == 3 else None)
    backend, run = apply(store, clock, runtime, stack(6), concurrency=1, cancel=cancel)
    outcome = run()
    assert outcome.phase == "failed"
    assert writes(store) == ["lock acquired", "previewing 0", "applying 0", "applying 3", "failed 3"]


def test_the_pending_state_is_written_before_the_lease_is_renewed() -> None:
    store, clock = MemoryStore(), ManualClock()
    runtime = Ticking(World("lease"), after=lambda n: clock.advance(40.0) if n == 2 else None)
    _, run = apply(store, clock, runtime, stack(4), concurrency=1, lease=60.0,
                   policy=FlushPolicy(max_interval_seconds=3600.0))
    run()
    # Once half the lease is gone the state goes first, under the lease it was taken with.
    assert writes(store) == [
        "lock acquired", "previewing 0", "applying 0", "applying 2", "lock renewed", "succeeded 4",
    ]


def test_an_error_ends_the_release_failed_with_the_newest_state_it_was_handed() -> None:
    store, clock = MemoryStore(), ManualClock()
    done: list[str] = []

    def progress(event: Event) -> None:
        done.extend([event.id] if event.kind == "done" else [])
        if len(done) == 5:
            raise RuntimeError("the terminal went away")

    backend, run = apply(store, clock, Ticking(World("broken")), stack(8), concurrency=1, on_event=progress)
    with pytest.raises(RuntimeError):
        run()
    assert writes(store) == ["lock acquired", "previewing 0", "applying 0", "failed 5"]
    latest = backend.latest("shop", "dev")
    assert latest is not None and sorted(r.id for r in latest.state.resources) == sorted(done)


def test_a_write_an_event_asked_for_that_fails_is_made_by_the_next_state_handed_over() -> None:
    store, clock = Dying(), ManualClock()
    done: list[str] = []

    def progress(event: Event) -> None:
        done.extend([event.id] if event.kind == "done" else [])
        if event.kind == "done" and len(done) == 2:
            clock.advance(1.5)  # the next event (the third start) finds the state due...
            store.refusals = 1  # ...and the branch away for that one write

    _, run = apply(store, clock, Ticking(World("flaky")), stack(4), concurrency=1, on_event=progress)
    assert run().ok
    assert writes(store) == ["lock acquired", "previewing 0", "applying 0", "applying 3", "succeeded 4"]


def test_what_a_crash_kept_from_the_branch_is_adopted_by_the_next_apply() -> None:
    store, clock = Dying(), ManualClock()
    world = World("crash")

    def crash(n: int) -> None:
        if n == 50:  # the machine goes away after 50 operations: the last write held 36
            store.dead = True

    backend, run = apply(store, clock, Ticking(world, after=crash), stack(141))
    with pytest.raises(TransientError):
        run()
    store.dead = False
    interrupted = backend.latest("shop", "dev")
    assert interrupted is not None and interrupted.phase is Phase.APPLYING
    assert len(interrupted.state.resources) == 36
    assert len(world.objects) >= 50  # applied, but the branch never heard of the rest

    unlocked = backend.force_unlock("shop", "dev", actor="ops")
    assert unlocked.release is not None and unlocked.release.state == interrupted.state
    # The next apply finds the unrecorded objects live and equal to the Spec: it adopts them
    # (applied again without a change, recorded) and creates only what was never applied.
    calls_before = len(world.calls)
    backend, run = apply(store, clock, Ticking(world), stack(141))
    outcome = run()
    assert outcome.ok and outcome.revision == 2
    latest = backend.latest("shop", "dev")
    assert latest is not None and latest.phase is Phase.SUCCEEDED
    assert sorted(r.id for r in latest.state.resources) == sorted(r.id for r in stack(141).spec.resources)
    applied_again = {rid for verb, ids in world.calls[calls_before:] if verb == "apply" for rid in ids}
    recorded_before = {r.id for r in interrupted.state.resources}
    assert applied_again == {r.id for r in stack(141).spec.resources} - recorded_before


@pytest.mark.parametrize(("policy", "message"), [
    (dict(max_interval_seconds=-1.0), "max_interval_seconds must not be negative"),
    (dict(max_pending=0), "max_pending must be at least 1"),
    (dict(pending_share=1.5), "pending_share must be between 0 and 1"),
])
def test_a_policy_refuses_bounds_that_mean_nothing(policy: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FlushPolicy(**policy)  # type: ignore[arg-type]


def test_due_by_count_share_or_time_and_never_with_nothing_pending() -> None:
    policy = FlushPolicy(max_interval_seconds=1.0, max_pending=25, pending_share=0.25)
    assert policy.batch(10) == 25 and policy.batch(141) == 36 and policy.batch(10_000) == 2_500
    assert not policy.due(24, 0.5, planned=10) and policy.due(25, 0.5, planned=10)
    assert not policy.due(35, 0.5, planned=141) and policy.due(36, 0.5, planned=141)
    assert policy.due(1, 1.0) and not policy.due(1, 0.99)
    assert not policy.due(0, 60.0)
