"""The DAG executor: walks a `Plan` in parallel with bounded concurrency.

Each node is handed to its runtime (`apply` for creates and updates, `delete` for deletes),
optionally followed by a readiness wait. Dependents of a failed node are skipped while other
branches go on. After every finished node the new State is handed to `on_state`, and so
after every resource a `batch` runtime says is done within its node (`runtimes.finished`), so
whoever records the release always has exactly what has been done (`bot.app.flushes`: when
it is written). A batch that fails
names each failed resource's reason and the resources it held back (`RuntimeFailed.messages`,
`.skipped`): those are skipped, not failed. Unchanged resources are
recorded as they are; those the prior state lacks are adopted (`plan.mark_adoptions`):
applied without a readiness wait, so that the runtime's record of them lands in the State.
Adoptions report progress events only when they fail or are skipped, and do not count as
succeeded operations (nothing changed). A cancel event (Ctrl-C,
SIGTERM) stops new work from starting; work in flight is allowed to finish and be recorded.
Each node runs in a copy of the caller's `contextvars` context, so what a runtime logs carries
the run's and the stack's log fields (`bot.logs`).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from bot.core import graph, plan
from bot.core.errors import RuntimeFailed, ShipmateError
from bot.core.runtimes import Capability, StackRuntimes, hearing_finishes, hearing_waits
from bot.core.spec import Resource, State


@dataclass(frozen=True, slots=True)
class Event:
    """Progress of one operation: started, waiting for readiness (each time the runtime says
    what the resource still lacks, `bot.core.runtimes.waiting_for`), succeeded, failed or
    skipped."""

    kind: str  # start | waiting (for readiness: what the runtime says it lacks) | done | failed | skipped
    id: str
    action: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    state: State
    succeeded: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.cancelled

    def summary(self) -> str:
        parts = [f"{len(self.succeeded)} succeeded"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.cancelled:
            parts.append("cancelled")
        return ", ".join(parts)


def _noop(_: object) -> None:
    return None


class Executor:
    """Runs plans against a stack's runtimes (by resource type): the resources of a `batch`
    runtime go to it together, and a `readiness` runtime is waited on after each apply."""

    def __init__(
        self,
        runtimes: StackRuntimes,
        *,
        concurrency: int = 10,
        watch: bool = True,
        timeout_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.runtimes = runtimes
        self.concurrency = concurrency
        self.watch = watch
        self.timeout_seconds = timeout_seconds
        self._clock = clock

    def run(
        self,
        operations: Sequence[plan.Operation],
        prior: State,
        *,
        on_state: Callable[[State], None] = _noop,
        on_event: Callable[[Event], None] = _noop,
        cancel: threading.Event | None = None,
        kind_order: Sequence[str] = (),
    ) -> Outcome:
        """Execute `operations` starting from `prior`; returns the outcome and final State.
        `kind_order` is the Spec's (`Spec.kind_order`): it orders Kubernetes operations."""
        cancel = cancel or threading.Event()
        deadline = None if self.timeout_seconds is None else self._clock() + self.timeout_seconds
        operations = plan.mark_adoptions(operations, prior.by_id())
        the_plan = plan.build_plan(
            operations, batch_runtimes=self.runtimes.having(Capability.BATCH), kind_order=kind_order
        )
        state: dict[str, Resource] = dict(prior.by_id())
        lock = threading.Lock()
        for op in operations:
            if op.action == plan.UNCHANGED and not op.adopt:
                state[op.id] = op.resource
        flushing = threading.Lock()  # one State handed to on_state at a time, in order
        succeeded: list[str] = []
        failed: dict[str, str] = {}
        skipped: dict[str, str] = {}
        blocked: set[str] = set()
        waiting = {key: set(deps) for key, deps in the_plan.depends_on.items()}
        dependents = graph.dependents_of(the_plan.depends_on)

        def snapshot() -> State:
            return State.of(state.values())

        def tell(kind: str, op: plan.Operation, message: str = "") -> None:
            if not op.adopt or kind in ("failed", "skipped"):
                on_event(Event(kind, op.id, op.action, message))

        if on_state is not _noop and state != dict(prior.by_id()):
            on_state(snapshot())

        def record(changes: Mapping[str, Resource | None]) -> None:
            with flushing:
                with lock:
                    for op_id, resource in changes.items():
                        if resource is None:
                            state.pop(op_id, None)
                        else:
                            state[op_id] = resource
                    current = snapshot() if on_state is not _noop else None
                if current is not None:
                    on_state(current)

        def one_done(op_id: str, resource: Resource | None) -> None:
            record({op_id: resource})  # one resource of a batch is done (runtimes.finished)

        def freed(key: str) -> list[str]:
            """The nodes `key` finishing makes ready. A barrier of the plan (a kind rank in
            linear form, `graph.ranked`) holds no operation: it passes the moment it is free."""
            out: list[str] = []
            done = [key]
            while done:
                parent = done.pop()
                for child in sorted(dependents[parent]):
                    waiting[child].discard(parent)
                    if not waiting[child] and child not in blocked:
                        (done if graph.is_barrier(child) else out).append(child)
            return out

        def skip_dependents(key: str, reason: str) -> None:
            stack = list(dependents[key])
            while stack:
                child = stack.pop()
                if child in blocked:
                    continue
                blocked.add(child)
                for op in the_plan.nodes[child].operations if child in the_plan.nodes else ():
                    skipped[op.id] = reason
                    tell("skipped", op, reason)
                stack.extend(dependents[child])

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="apply") as pool:
            running: dict[Future[Mapping[str, Resource | None]], str] = {}
            ready = sorted(k for k, deps in waiting.items() if not deps)
            while ready or running:
                while ready and not cancel.is_set() and len(running) < self.concurrency:
                    key = ready.pop(0)
                    node = the_plan.nodes[key]
                    results = self._results_for(node, state, lock)
                    for op in node.operations:
                        tell("start", op)
                    context = contextvars.copy_context()  # the run's log fields (bot.logs)
                    running[pool.submit(
                        context.run, self._run_node, node, results, prior, deadline, on_event, one_done
                    )] = key
                if cancel.is_set() and ready:
                    for key in ready:
                        blocked.add(key)
                        for op in the_plan.nodes[key].operations:
                            skipped[op.id] = "cancelled"
                            tell("skipped", op, "cancelled")
                        skip_dependents(key, "cancelled")
                    ready = []
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f]):
                    key = running.pop(future)
                    node = the_plan.nodes[key]
                    error = future.exception()
                    partial: Mapping[str, Resource | None] = {}
                    if error is None:
                        partial = future.result()
                    else:
                        partial = error.partial if isinstance(error, RuntimeFailed) else {}
                    record(partial)
                    if error is None:
                        for op in node.operations:
                            if not op.adopt:
                                succeeded.append(op.id)
                            tell("done", op)
                        ready.extend(freed(key))
                    else:
                        message = _message(error)
                        failed_ids = (
                            error.failed_ids if isinstance(error, RuntimeFailed) else frozenset()
                        )
                        messages = error.messages if isinstance(error, RuntimeFailed) else {}
                        held = error.skipped if isinstance(error, RuntimeFailed) else frozenset()
                        for op in node.operations:
                            if op.id in partial and op.id not in failed_ids:
                                if not op.adopt:
                                    succeeded.append(op.id)
                                tell("done", op)
                            elif op.id in held and op.id not in messages:
                                skipped[op.id] = "skipped: a dependency failed"
                                tell("skipped", op, skipped[op.id])
                            else:
                                failed[op.id] = messages.get(op.id, message)
                                tell("failed", op, failed[op.id])
                        skip_dependents(key, f"skipped: a dependency failed ({', '.join(node.ids)})")
                ready.sort()
        return Outcome(
            state=snapshot(),
            succeeded=tuple(sorted(succeeded)),
            failed=dict(sorted(failed.items())),
            skipped=dict(sorted(skipped.items())),
            cancelled=cancel.is_set(),
        )

    @staticmethod
    def _results_for(node: plan.Node, state: Mapping[str, Resource], lock: threading.Lock) -> Mapping[str, Resource]:
        """What the node's references may read: a copy of the finished results, taken only
        when one of its resources has a reference (most have none)."""
        if not any(next(graph.reference_strings(op.resource.attributes), None) for op in node.operations):
            return {}
        with lock:
            return dict(state)

    def _run_node(
        self,
        node: plan.Node,
        results: Mapping[str, Resource],
        prior: State,
        deadline: float | None,
        on_event: Callable[[Event], None] = _noop,
        finished: Callable[[str, Resource | None], None] = lambda _id, _r: None,
    ) -> Mapping[str, Resource | None]:
        runtime = self.runtimes.get(node.runtime)
        if runtime is None:
            raise RuntimeFailed(f"no runtime for resources of type {node.runtime!r}")
        if node.deleting:
            with hearing_finishes(finished):
                runtime.delete([op.resource for op in node.operations], prior)
            return {op.id: None for op in node.operations}
        inside = set(node.ids)
        known = {k: dict(v.attributes) for k, v in results.items() if k not in inside}
        resources = []
        for op in node.operations:
            attributes = graph.resolve(op.resource.attributes, known, inside=inside)
            resources.append(replace(op.resource, attributes=attributes))
        with hearing_finishes(finished):
            applied = dict(runtime.apply(resources, prior))
        if self.watch and self.runtimes.declares(node.runtime, Capability.READINESS):
            changed = [(op, r) for op, r in zip(node.operations, resources, strict=True) if not op.adopt]
            for op, resource in changed:
                remaining = 300.0 if deadline is None else max(0.0, deadline - self._clock())

                def tell(why: str, op: plan.Operation = op, rid: str = resource.id) -> None:
                    on_event(Event("waiting", rid, op.action, why))

                try:
                    with hearing_waits(tell):
                        runtime.wait_ready(resource, remaining)
                except ShipmateError as exc:
                    # The object exists but is not ready: record it, fail the operation.
                    raise _with_partial(exc, applied, failed={resource.id}) from exc
        return applied


def _with_partial(
    exc: ShipmateError, partial: Mapping[str, Resource | None], *, failed: set[str]
) -> ShipmateError:
    return RuntimeFailed(str(exc), partial=partial, failed_ids=failed)


def _message(error: BaseException) -> str:
    if isinstance(error, ShipmateError):
        return str(error)
    return f"{type(error).__name__}: {error}"
