"""Preview, apply, destroy and roll back one stack: the use cases every entry point shares.

`bot.app.runner.StackRunner` calls these for every entry point (the bot, the CLI, the
GitHub Action). The flow follows Kusion's, with its weak spots fixed: the lock (with a
fencing token) comes from the run's `LockSession` and is held for the whole operation; the
preview runs before any revision is written, so a declined or dry-run apply leaves no trace;
the `ReleaseRecorder` writes the release before the first change and its state as operations
finish, batched by its `FlushPolicy` (`bot.app.flushes`); secrets are masked in everything stored; an interrupted apply ends `failed`,
never `succeeded`. Each operation returns the stack's `StackOutcome`.

With `metrics`, each resource operation an apply runs is counted and timed by action, runtime
(its resource type) and result, and each release recorded is counted by trigger and the phase
it ended in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from bot.app import executor as executor_mod
from bot.app import gcpause
from bot.app.configrepo import default_registry, stack_files
from bot.app.flushes import FlushPolicy
from bot.app.locking import LockSession
from bot.core import mask, plan, secrets, writeback
from bot.core.adoption import Adoption
from bot.core.config.appconfig import MAIN_FILE
from bot.core.config.repo import StackConfig, load_stack
from bot.core.config.settings import RepoSettings
from bot.core.config.snapshot import join
from bot.core.errors import NotRecorded, Problem, ShipmateError
from bot.core.fieldowners import FieldOwner
from bot.core.generate import generate
from bot.core.lock import Lock
from bot.core.modules.registry import ModuleRegistry
from bot.core.outcome import StackOutcome
from bot.core.ports import Clock, ConfigReader, KclCompiler, StateBackend
from bot.core.preview import engine
from bot.core.preview.model import Action, ChangeSet
from bot.core.release import Phase, Release, Trigger, check_can_start
from bot.core.runplan import Provenance
from bot.core.runtimes import Capability, FieldManagers, StackRuntimes, check_imports
from bot.core.spec import Resource, Spec, State
from bot.metrics import ShipmateMetrics


class RuntimeFactory(Protocol):
    """Builds the runtimes for one stack from its identity, the workspace context and the
    workspace's secret store (what a runtime resolves a credential's `ref://` through when it
    connects: `RuntimeTarget.resolve_secret`)."""

    def __call__(
        self, identity: StackIdentity, context: Mapping[str, object],
        secret_store: Mapping[str, Any] | None = None, /,
    ) -> StackRuntimes: ...
Confirm = Callable[[ChangeSet], bool]


@dataclass(frozen=True, slots=True)
class StackIdentity:
    project: str
    stack: str
    workspace: str
    path: str = ""

    @property
    def key(self) -> str:
        return f"{self.project}/{self.workspace}"


@dataclass(frozen=True, slots=True)
class LoadedStack:
    """A stack's parsed config and generated Spec."""

    identity: StackIdentity
    spec: Spec
    settings: RepoSettings
    secrets: frozenset[str] = frozenset()
    warnings: tuple[Problem, ...] = ()  # what the config holds and generation ignored, located
    # The Spec as generated when `spec` has other stacks' outputs filled in (bot.core.stackoutputs):
    # what an approval is pinned to. None: `spec` is as generated.
    written: Spec | None = None


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How one stack operation runs: `confirm` is shown the masked change set and may decline;
    a `dry_run` only previews; `keep_lock` leaves the project+workspace locked for the
    session's owner afterwards (a pull request holds its locks until it is merged or closed);
    `on_event` hears of each operation; `cancel` stops it cleanly."""

    confirm: Confirm | None = None
    dry_run: bool = False
    keep_lock: bool = False
    on_event: Callable[[executor_mod.Event], None] | None = None
    cancel: threading.Event | None = None


def secret_literals(context: Mapping[str, object], settings: RepoSettings) -> frozenset[str]:
    """Workspace context values whose keys are marked secret (never shown or stored)."""
    out: set[str] = set()
    for key, value in context.items():
        if isinstance(value, str) and value and settings.is_secret_context_key(str(key)):
            out.add(value)
    return frozenset(out)


LatestReleases = Callable[[str, str], Release | None]  # (project, workspace) -> the latest release


@dataclass
class StackOps:
    """The use cases, bound to a state backend, runtimes and a clock."""

    backend: StateBackend
    runtimes: RuntimeFactory
    clock: Clock
    registry: ModuleRegistry | None = None
    secret_salt: str = ""
    concurrency: int = 10  # resources of one stack at once
    parallel: int = 1  # stacks of one event at once (bot.app.fanout)
    # The locks of the run (bot.app.locking): an apply, destroy or rollback takes its stack's
    # lock from the session (acquired there first when the run did not take them all at once).
    session: LockSession | None = None
    watch: bool = True
    timeout_seconds: float | None = None
    ignore_fields: tuple[str, ...] = ()
    # Every secret the process knows (Shipmate's own credentials from the composition root);
    # each loaded stack's secrets are added, so logs and writers at the boundary mask them too.
    masker: mask.Masker = field(default_factory=mask.Masker)
    metrics: ShipmateMetrics | None = None  # resource operations and releases (the server's)
    kcl: KclCompiler | None = None  # compiles stacks written in KCL (main.k); None: YAML only
    flushes: FlushPolicy = field(default_factory=FlushPolicy)  # how often an apply's state is written
    _registry_cache: ModuleRegistry | None = field(default=None, init=False, repr=False)

    # --- generate / preview ---------------------------------------------------------------

    def load(self, reader: ConfigReader, stack_path: str) -> LoadedStack:
        """Parse the stack at `stack_path` and generate its Spec (ConfigError on bad input)."""
        with gcpause.paused():
            return self._load(reader, stack_path, self._registry())

    def _registry(self) -> ModuleRegistry:
        """The module registry, the installed plug-ins' read once."""
        if self._registry_cache is None:
            self._registry_cache = self.registry or default_registry()
        return self._registry_cache

    def _load(self, reader: ConfigReader, stack_path: str, registry: ModuleRegistry) -> LoadedStack:
        files = stack_files(reader, stack_path, self.kcl)
        with files.located():
            config: StackConfig = load_stack(files.snapshot, stack_path)
            spec, resolved = secrets.resolve(generate(config, registry, self.secret_salt))
        identity = StackIdentity(config.project.name, config.stack.name, config.workspace.name, config.path)
        hidden = secret_literals(spec.context, config.settings) | resolved
        self.masker.add(hidden)
        return LoadedStack(identity, spec, config.settings, hidden, config.warnings)

    def preview(self, loaded: LoadedStack, releases: LatestReleases | None = None) -> ChangeSet:
        """The masked change set of applying `loaded` on top of the latest release (read
        through `releases` when a run shares one read of the state among its stacks)."""
        ident = loaded.identity
        latest = (releases or self.backend.latest)(ident.project, ident.workspace)
        prior = latest.state if latest is not None else State()
        literals = self.masker.own | mask.Literals.of(loaded.secrets)
        with _masked_errors(literals), gcpause.paused():
            return mask.mask_changeset(self._preview(loaded, prior), literals)

    def _preview(self, loaded: LoadedStack, prior: State) -> ChangeSet:
        ident = loaded.identity
        runtimes = self.runtimes(ident, loaded.spec.context, loaded.spec.secret_store)
        check_imports(loaded.spec.resources, runtimes)
        return engine.preview(
            loaded.spec, prior, runtimes, self.ignore_fields, batched=runtimes.having(Capability.BATCH),
            api_objects=runtimes.having(Capability.API_OBJECTS), project=ident.project, stack=ident.stack, workspace=ident.workspace,
        )

    def who_changed(self, loaded: LoadedStack, changeset: ChangeSet) -> dict[str, tuple[FieldOwner, ...]]:
        """For each updated resource of `changeset` whose runtime declares `field-managers`, who
        set its live fields (`bot.core.fieldowners`), by resource ID."""
        ident = loaded.identity
        runtimes = self.runtimes(ident, loaded.spec.context, loaded.spec.secret_store)
        able = runtimes.having(Capability.FIELD_MANAGERS)
        wanted = [s.from_ for s in changeset.changed_steps()
                  if s.action in (Action.UPDATE, Action.REPLACE) and s.from_ is not None and s.from_.type in able]
        found: dict[str, tuple[FieldOwner, ...]] = {}
        for kind in sorted({r.type for r in wanted}):
            runtime = runtimes[kind]
            if isinstance(runtime, FieldManagers):
                found.update(runtime.field_managers([r for r in wanted if r.type == kind]))
        return found

    def adopt(self, reader: ConfigReader, stack_path: str, changeset: ChangeSet,
              hidden: Iterable[str] = ()) -> Adoption:
        """What of a drifted stack's live values maps back into its own files, and the files
        after (`bot.core.writeback`); a KCL stack's rendered `main.yaml` is never written."""
        files = stack_files(reader, stack_path, self.kcl)
        fixed = (join(stack_path, MAIN_FILE),) if files.render is not None else ()
        with gcpause.paused():
            return writeback.adopt(files.snapshot, stack_path, changeset, registry=self._registry(),
                                   salt=self.secret_salt, secrets=(*self.masker.literals.exact, *hidden), fixed=fixed)

    # --- apply ------------------------------------------------------------------------------

    def apply(self, loaded: LoadedStack, provenance: Provenance, options: RunOptions = RunOptions()) -> StackOutcome:
        """Preview, confirm, then apply `loaded` and record the release."""
        return self._operate(
            loaded.identity, loaded.secrets, provenance, options,
            build=lambda prior: (loaded.spec, self._preview(loaded, prior)), destroying=False,
        )

    def destroy(
        self,
        identity: StackIdentity,
        provenance: Provenance,
        options: RunOptions = RunOptions(),
        *,
        settings: RepoSettings | None = None,
        secrets: Iterable[str] = (),
        secret_store: Mapping[str, Any] | None = None,
    ) -> StackOutcome:
        """Delete everything the latest release's state holds, dependents first.

        `secrets` are the clear secret values of the stack's config (`LoadedStack.secrets`),
        and `secret_store` its workspace's secret store, when it could be loaded: a runtime
        resolves the credentials it connects with through it (an on-prem host's key). Without
        it, the release's own store is used, which holds inline values masked, so such a
        credential cannot be resolved from it. The stored release holds its context masked, so its secret
        values are also recovered where the Spec masked what a lossless State entry keeps
        (`mask.recovered_secrets`): the destroy release's Spec, built from that state, is masked with them."""
        settings = settings or RepoSettings()
        latest = self.backend.latest(identity.project, identity.workspace)
        if latest is None or not latest.state.resources:
            raise NotRecorded(f"nothing to destroy: {identity.key} has no recorded resources")
        context = latest.spec.context
        store = secret_store if secret_store is not None else latest.spec.secret_store
        recorded = self.runtimes(identity, context, store).having(Capability.RECORDED_STATE)
        secrets = frozenset(secrets) | secret_literals(context, settings) | mask.recovered_secrets(latest, recorded)
        self.masker.add(secrets)

        def build(prior: State) -> tuple[Spec, ChangeSet]:
            spec = Spec(prior.resources, store, context, latest.spec.kind_order)
            runtimes = self.runtimes(identity, context, store)
            changeset = engine.preview_destroy(
                prior, runtimes, api_objects=runtimes.having(Capability.API_OBJECTS),
                kind_order=latest.spec.kind_order, project=identity.project, stack=identity.stack, workspace=identity.workspace,
            )
            return spec, changeset

        return self._operate(identity, secrets, provenance, options, build=build, destroying=True)

    def rollback(
        self,
        project: str,
        workspace: str,
        revision: int,
        provenance: Provenance,
        options: RunOptions = RunOptions(),
        *,
        settings: RepoSettings | None = None,
    ) -> StackOutcome:
        """Re-apply the Spec of `revision` as a new release (trigger `rollback`); never keeps the lock."""
        target = self.backend.get(project, workspace, revision)
        if target is None:
            raise NotRecorded(f"{project}/{workspace} has no release r{revision}")
        if not target.spec.resources:
            raise NotRecorded(f"release {project}/{workspace} r{revision} has no Spec to roll back to")
        identity = StackIdentity(project, target.stack, workspace)
        spec = self._unmask_from_live(identity, target)
        settings = settings or RepoSettings()
        latest = self.backend.latest(project, workspace)
        recorded = self.runtimes(identity, spec.context, spec.secret_store).having(Capability.RECORDED_STATE)
        hidden = secret_literals(spec.context, settings) | mask.recovered_secrets(target, recorded)
        if latest is not None:
            hidden |= mask.recovered_secrets(latest, recorded)
        self.masker.add(hidden)
        loaded = LoadedStack(identity, spec, settings, hidden)
        provenance = replace(provenance, trigger=Trigger.ROLLBACK, commit=provenance.commit or target.commit)
        return self._operate(
            identity, loaded.secrets, provenance, replace(options, keep_lock=False),
            build=lambda prior: (spec, self._preview(loaded, prior)), destroying=False,
        )

    def _unmask_from_live(self, identity: StackIdentity, target: Release) -> Spec:
        """Stored releases never hold secrets in clear; a rollback takes them from the live
        objects (a Secret's current data), and refuses when they are gone."""
        masked = [r for r in target.spec.resources if mask.holds_mask(r.attributes)]
        if not masked:
            return target.spec
        runtimes = self.runtimes(identity, target.spec.context, target.spec.secret_store)
        live: dict[str, object] = {}
        for rtype in sorted({r.type for r in masked}):
            batch = [r for r in masked if r.type == rtype]
            live.update(runtimes[rtype].read(batch, target.state))
        restored: dict[str, Resource] = {}
        for r in masked:
            try:
                attributes = mask.fill_masks(r.attributes, live.get(r.id))
            except KeyError as missing:
                raise NotRecorded(
                    f"release r{target.revision} stores {r.id} with masked secret values and the live "
                    f"object has no value at {missing.args[0]}; re-apply the config of commit "
                    f"{target.commit or '(unknown)'} instead"
                ) from None
            restored[r.id] = replace(r, attributes=attributes)
        return replace(target.spec, resources=tuple(restored.get(r.id, r) for r in target.spec.resources))

    # --- the shared flow ------------------------------------------------------------------

    def _operate(
        self,
        identity: StackIdentity,
        secrets: Iterable[str],
        provenance: Provenance,
        options: RunOptions,
        *,
        build: Callable[[State], tuple[Spec, ChangeSet]],
        destroying: bool,
    ) -> StackOutcome:
        secrets = frozenset(secrets)
        self.masker.add(secrets)
        literals = self.masker.own | mask.Literals.of(secrets)
        with _masked_errors(literals):
            return self._run(identity, literals, provenance, options, build=build, destroying=destroying)

    def _run(
        self,
        identity: StackIdentity,
        literals: mask.Literals,
        provenance: Provenance,
        options: RunOptions,
        *,
        build: Callable[[State], tuple[Spec, ChangeSet]],
        destroying: bool,
    ) -> StackOutcome:
        p, w = identity.project, identity.workspace
        if options.dry_run:
            latest = self.backend.latest(p, w)
            check_can_start(latest)
            _, changeset = build(latest.state if latest else State())
            return outcome_of(identity, mask.mask_changeset(changeset, literals))

        if self.session is None:
            raise TypeError("StackOps needs the LockSession of its run to apply, destroy or roll back")
        recorder = ReleaseRecorder(self.backend, self.session, self.session.lock(p, w), self.clock,
                                   literals, self.masker.own, keep_lock=options.keep_lock, metrics=self.metrics,
                                   policy=self.flushes, cancel=options.cancel)
        try:
            latest = self.backend.latest(p, w)
            check_can_start(latest)
            prior = latest.state if latest else State()
            spec, changeset = build(prior)
            runtimes = self.runtimes(identity, spec.context, spec.secret_store)
            recorder.lossless = runtimes.having(Capability.RECORDED_STATE)
            recorder.api_objects = runtimes.having(Capability.API_OBJECTS)
            shown = mask.mask_changeset(changeset, literals)
            if options.confirm is not None and not options.confirm(shown):
                recorder.decline()
                return outcome_of(identity, shown, declined=True)
            recorder.start(Release.start(
                p, w, identity.stack, latest=latest, now=self.clock.now(), trigger=provenance.trigger,
                actor=provenance.actor, commit=provenance.commit, pull_request=provenance.pull_request,
                spec=spec, phase=Phase.PREVIEWING, policy_override=provenance.policy_override,
            ), Phase.DESTROYING if destroying else Phase.APPLYING)
            runner = executor_mod.Executor(
                runtimes,
                concurrency=self.concurrency,
                watch=self.watch and not destroying,
                timeout_seconds=self.timeout_seconds,
            )
            operations = plan.operations_of(changeset, spec, prior)
            recorder.expect(operations, prior)
            on_event = recorder.hearing(options.on_event or (lambda _: None))
            if self.metrics is not None:
                on_event = _counted(on_event, self.metrics, {op.id: op.resource.type for op in operations})
            outcome = runner.run(operations, prior, on_state=recorder.flush, on_event=on_event, cancel=options.cancel,
                                 kind_order=spec.kind_order)
            release = recorder.finish(None if outcome.ok else literals.text(_failure_text(outcome)))
            return outcome_of(identity, shown, release, _masked_outcome(outcome, literals))
        except BaseException as exc:
            # Never leave a half-finished release or a lock behind on an error we can see.
            recorder.abort(literals.text(_error_text(exc)))
            raise


