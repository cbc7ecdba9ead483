"""The one way stacks are run: `StackRunner` carries out a `RunPlan` for every entry point.

    plan = builder.apply_command(...)                # what, for whom, under which locks
    StackRunner(ops, tree, trusted, reporter).run(plan)   # runs it and tells the reporter

A preview (and a drift check) loads and previews each stack. An apply, destroy or rollback
runs under ONE `LockSession` for the plan's owner: a merge first takes over the locks its
pull request kept, a command takes every lock before the first stack runs (all or nothing),
and each stack then goes load → preview → confirm → release → execute → flush →
finish/abort (`bot.app.stacks`) on the lock the session holds. At the end the session keeps
the locks (a pull request's `/apply`) or gives every one back.

The reporter hears `started` once the run can go ahead (after its locks, so a refused
command leaves no `pending` status) and `finished` with the `RunResult`.

The stacks of a plan run `ops.parallel` at a time (`bot.app.fanout`: stacks sharing a
project+workspace one after the other) and the outcomes come back in the plan's order.
When a stack.yaml names `dependsOn`, they run in waves (`bot.app.stackorder`): a stack after
those it depends on (a destroy: before), an apply skipping the dependents of a failed stack.
An apply of more stacks than `shipmate.yaml`'s `rollout.batchSize` goes batch by batch in that
order (`bot.core.rollout`), pausing `rollout.pause` between batches, telling the reporter as
each batch starts and ends, and with `stopOnFailure` starting no batch after a failed one.

Errors: with `contain` (the bot, the Action) a permanent failure of one stack becomes that
stack's failed `StackOutcome` and the others still run; a temporary one (the state branch or
the code host unavailable, `bot.core.errors.retry_kind`) is raised after every started stack
has finished, so the queue tries the job again rather than a stack being shown as failed for
good. The CLI runs without `contain`: its one stack's error is the command's.

Telemetry: with `ops.metrics`, each stack is counted and timed by operation and result
(`shipmate_stack_operations_total`, `_seconds`), a drift check's drifted stacks are counted,
and once the reporter has written the report the time since the job's delivery was received
is observed (`shipmate_report_latency_seconds`). Log lines carry the run's repository, pull
request and operation, and each stack's name and workspace while it runs (`bot.logs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot import logs
from bot.app import stackorder
from bot.app.configrepo import discover_stacks
from bot.app.fanout import fan_out
from bot.app.locking import LockSession
from bot.app.policycheck import PolicyCheck
from bot.app.services import Tree, secrets_of
from bot.app.stacks import LoadedStack, RunOptions, StackIdentity, StackOps
from bot.core import fingerprint, mask, rollout, stackoutputs
from bot.core.affected import StackRef
from bot.core.config.settings import RepoSettings
from bot.core.errors import ShipmateError, TransientError, retry_kind
from bot.core.lock import Lock, LockHeld
from bot.core.outcome import RunResult, StackOutcome, repository_failure
from bot.core.policy_code import PolicyResult
from bot.core.ports import StateBackend
from bot.core.preview.model import ChangeSet
from bot.core.release import Phase, Release
from bot.core.render import refusals
from bot.core.reporter import Reporter
from bot.core.runplan import Operation, RunPlan
from bot.core.stackgraph import StackGraph
from bot.metrics import since_received

log = logging.getLogger("shipmate.bot")

# One stack's work: its outcome and the secret literals its config holds.
Done = tuple[StackOutcome, frozenset[str]]


@dataclass(frozen=True)
class StackRunner:
    """Runs plans with the stack use cases `ops`, reading stacks from `tree` (None: a plan
    that needs no config, a rollback), under the trusted `shipmate.yaml` settings."""

    ops: StackOps
    tree: Tree | None
    trusted: RepoSettings
    reporter: Reporter = field(default_factory=Reporter)
    contain: bool = True
    loaded: tuple[LoadedStack, ...] = ()  # stacks the caller loaded already (the CLI, to name its stack)
    # An apply pinned to what was previewed: each stack's approved fingerprint by (project,
    # workspace, stack); a stack whose fingerprint is now another (or missing) is not applied.
    pinned: Mapping[tuple[str, str, str], fingerprint.Fingerprint] | None = None
    # The apply of a merge: the merged pull request's head. Its commit is not compared (the
    # merge commit is another), and a stack whose latest release succeeded from that head
    # (its `/apply`) is applied without the check.
    merged_head: str = ""
    # A merge's apply that waited in the lock queue (bot.app.queued_merges): only what the
    # preview would change is compared (`Fingerprint.pending`), not the commit, the Spec or the
    # live state of what it does not touch, which the holder's apply moved meanwhile.
    pin_pending: bool = False
    # The repository's Rego policies: a preview shows what they say of each stack, and an
    # apply is declined, before anything changes, for a stack they fail (bot.app.policycheck).
    policies: PolicyCheck | None = None
    # What the run reads of its tree once for all its stacks: the stack graph, the stacks.
    _tree_reads: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def run(self, plan: RunPlan, options: RunOptions = RunOptions()) -> RunResult:
        """Carry out `plan` and report it; PolicyDenied when its locks are held by someone else."""
        with logs.bound(repository=plan.request.repo, pull_request=plan.request.number,
                        operation=str(plan.operation)):
            if not plan.operation.changes:
                if plan.refusal is None:
                    self.reporter.started(plan)
                result = self._preview(plan)
            else:
                result = self._change(plan, options)
            self.reporter.finished(plan, result)
            metrics = self.ops.metrics
            latency = since_received(self.ops.clock.now())
            if metrics is not None and latency is not None:
                metrics.report_latency.observe(latency, operation=str(plan.operation))
            return result

    # --- previews and drift checks: no locks --------------------------------------------------

    def _preview(self, plan: RunPlan) -> RunResult:
        if plan.refusal is not None:
            return RunResult((repository_failure(plan.refusal),))

        releases = _SharedRead(self.ops.backend, plan.keys)
        pinning = plan.operation is Operation.PREVIEW and plan.request.number is not None

        def one(ref: StackRef) -> Done:
            got = self._load(ref, plan)
            if isinstance(got, StackOutcome):
                return got, frozenset()
            loaded, secrets = got
            try:
                outcome = StackOutcome.previewed(self.ops.preview(loaded, releases.latest))
                if self.policies is not None and outcome.changeset is not None:
                    outcome = replace(outcome, policy=self.policies.evaluate(loaded, outcome.changeset))
                if pinning and outcome.changeset is not None:
                    outcome = replace(outcome, fingerprint=self._fingerprint(plan.provenance.commit, loaded,
                                                                             outcome.changeset))
                return _warned(outcome, loaded), secrets
            except TransientError:
                raise  # the state branch or a runtime may answer later: the job is tried again
            except Exception as exc:
                if not self.contain:
                    raise
                return self._failed(ref, "preview", exc), secrets

        done = self._each(plan, one)
        locked: tuple[Lock, ...] = ()
        if plan.operation is Operation.PREVIEW and plan.request.number is not None and plan.stacks:
            keys = {f"{p}/{w}" for p, w in plan.keys}
            now = self.ops.clock.now()
            locked = tuple(lock for lock in self.ops.backend.list_locks()
                           if lock.key in keys and lock.owner != plan.owner and not lock.expired(now))
        return _gathered(done, locked=locked)

    # --- apply, destroy, rollback: under the plan's locks ------------------------------------

    def _change(self, plan: RunPlan, options: RunOptions) -> RunResult:
        session = LockSession(self.ops.backend, plan.owner, plan.lease_seconds,
                              pull_request=plan.provenance.pull_request, run_id=plan.run_id, metrics=self.ops.metrics)
        adopted = session.take_over(plan.keys) if plan.take_over else ()
        if plan.locks_first:
            session.acquire_all(plan.keys)  # PolicyDenied names a holder; nothing ran
        ops = replace(self.ops, session=session)
        options = replace(options, keep_lock=plan.keep_locks)
        if plan.refusal is None:
            self.reporter.started(plan)
        try:
            if plan.refusal is not None:  # nothing runs; a merged pull request's locks still go
                done: list[Done] = [(repository_failure(plan.refusal), frozenset())]
            else:
                done = self._each(plan, lambda ref: self._change_one(ops, plan, ref, options))
        except BaseException:
            if not plan.keep_locks:
                session.abandon()
            raise
        closed = session.close(keep=plan.keep_locks)
        return _gathered(done, freed=(*adopted, *closed) if plan.take_over else ())

    def _change_one(self, ops: StackOps, plan: RunPlan, ref: StackRef, options: RunOptions) -> Done:
        identity = StackIdentity(ref.project, ref.name, ref.workspace, ref.path)
        secrets: frozenset[str] = frozenset()
        try:
            if plan.operation is Operation.APPLY:
                got = self._load(ref, plan)
                if isinstance(got, StackOutcome):
                    return got, secrets
                loaded, secrets = got
                options, held = self._policy_gate(loaded, options, overridden=plan.provenance.policy_override is not None)
                if self.pinned is not None:
                    outcome = self._pinned_apply(ops, plan, ref, loaded, options)
                else:
                    outcome = ops.apply(loaded, plan.provenance, options)
                if held and not outcome.ran:
                    outcome = replace(outcome, policy=held[0], error=refusals.policy_held(
                        [f"{f.package}: {f.message}" for f in held[0].failures], held[0].error))
                return _warned(outcome, loaded), secrets
            if plan.operation is Operation.DESTROY:
                store = self._secret_store(ref)
                return ops.destroy(identity, plan.provenance, options, settings=self.trusted,
                                   secret_store=store), secrets
            assert plan.revision is not None  # a rollback plan names its revision
            return ops.rollback(ref.project, ref.workspace, plan.revision, plan.provenance, options,
                                settings=self.trusted), secrets
        except Exception as exc:
            if not self.contain or (retry_kind(exc) == "temporary" and not isinstance(exc, LockHeld)):
                # The state branch or the code host is unavailable for now: the stack's release
                # (if any) was ended and its lock kept as it was; the job is tried again.
                raise
            return self._failed(ref, str(plan.operation), exc), secrets

    def _pinned_apply(self, ops: StackOps, plan: RunPlan, ref: StackRef, loaded: LoadedStack,
                      options: RunOptions) -> StackOutcome:
        """Apply `loaded` only if its preview now has the fingerprint its approvers saw: the
        check runs on the change set the apply computed, before anything changes; otherwise
        the stack is declined with why and the new difference and fingerprint."""
        assert self.pinned is not None
        if self.merged_head:
            latest = ops.backend.latest(ref.project, ref.workspace)
            if latest is not None and latest.commit == self.merged_head and latest.phase is Phase.SUCCEEDED:
                return ops.apply(loaded, plan.provenance, options)
        approved = self.pinned.get((ref.project, ref.workspace, ref.name))
        seen: list[fingerprint.Fingerprint] = []
        moved: list[str] = []
        asked = options.confirm

        def confirm(changeset: ChangeSet) -> bool:
            now = self._fingerprint(plan.provenance.commit, loaded, changeset)
            parts = approved.changed(now) if approved is not None else ()
            if self.merged_head:
                parts = tuple(part for part in parts if part != "commit")
            if self.pin_pending and approved is not None:  # nothing left to change: it went live already
                same = bool(approved.pending) and approved.pending == now.pending
                parts = () if same or not changeset.has_changes else ("changes",)
            if approved is None or parts:
                seen.append(now)
                moved.extend(parts)
                return False
            return asked(changeset) if asked is not None else True

        outcome = ops.apply(loaded, plan.provenance, replace(options, confirm=confirm))
        if not seen:
            return outcome
        return replace(outcome, error=refusals.preview_moved(moved, merged=bool(self.merged_head)),
                       fingerprint=seen[0])

    def _policy_gate(self, loaded: LoadedStack, options: RunOptions,
                     overridden: bool = False) -> tuple[RunOptions, list[PolicyResult]]:
        """`options` whose confirmation first asks the policies about the change set the apply
        computed, and the list that holds their result when they hold the stack back
        (`overridden`: `/apply --override-policy`, recorded in the release, applies anyway)."""
        held: list[PolicyResult] = []
        if self.policies is None or overridden:
            return options, held
        policies, asked = self.policies, options.confirm

        def confirm(changeset: ChangeSet) -> bool:
            result = policies.evaluate(loaded, changeset)
            if result.blocks:
                held.append(result)
                return False
            return asked(changeset) if asked is not None else True

        return replace(options, confirm=confirm), held

    def _fingerprint(self, commit: str, loaded: LoadedStack, changeset: ChangeSet) -> fingerprint.Fingerprint:
        """The fingerprint of a preview of `loaded` at `commit`: its Spec masked as stored."""
        literals = self.ops.masker.own | mask.Literals.of(loaded.secrets)
        written = loaded.written or loaded.spec  # other stacks' outputs pinned as written
        refs = stackoutputs.references(written) if loaded.written is not None else None
        return fingerprint.of(commit, mask.mask_spec(written, literals), changeset, refs)

    # --- shared ---------------------------------------------------------------------------------

    def _secret_store(self, ref: StackRef) -> Mapping[str, Any] | None:
        """The workspace secret store of a stack being destroyed, from its config when it
        still loads (a runtime resolves its credentials through it); None otherwise."""
        if self.tree is None:
            return None
        try:
            got = self._load(ref)
        except ShipmateError:  # the stack's config is gone or broken: the release's store it is
            return None
        return None if isinstance(got, StackOutcome) else got[0].spec.secret_store

    def _load(self, ref: StackRef, plan: RunPlan | None = None) -> tuple[LoadedStack, frozenset[str]] | StackOutcome:
        """The loaded stack and its secret literals, or its refusal when its config is bad or
        it reads an output of another stack that cannot be resolved."""
        assert self.tree is not None, "a plan that loads stacks needs a tree"
        given = [stack for stack in self.loaded if stack.identity.path == ref.path]
        try:
            loaded = given[0] if given else self.ops.load(self.tree.reader, ref.path)
            if stackoutputs.mentions(loaded.spec):
                loaded = self._with_outputs(ref, loaded, plan)
        except ShipmateError as exc:
            if not self.contain:
                raise
            return StackOutcome.refused(ref.project, ref.name, ref.workspace, str(exc))
        return loaded, frozenset(secrets_of(loaded, self.trusted))

    def _with_outputs(self, ref: StackRef, loaded: LoadedStack, plan: RunPlan | None) -> LoadedStack:
        """`loaded` with the outputs it reads of the stacks its `dependsOn` lists filled in from
        their latest releases (an apply runs after its dependencies' wave, so it reads what they
        just recorded); in a preview, a dependency changing in the same run is known after apply."""
        graph = self._graph()
        stacks = self._stacks()
        deps = [stacks[path] for path in graph.depends_on.get(ref.path, ()) if path in stacks]
        releases = {graph.names[dep.path]: self.ops.backend.latest(dep.project, dep.workspace) for dep in deps}
        changing = {s.path for s in plan.stacks} if plan is not None and plan.operation is Operation.PREVIEW else set()
        pending = {graph.names[dep.path] for dep in deps if dep.path in changing}
        spec = stackoutputs.resolve_outputs(loaded.spec, releases, pending=pending)
        return replace(loaded, spec=spec, written=loaded.spec)

    def _graph(self) -> StackGraph:
        """The tree's stack graph (every stack.yaml's dependsOn), read once a run."""
        assert self.tree is not None
        if "graph" not in self._tree_reads:  # two stacks reading it at once read it twice: alike
            self._tree_reads["graph"] = stackorder.graph_of(self.tree.reader)
        graph: StackGraph = self._tree_reads["graph"]
        return graph

    def _stacks(self) -> dict[str, StackRef]:
        """The tree's stacks by path, read once a run."""
        assert self.tree is not None
        if "stacks" not in self._tree_reads:
            self._tree_reads["stacks"] = {s.path: s for s in discover_stacks(self.tree.reader)}
        stacks: dict[str, StackRef] = self._tree_reads["stacks"]
        return stacks

    def _each(self, plan: RunPlan, work: Callable[[StackRef], Done]) -> list[Done]:
        operation = str(plan.operation)
        metrics = self.ops.metrics

        def observed(ref: StackRef) -> Done:
            with logs.bound(stack=f"{ref.project}/{ref.name}", workspace=ref.workspace):
                started = time.perf_counter()
                result = "error"
                try:
                    done = work(ref)
                    outcome = done[0]
                    result = "declined" if outcome.declined else ("succeeded" if outcome.ok else "failed")
                    if metrics is not None and plan.operation is Operation.DRIFT and outcome.ok \
                            and outcome.changeset is not None and outcome.changeset.has_changes:
                        metrics.drift_found.inc()
                    return done
                finally:
                    if metrics is not None:
                        metrics.stack_operations.inc(operation=operation, result=result)
                        metrics.stack_seconds.observe(time.perf_counter() - started, operation=operation)

        def wave(refs: Sequence[StackRef]) -> list[Done]:
            return fan_out(refs, observed, parallel=self.ops.parallel, key=lambda ref: (ref.project, ref.workspace))

        graph: StackGraph | None = None
        if self.tree is not None and stackorder.declares_dependencies(self.tree.reader, plan.stacks):
            try:  # stack.yaml's dependsOn: waves of independent stacks (bot.app.stackorder)
                graph = self._graph()
            except ShipmateError as exc:  # a dependsOn naming no stack, or a cycle: nothing runs
                if not self.contain:
                    raise
                return [(repository_failure(str(exc)), frozenset())]

        def skipped(ref: StackRef, dependency: StackRef) -> Done:
            why = f"skipped: {dependency.project}/{dependency.name} failed"
            return StackOutcome.refused(ref.project, ref.name, ref.workspace, why), frozenset()

        def ordered(refs: Sequence[StackRef]) -> list[Done]:
            if graph is None:
                return wave(refs)
            return stackorder.in_waves(refs, graph, wave, failed=lambda done: not done[0].ok, skipped=skipped,
                                       skip_failed=plan.operation is Operation.APPLY,
                                       reverse=plan.operation is Operation.DESTROY)

        size = self.trusted.rollout.batch_size
        if plan.operation is Operation.APPLY and 0 < size < len(plan.stacks):
            return self._rolled_out(plan, graph, ordered, skipped)
        return ordered(plan.stacks)

    def _rolled_out(self, plan: RunPlan, graph: StackGraph | None, ordered: Callable[[Sequence[StackRef]], list[Done]],
                    skipped: Callable[[StackRef, StackRef], Done]) -> list[Done]:
        """An apply of more stacks than `rollout.batchSize`: batch after batch in dependency
        order (`bot.core.rollout`), `rollout.pause` between batches, the comment told as each
        batch starts and ends; after a failed batch, with `stopOnFailure`, the rest do not start."""
        settings = self.trusted.rollout
        by_path = {ref.path: ref for ref in plan.stacks}
        order = graph.order(by_path) if graph is not None else tuple(sorted(by_path))
        cut = rollout.batches([by_path[path] for path in order], settings.batch_size)
        progress = rollout.Rollout.start([[f"{r.project}/{r.name}" for r in batch] for batch in cut],
                                         settings.pause_seconds)
        results: dict[str, Done] = {}
        bad: set[str] = set()
        for index, batch in enumerate(cut):
            if index and settings.pause_seconds:
                time.sleep(settings.pause_seconds)
            held = graph.skipped(by_path, bad) if graph is not None else {}
            runnable = [ref for ref in batch if ref.path not in held]
            for ref in batch:
                if ref.path in held:
                    results[ref.path] = skipped(ref, by_path[held[ref.path]])
            progress = progress.with_state(index, rollout.APPLYING)
            self.reporter.rolled_out(plan, progress)
            for ref, done in zip(runnable, ordered(runnable), strict=True):
                results[ref.path] = done
                if not done[0].ok:
                    bad.add(ref.path)
            failed = any(not results[ref.path][0].ok for ref in batch)
            progress = progress.with_state(index, rollout.FAILED if failed else rollout.APPLIED)
            if failed and settings.stop_on_failure and index + 1 < len(cut):
                progress = progress.stopped_after(index)
                why = f"not started: batch {index + 1} of the rollout failed"
                for later in cut[index + 1:]:
                    for ref in later:
                        results[ref.path] = StackOutcome.refused(ref.project, ref.name, ref.workspace, why), frozenset()
                self.reporter.rolled_out(plan, progress)
                break
            self.reporter.rolled_out(plan, progress)
        return [results[ref.path] for ref in plan.stacks]

    def _failed(self, ref: StackRef, what: str, exc: Exception) -> StackOutcome:
        if isinstance(exc, ShipmateError):
            return StackOutcome.refused(ref.project, ref.name, ref.workspace, str(exc))
        # A runtime's client error: shown on the stack, logged in full.
        where = f" at {self.tree.sha[:7]}" if self.tree is not None else ""
        log.exception("%s of %s%s failed", what, ref.path or ref.project, where)
        return StackOutcome.refused(ref.project, ref.name, ref.workspace, f"{type(exc).__name__}: {exc}")


