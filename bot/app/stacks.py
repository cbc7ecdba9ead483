"""Preview, apply, destroy and roll back one stack: the use cases every entry point shares.

The CLI, the bot and the GitHub Action all come here. The flow follows Kusion's, with its
weak spots fixed: a lock (with a fencing token) is held for the whole operation; the preview
runs before any revision is written, so a declined or dry-run apply leaves no trace; the
release is recorded before the first change and its state flushed after every operation;
secrets are masked in everything stored; an interrupted apply ends `failed`, never
`succeeded`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from bot.app import executor as executor_mod
from bot.app.configrepo import default_registry, stack_snapshot
from bot.app.locking import LockSession
from bot.core import mask, plan, secrets
from bot.core.config.repo import StackConfig, load_stack
from bot.core.config.settings import RepoSettings
from bot.core.errors import NotRecorded, ShipmateError
from bot.core.generate import generate
from bot.core.lock import Lock
from bot.core.modules.registry import ModuleRegistry
from bot.core.ports import Clock, ConfigReader, StateBackend
from bot.core.preview import engine
from bot.core.preview.model import ChangeSet
from bot.core.release import Phase, Release, Trigger, check_can_start
from bot.core.runtimes import Capability, StackRuntimes, check_imports
from bot.core.spec import Resource, Spec, State

# Builds the runtimes for one stack from its identity and the workspace context.
RuntimeFactory = Callable[["StackIdentity", Mapping[str, object]], StackRuntimes]
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
class Provenance:
    """Who and what started an operation (recorded in the release)."""

    trigger: Trigger = Trigger.CLI
    actor: str = ""
    commit: str = ""
    pull_request: int | None = None


@dataclass(frozen=True, slots=True)
class LoadedStack:
    """A stack's parsed config and generated Spec."""

    identity: StackIdentity
    spec: Spec
    settings: RepoSettings
    secrets: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of an apply, destroy or rollback."""

    identity: StackIdentity
    changeset: ChangeSet  # masked
    release: Release | None = None  # None: nothing was recorded (dry run, declined)
    outcome: executor_mod.Outcome | None = None
    declined: bool = False
    lock: Lock | None = None  # the lock still held, when asked to keep it

    @property
    def ok(self) -> bool:
        return self.release is None or self.release.phase is Phase.SUCCEEDED

    @property
    def error(self) -> str | None:
        return self.release.error if self.release is not None else None


def secret_literals(context: Mapping[str, object], settings: RepoSettings) -> frozenset[str]:
    """Workspace context values whose keys are marked secret (never shown or stored)."""
    out: set[str] = set()
    for key, value in context.items():
        if isinstance(value, str) and value and settings.is_secret_context_key(str(key)):
            out.add(value)
    return frozenset(out)


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
    # The locks of the run (bot.app.locking): a stack takes its lock from the session instead
    # of acquiring it again. None: each operation takes and frees its own lock.
    session: LockSession | None = None
    watch: bool = True
    timeout_seconds: float | None = None
    ignore_fields: tuple[str, ...] = ()
    lease_seconds: float = 900.0
    # Every secret the process knows (Shipmate's own credentials from the composition root);
    # each loaded stack's secrets are added, so logs and writers at the boundary mask them too.
    masker: mask.Masker = field(default_factory=mask.Masker)
    _registry_cache: ModuleRegistry | None = field(default=None, init=False, repr=False)

    # --- generate / preview ---------------------------------------------------------------

    def load(self, reader: ConfigReader, stack_path: str) -> LoadedStack:
        """Parse the stack at `stack_path` and generate its Spec (ConfigError on bad input)."""
        snapshot = stack_snapshot(reader, stack_path)
        config: StackConfig = load_stack(snapshot, stack_path)
        if self._registry_cache is None:
            self._registry_cache = self.registry or default_registry()
        spec, resolved = secrets.resolve(generate(config, self._registry_cache, self.secret_salt))
        identity = StackIdentity(config.project.name, config.stack.name, config.workspace.name, config.path)
        hidden = secret_literals(spec.context, config.settings) | resolved
        self.masker.add(hidden)
        return LoadedStack(identity, spec, config.settings, hidden)

    def preview(self, loaded: LoadedStack) -> ChangeSet:
        """The masked change set of applying `loaded` on top of the latest release."""
        ident = loaded.identity
        latest = self.backend.latest(ident.project, ident.workspace)
        prior = latest.state if latest is not None else State()
        literals = self.masker.own | mask.Literals.of(loaded.secrets)
        with _masked_errors(literals):
            return mask.mask_changeset(self._preview(loaded, prior), literals)

    def _preview(self, loaded: LoadedStack, prior: State) -> ChangeSet:
        ident = loaded.identity
        runtimes = self.runtimes(ident, loaded.spec.context)
        check_imports(loaded.spec.resources, runtimes)
        return engine.preview(
            loaded.spec, prior, runtimes, self.ignore_fields, batched=runtimes.having(Capability.BATCH),
            project=ident.project, stack=ident.stack, workspace=ident.workspace,
        )

    # --- apply ------------------------------------------------------------------------------

    def apply(
        self,
        loaded: LoadedStack,
        provenance: Provenance,
        *,
        owner: str,
        confirm: Confirm | None = None,
        dry_run: bool = False,
        keep_lock: bool = False,
        on_event: Callable[[executor_mod.Event], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Result:
        """Preview, confirm, then apply `loaded` and record the release.

        `keep_lock` leaves the project/workspace locked for `owner` afterwards (a pull
        request holds its lock until it is merged or closed).
        """
        return self._operate(
            loaded.identity,
            loaded.secrets,
            provenance,
            owner=owner,
            build=lambda prior: (loaded.spec, self._preview(loaded, prior)),
            destroying=False,
            confirm=confirm,
            dry_run=dry_run,
            keep_lock=keep_lock,
            on_event=on_event,
            cancel=cancel,
        )

    def destroy(
        self,
        identity: StackIdentity,
        provenance: Provenance,
        *,
        owner: str,
        settings: RepoSettings | None = None,
        secrets: Iterable[str] = (),
        confirm: Confirm | None = None,
        dry_run: bool = False,
        keep_lock: bool = False,
        on_event: Callable[[executor_mod.Event], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Result:
        """Delete everything the latest release's state holds, dependents first.

        `secrets` are the clear secret values of the stack's config (`LoadedStack.secrets`),
        when it could be loaded. The stored release holds its context masked, so its secret
        values are also recovered where the Spec masked what a lossless State entry keeps
        (`mask.recovered_secrets`): the destroy release's Spec, built from that state, is masked with them."""
        settings = settings or RepoSettings()
        latest = self.backend.latest(identity.project, identity.workspace)
        if latest is None or not latest.state.resources:
            raise NotRecorded(f"nothing to destroy: {identity.key} has no recorded resources")
        context = latest.spec.context
        recorded = self.runtimes(identity, context).having(Capability.RECORDED_STATE)
        secrets = frozenset(secrets) | secret_literals(context, settings) | mask.recovered_secrets(latest, recorded)
        self.masker.add(secrets)

        def build(prior: State) -> tuple[Spec, ChangeSet]:
            spec = Spec(prior.resources, latest.spec.secret_store, context)
            runtimes = self.runtimes(identity, context)
            changeset = engine.preview_destroy(
                prior, runtimes, project=identity.project, stack=identity.stack, workspace=identity.workspace
            )
            return spec, changeset

        return self._operate(
            identity, secrets, provenance, owner=owner, build=build, destroying=True,
            confirm=confirm, dry_run=dry_run, keep_lock=keep_lock, on_event=on_event, cancel=cancel,
        )

    def rollback(
        self,
        project: str,
        workspace: str,
        revision: int,
        provenance: Provenance,
        *,
        owner: str,
        settings: RepoSettings | None = None,
        confirm: Confirm | None = None,
        dry_run: bool = False,
        on_event: Callable[[executor_mod.Event], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Result:
        """Re-apply the Spec of `revision` as a new release (trigger `rollback`)."""
        target = self.backend.get(project, workspace, revision)
        if target is None:
            raise NotRecorded(f"{project}/{workspace} has no release r{revision}")
        if not target.spec.resources:
            raise NotRecorded(f"release {project}/{workspace} r{revision} has no Spec to roll back to")
        identity = StackIdentity(project, target.stack, workspace)
        spec = self._unmask_from_live(identity, target)
        settings = settings or RepoSettings()
        latest = self.backend.latest(project, workspace)
        recorded = self.runtimes(identity, spec.context).having(Capability.RECORDED_STATE)
        hidden = secret_literals(spec.context, settings) | mask.recovered_secrets(target, recorded)
        if latest is not None:
            hidden |= mask.recovered_secrets(latest, recorded)
        self.masker.add(hidden)
        loaded = LoadedStack(identity, spec, settings, hidden)
        provenance = replace(provenance, trigger=Trigger.ROLLBACK, commit=provenance.commit or target.commit)
        return self._operate(
            identity, loaded.secrets, provenance, owner=owner,
            build=lambda prior: (spec, self._preview(loaded, prior)),
            destroying=False, confirm=confirm, dry_run=dry_run, keep_lock=False,
            on_event=on_event, cancel=cancel,
        )

    def _unmask_from_live(self, identity: StackIdentity, target: Release) -> Spec:
        """Stored releases never hold secrets in clear; a rollback takes them from the live
        objects (a Secret's current data), and refuses when they are gone."""
        masked = [r for r in target.spec.resources if mask.holds_mask(r.attributes)]
        if not masked:
            return target.spec
        runtimes = self.runtimes(identity, target.spec.context)
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
        *,
        owner: str,
        build: Callable[[State], tuple[Spec, ChangeSet]],
        destroying: bool,
        confirm: Confirm | None,
        dry_run: bool,
        keep_lock: bool,
        on_event: Callable[[executor_mod.Event], None] | None,
        cancel: threading.Event | None,
    ) -> Result:
        secrets = frozenset(secrets)
        self.masker.add(secrets)
        literals = self.masker.own | mask.Literals.of(secrets)
        with _masked_errors(literals):
            return self._run(
                identity, literals, provenance, owner=owner, build=build, destroying=destroying,
                confirm=confirm, dry_run=dry_run, keep_lock=keep_lock, on_event=on_event, cancel=cancel,
            )

    def _run(
        self,
        identity: StackIdentity,
        literals: mask.Literals,
        provenance: Provenance,
        *,
        owner: str,
        build: Callable[[State], tuple[Spec, ChangeSet]],
        destroying: bool,
        confirm: Confirm | None,
        dry_run: bool,
        keep_lock: bool,
        on_event: Callable[[executor_mod.Event], None] | None,
        cancel: threading.Event | None,
    ) -> Result:
        own = self.masker.own
        cache = mask.MaskCache()
        lossless: frozenset[str] = frozenset()  # the types of `recorded-state` runtimes, once built

        def stored(release: Release) -> Release:
            """Every field masked before it is written (lossless entries: own credentials only)."""
            return cache.release(release, literals, own, lossless)

        p, w = identity.project, identity.workspace
        if dry_run:
            latest = self.backend.latest(p, w)
            check_can_start(latest)
            _, changeset = build(latest.state if latest else State())
            return Result(identity, mask.mask_changeset(changeset, literals))

        session = self.session
        if session is not None and session.owner == owner:
            lock = session.lock(p, w)
        else:
            session = None
            lock = self.backend.acquire_lock(
                p, w, owner, self.lease_seconds, provenance.pull_request, run_id=provenance.commit[:12]
            )
        release: Release | None = None
        try:
            latest = self.backend.latest(p, w)
            check_can_start(latest)
            prior = latest.state if latest else State()
            spec, changeset = build(prior)
            runtimes = self.runtimes(identity, spec.context)
            lossless = runtimes.having(Capability.RECORDED_STATE)
            shown = mask.mask_changeset(changeset, literals)
            if confirm is not None and not confirm(shown):
                return Result(identity, shown, declined=True, lock=self._let_go(lock, keep_lock, session))
            now = self.clock.now()
            release = Release.start(
                p, w, identity.stack, latest=latest, now=now, trigger=provenance.trigger,
                actor=provenance.actor, commit=provenance.commit, pull_request=provenance.pull_request,
                spec=spec, phase=Phase.PREVIEWING,
            )
            release = self.backend.create(stored(release), lock)
            release = self.backend.update(
                release.with_phase(Phase.DESTROYING if destroying else Phase.APPLYING, self.clock.now()), lock
            )
            operations = plan.operations_of(changeset, spec, prior)
            current = release

            def flush(state: State) -> None:
                nonlocal current, lock
                masked = cache.state(state, literals, own, lossless)
                current = self.backend.update(current.with_state(masked, self.clock.now()), lock)
                if (lock.expire_time - self.clock.now()).total_seconds() < self.lease_seconds / 2:
                    lock = self.backend.renew_lock(lock, self.lease_seconds)
                    if session is not None:
                        session.renewed(lock)

            runner = executor_mod.Executor(
                runtimes,
                concurrency=self.concurrency,
                watch=self.watch and not destroying,
                timeout_seconds=self.timeout_seconds,
            )
            outcome = runner.run(
                operations, prior, on_state=flush, on_event=on_event or (lambda _: None), cancel=cancel
            )
            release = current
            end = self.clock.now()
            if outcome.ok:
                release = release.succeeded(end)
            else:
                release = release.failed(end, literals.text(_failure_text(outcome)))
            release = self._end(stored(release), lock, keep_lock, session)
            return Result(identity, shown, release, _masked_outcome(outcome, literals), lock=lock if keep_lock else None)
        except BaseException as exc:
            # Never leave a half-finished release or a lock behind on an error we can see.
            if release is not None and not release.phase.terminal:
                try:
                    latest_written = self.backend.get(p, w, release.revision) or release
                    failed = latest_written.failed(self.clock.now(), literals.text(_error_text(exc)))
                    self._end(stored(failed), lock, keep_lock, session)
                except ShipmateError:
                    pass
            elif release is None:
                # A lock the session held before this stack (a pull request's) stays held.
                self._let_go(lock, keep_lock and session is not None, session)
            raise

    def _end(self, release: Release, lock: Lock, keep_lock: bool, session: LockSession | None) -> Release:
        if keep_lock:
            return self.backend.update(release, lock)
        if session is not None:
            session.forget(lock)
        return self.backend.finish(release, lock)

    def _let_go(self, lock: Lock, keep_lock: bool, session: LockSession | None) -> Lock | None:
        if keep_lock:
            return lock
        if session is not None:
            session.let_go(lock)
        else:
            self.backend.release_lock(lock)
        return None


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