@dataclass
class ReleaseRecorder:
    """Records one release on a lock the run's `LockSession` already holds: `start` writes it
    before the first change; `flush` is handed the state after every operation and writes it
    when `policy` says it is due (checked again at every event the run `hearing` passes on),
    at once when `cancel` is set, and before the lease is renewed (when half of it is gone);
    then `finish` ends it with the newest state (freeing the lock in the same commit unless it
    is kept) or `abort` marks it failed on an error, with the newest state it was handed;
    `decline` lets the lock go when nothing was recorded. An operation of a `recorded-state`
    runtime is written as soon as it finishes (see `flush`). Every field is masked before it is
    written (the entries of a `recorded-state` runtime keep their values: only Shipmate's own
    credentials are masked; the Secrets of an `api-objects` runtime are masked). Thread-safe:
    the executor's workers hand it states and events."""

    backend: StateBackend
    session: LockSession
    lock: Lock
    clock: Clock
    literals: mask.Literals
    own: mask.Literals
    keep_lock: bool = False
    metrics: ShipmateMetrics | None = None
    lossless: frozenset[str] = frozenset()
    api_objects: frozenset[str] | None = None
    policy: FlushPolicy = field(default_factory=FlushPolicy)
    cancel: threading.Event | None = None
    planned: int = 0  # operations the apply runs (the policy's share is of these; `expect`)
    release: Release | None = None
    _cache: mask.MaskCache = field(default_factory=mask.MaskCache)
    _pending: State | None = field(default=None, init=False, repr=False)  # newest state, not yet written
    _waiting: int = field(default=0, init=False, repr=False)  # operations since the last write
    _written_at: datetime | None = field(default=None, init=False, repr=False)
    _recorded_ids: frozenset[str] = field(default=frozenset(), init=False, repr=False)
    _records: dict[str, Resource] = field(default_factory=dict, init=False, repr=False)
    _mutex: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def stored(self, release: Release) -> Release:
        return self._cache.release(release, self.literals, self.own, self.lossless, self.api_objects)

    def start(self, release: Release, phase: Phase) -> Release:
        created = self.backend.create(self.stored(release), self.lock)
        self.release = self.backend.update(created.with_phase(phase, self.clock.now()), self.lock)
        self._written_at = self.clock.now()
        return self.release

    def expect(self, operations: Sequence[plan.Operation], prior: State) -> None:
        """What the apply will run (from `prior`): the policy's share is of the operations that
        run, and those of a `recorded-state` runtime are written as soon as they finish."""
        running = [op for op in plan.mark_adoptions(operations, prior.by_id()) if op.runs]
        self.planned = len(running)
        self._recorded_ids = frozenset(op.id for op in running if op.resource.type in self.lossless)
        self._records = {r.id: r for r in prior.resources if r.id in self._recorded_ids}

    def flush(self, state: State) -> None:
        """The state after an operation: written now if the policy says so, or if a
        `recorded-state` runtime's entry changed (its record is kept nowhere else: a crash
        would lose it, where a live object is adopted by the next apply), else kept pending."""
        with self._mutex:
            self._pending = state
            self._waiting += 1
            self._check(urgent=self._records_changed(state))

    def _records_changed(self, state: State) -> bool:
        if not self._recorded_ids:
            return False
        records = {r.id: r for r in state.resources if r.id in self._recorded_ids}
        changed = records != self._records
        self._records = records
        return changed

    def hearing(self, on_event: Callable[[executor_mod.Event], None]) -> Callable[[executor_mod.Event], None]:
        """`on_event`, after checking at each event whether the pending state is due. A write
        that fails here stays pending: the next state handed over, or the finish, writes it
        and reports the error (an event may come from inside a readiness wait, which must not
        fail for it)."""

        def hear(event: executor_mod.Event) -> None:
            if self._pending is not None:
                with self._mutex:
                    try:
                        self._check()
                    except ShipmateError:
                        pass
            on_event(event)

        return hear

    def _check(self, urgent: bool = False) -> None:
        now = self.clock.now()
        since = (now - self._written_at).total_seconds() if self._written_at is not None else 0.0
        cancelled = self.cancel is not None and self.cancel.is_set()
        lease = self.session.lease_seconds
        renew = (self.lock.expire_time - now).total_seconds() < lease / 2
        due = urgent or cancelled or renew or self.policy.due(self._waiting, since, self.planned)
        if self._pending is not None and due:
            self._write_pending()
        if renew:
            self.lock = self.backend.renew_lock(self.lock, lease)
            self.session.renewed(self.lock)

    def _write_pending(self) -> None:
        assert self.release is not None and self._pending is not None
        self.release = self.backend.update(self._with_pending(self.release), self.lock)
        self._pending, self._waiting, self._written_at = None, 0, self.clock.now()

    def _with_pending(self, release: Release) -> Release:
        """`release` holding the newest state it was handed (masked), if any is pending."""
        if self._pending is None:
            return release
        masked = self._cache.state(self._pending, self.literals, self.own, self.lossless, self.api_objects)
        return release.with_state(masked, self.clock.now())

    def finish(self, error: str | None) -> Release:
        """End the release `succeeded` (no error) or `failed`, with the newest state."""
        with self._mutex:
            assert self.release is not None
            end = self.clock.now()
            current = self._with_pending(self.release)
            ended = current.succeeded(end) if error is None else current.failed(end, error)
            self.release = self._end(self.stored(ended))
            self._pending = None
            return self.release

    def decline(self) -> None:
        if not self.keep_lock:
            self.session.let_go(self.lock)

    def abort(self, error: str) -> None:
        """After an error: a release still running ends `failed`, with the newest state it was
        handed; with none written, the lock goes unless the run keeps it. Errors of the state
        backend here are swallowed: the error being handled is the one to raise."""
        with self._mutex:
            if self.release is None:
                self.decline()
                return
            if self.release.phase.terminal:
                return
            try:
                written = self.backend.get(self.release.project, self.release.workspace, self.release.revision)
                current = self._with_pending(written or self.release)
                self._end(self.stored(current.failed(self.clock.now(), error)))
            except ShipmateError:
                pass

    def _end(self, release: Release) -> Release:
        if self.keep_lock:
            ended = self.backend.update(release, self.lock)
        else:
            self.session.forget(self.lock)
            ended = self.backend.finish(release, self.lock)
        if self.metrics is not None:
            self.metrics.releases.inc(trigger=str(ended.trigger), phase=str(ended.phase))
        return ended