def _gathered(done: list[Done], *, locked: tuple[Lock, ...] = (), freed: tuple[Lock, ...] = ()) -> RunResult:
    """The run's result: the outcomes in plan order and every secret their stacks know."""
    return RunResult(tuple(o for o, _ in done), frozenset(s for _, sec in done for s in sec), locked, freed)


def _warned(outcome: StackOutcome, loaded: LoadedStack) -> StackOutcome:
    """The outcome with the located warnings of the stack's config (keys Kusion ignores too)."""
    if not loaded.warnings:
        return outcome
    return replace(outcome, warnings=tuple(str(w) for w in loaded.warnings))


class _SharedRead:
    """The latest releases of a preview's stacks, read from the state backend once, by the
    first stack that needs them (a remote state branch is fetched once per run, not once per
    stack); a stack outside the plan's keys is read on its own."""

    def __init__(self, backend: StateBackend, keys: Sequence[tuple[str, str]]) -> None:
        self._backend = backend
        self._keys = tuple(keys)
        self._lock = threading.Lock()
        self._read: Mapping[tuple[str, str], Release | None] | None = None

    def latest(self, project: str, workspace: str) -> Release | None:
        with self._lock:
            if self._read is None:
                self._read = self._backend.latest_many(self._keys)
            read = self._read
        key = (project, workspace)
        return read[key] if key in read else self._backend.latest(project, workspace)