def _counted(
    on_event: Callable[[executor_mod.Event], None], metrics: ShipmateMetrics, types: Mapping[str, str]
) -> Callable[[executor_mod.Event], None]:
    """`on_event`, counting and timing each resource operation on the way (see the docstring)."""
    started: dict[str, float] = {}
    guard = threading.Lock()

    def hear(event: executor_mod.Event) -> None:
        if event.kind == "start":
            with guard:
                started[event.id] = time.perf_counter()
        elif event.kind != "waiting":  # waiting for readiness: still running
            with guard:
                since = started.pop(event.id, None)
            runtime = types.get(event.id, "")
            result = {"done": "succeeded"}.get(event.kind, event.kind)
            metrics.resource_operations.inc(action=event.action, runtime=runtime, result=result)
            if since is not None:
                metrics.resource_seconds.observe(time.perf_counter() - since, action=event.action, runtime=runtime)
        on_event(event)

    return hear


def outcome_of(
    identity: StackIdentity,
    changeset: ChangeSet,
    release: Release | None = None,
    outcome: executor_mod.Outcome | None = None,
    *,
    declined: bool = False,
) -> StackOutcome:
    """The stack's `StackOutcome` from what its run produced (texts already masked)."""
    failed = tuple(sorted(outcome.failed.items())) if outcome is not None else ()
    skipped = tuple(sorted(outcome.skipped.items())) if outcome is not None else ()
    error = None
    if release is not None and release.phase is not Phase.SUCCEEDED:
        error = release.error or "the operation did not succeed"
    return StackOutcome(
        identity.project, identity.stack, identity.workspace, changeset, error,
        revision=release.revision if release is not None else None,
        phase=str(release.phase) if release is not None else "",
        failed=failed, skipped=skipped, summary=outcome.summary() if outcome is not None else "",
        declined=declined,
    )


@contextmanager
def _masked_errors(literals: mask.Literals) -> Iterator[None]:
    """Errors leaving a use case carry no secret (the CLI prints them, the bot comments them);
    a runtime client's own error is masked too when its text is its message."""
    try:
        yield
    except Exception as exc:
        if literals and exc.args and isinstance(exc.args[0], str):
            masked = literals.text(exc.args[0])
            if masked != exc.args[0]:
                exc.args = (masked, *exc.args[1:])
        raise


def _masked_outcome(outcome: executor_mod.Outcome, literals: mask.Literals) -> executor_mod.Outcome:
    if not literals or not (outcome.failed or outcome.skipped):
        return outcome
    return replace(
        outcome,
        failed={rid: literals.text(msg) for rid, msg in outcome.failed.items()},
        skipped={rid: literals.text(msg) for rid, msg in outcome.skipped.items()},
    )


def _failure_text(outcome: executor_mod.Outcome) -> str:
    if outcome.cancelled and not outcome.failed:
        return f"interrupted: {outcome.summary()}"
    lines = [outcome.summary()]
    lines.extend(f"{rid}: {msg}" for rid, msg in outcome.failed.items())
    return "\n".join(lines)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__

