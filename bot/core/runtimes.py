"""The runtime plug-in contract: what a runtime declares, and the runtimes of one stack.

A runtime serves one resource type (the `type` of a Spec resource, e.g. `Kubernetes`) through
the `Runtime` port (`bot.core.ports`). Every runtime is a plug-in, Shipmate's own included: an
installed package names a `RuntimePlugin` under the `shipmate.runtimes` entry-point group
(the entry point's name is the resource type), and `bot.wiring` finds them there. What
differs between runtimes is a `Capability` the plug-in declares; the use cases and the core
ask for a capability, never for a runtime's name.

A plug-in is configured once with the bot's `RuntimeSettings` (`configure`), which gives a
builder; the builder makes the `Runtime` for one stack from a `RuntimeTarget` (the stack and
its workspace context). `StackRuntimes` holds one stack's runtimes by type, each built on
first use, with what each declares.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bot.core.errors import PlanError, ShipmateError
from bot.core.fieldowners import FieldOwner
from bot.core.ports import Runtime
from bot.core.spec import EXT_IMPORT_ID, Resource

ENTRY_POINT_GROUP = "shipmate.runtimes"
_WAITING: ContextVar[Callable[[str], None] | None] = ContextVar("shipmate_waiting_for", default=None)
_FINISHED: ContextVar[Callable[[str, Resource | None], None] | None] = ContextVar("shipmate_finished", default=None)


def waiting_for(why: str) -> None:
    """Called by a runtime's `wait_ready` to say what the resource still waits for (e.g.
    "0/2 updated, 0/2 available"); whoever runs the wait hears it (`hearing_waits`). Outside
    a wait, or with nobody listening, it does nothing, so a runtime may call it freely."""
    tell = _WAITING.get()
    if tell is not None:
        tell(why)


@contextmanager
def hearing_waits(tell: Callable[[str], None]) -> Iterator[None]:
    """Within the block (in this thread), `waiting_for` calls `tell`."""
    token = _WAITING.set(tell)
    try:
        yield
    finally:
        _WAITING.reset(token)


def finished(resource_id: str, resource: Resource | None) -> None:
    """Called by a `batch` runtime's `apply` or `delete` as each resource of the batch is done
    (the resource to record in State, or None for a finished delete), so the release records
    it at once rather than when the whole batch ends; whoever runs the batch hears it
    (`hearing_finishes`). With nobody listening it does nothing."""
    tell = _FINISHED.get()
    if tell is not None:
        tell(resource_id, resource)


@contextmanager
def hearing_finishes(tell: Callable[[str, Resource | None], None]) -> Iterator[None]:
    """Within the block (in this thread), `finished` calls `tell`."""
    token = _FINISHED.set(tell)
    try:
        yield
    finally:
        _FINISHED.reset(token)


class Capability(StrEnum):
    """Something a runtime does that changes how Shipmate drives it."""

    BATCH = "batch"
    """The stack's resources of this type are previewed and applied as one unit per stage:
    one call with all of them, `$kusion_path` references between them left to the runtime
    (Terraform plans a whole stack at once). Without it, each resource is its own operation."""

    READINESS = "readiness"
    """`wait_ready` means something: an apply waits for each created or updated resource to
    become ready before its dependents start. Without it, applied means done. While it waits,
    the runtime may say what the resource still lacks with `waiting_for` ("0/2 available"),
    which the terminal shows beside the resource."""

    IMPORT = "import"
    """The runtime takes over an existing object named by `kusionstack.io/import-id`
    (a workspace's `importedResources`). A Spec asking a runtime without it to import is
    refused at preview. Adoption (an object found live, equal to the Spec, missing from the
    recorded state) needs no capability: it is an apply like any other."""

    RECORDED_STATE = "recorded-state"
    """The runtime rebuilds its working copy from the State entries recorded in the release
    (Terraform's state), so they are kept losslessly: only Shipmate's own credentials are
    masked in them, and a destroy or rollback recovers masked Spec values from them."""

    API_OBJECTS = "api-objects"
    """The resources of this type are API objects shaped like Kubernetes' (`apiVersion`,
    `kind`, `metadata`). The preview leaves the fields the server fills in (`status`,
    `metadata.uid`, `resourceVersion`, `generation`, `creationTimestamp`, `managedFields`,
    `selfLink`) out of its comparison and compares the lists the API merges by a key
    (containers by name, ports by port and protocol, ...) as sets, naming their elements by
    key (`containers[name=app]`); masking hides a core `v1` `Secret`'s `data`, `stringData`
    and last-applied annotation. Without it, objects are compared as they are, every list in
    order, and only runtime-reported sensitive paths and the workspace's secret values are
    masked."""

    FIELD_MANAGERS = "field-managers"
    """The runtime can say who last set each field of a live object (`FieldManagers`:
    Kubernetes' `managedFields`), so a drift issue names who changed what."""


@runtime_checkable
class FieldManagers(Protocol):
    """What a runtime declaring `Capability.FIELD_MANAGERS` offers beside `Runtime`."""

    def field_managers(self, resources: Sequence[Resource]) -> Mapping[str, tuple[FieldOwner, ...]]:
        """Who set each field of the live objects, by resource ID (none where nothing is live)."""
        ...


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """What the bot hands every runtime plug-in once.

    `env`: the process environment, for an outside plug-in's own variables and as the parent
    of the environment of processes a runtime starts (built with `bot.core.childenv`).
    Shipmate's own runtimes read nothing else from it: their settings are `options`. `cache_dir`: a
    directory the plug-in may keep working copies under. `scratch_dir`: a long-running bot's
    directory for per-stack scratch space (`RuntimeTarget.scratch_dir`), or None for
    temporary directories. `base_dir`: where relative paths of a workspace context are
    resolved (the config repository on the CLI). `concurrency`: how many calls a runtime may
    make at once. `options`: settings Shipmate read for its runtimes, by group name
    (`terraform`: a `bot.settings.TerraformOptions`, `kubernetes`: a
    `bot.settings.KubernetesOptions`)."""

    env: Mapping[str, str]
    cache_dir: Path
    concurrency: int = 10
    base_dir: Path | None = None
    scratch_dir: Path | None = None
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuntimeTarget:
    """The stack a runtime is built for: its identity and its workspace's context (credentials,
    kubeconfig, provider settings). `scratch_dir`: a directory of the runtime's own for this
    stack and context that outlives it (long-running bot), or None. `resolve_secret`: how the
    runtime turns a `ref://` reference it holds (a host's credentials) into its value at
    connection time, or None when the stack has no secret store."""

    project: str
    stack: str
    workspace: str
    context: Mapping[str, Any]
    scratch_dir: Path | None = None
    resolve_secret: Callable[[str], str] | None = None
    """Resolves a `ref://` reference through the stack's workspace secret store; the value is
    masked everywhere from then on; raises ConfigError naming the reference when it cannot."""


RuntimeBuilder = Callable[[RuntimeTarget], Runtime]


@dataclass(frozen=True, slots=True)
class RuntimePlugin:
    """A runtime as a package declares it: the resource type it serves, its capabilities, and
    `configure`, which turns the bot's settings into a builder of one stack's `Runtime`.

    `configure` runs once, when the bot starts (a bad setting fails there); the builder runs
    the first time a stack needs a resource of this type."""

    type: str
    capabilities: frozenset[Capability]
    configure: Callable[[RuntimeSettings], RuntimeBuilder]


class RuntimeLoadError(ShipmateError):
    """An installed runtime plug-in is broken (its entry point does not load, is not a
    `RuntimePlugin`, or declares something Shipmate does not know)."""

    exit_code = 2


def checked_plugin(name: str, loaded: object) -> RuntimePlugin:
    """The plug-in an entry point named `name` gave, checked (a factory returning one is called),
    with its capabilities as `Capability` values; ValueError says what is wrong."""
    plugin = loaded() if callable(loaded) else loaded
    if not isinstance(plugin, RuntimePlugin):
        raise ValueError(f"expected a bot.core.runtimes.RuntimePlugin, got {type(plugin).__name__}")
    if not plugin.type or plugin.type != name:
        raise ValueError(f"the entry point's name must be the resource type it serves, {plugin.type!r}")
    unknown = sorted(str(c) for c in plugin.capabilities if c not in set(Capability))
    if unknown:
        known = ", ".join(c.value for c in Capability)
        raise ValueError(f"unknown capabilities {', '.join(unknown)} (known: {known})")
    if not callable(plugin.configure):
        raise ValueError("configure is not callable")
    return RuntimePlugin(plugin.type, frozenset(Capability(c) for c in plugin.capabilities), plugin.configure)


class StackRuntimes(Mapping[str, Runtime]):
    """One stack's runtimes by resource type, each built on first use (a stack of one type
    never needs another type's credentials), and the capabilities each declares."""

    def __init__(
        self,
        builders: Mapping[str, Callable[[], Runtime]],
        capabilities: Mapping[str, Iterable[Capability]],
    ) -> None:
        self._builders = dict(builders)
        self._capabilities = {t: frozenset(capabilities.get(t, ())) for t in self._builders}
        self._built: dict[str, Runtime] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(
        cls, runtimes: Mapping[str, Runtime], capabilities: Mapping[str, Iterable[Capability]] | None = None
    ) -> StackRuntimes:
        """Runtimes already built, with what they declare (none unless given)."""
        return cls({t: _built(r) for t, r in runtimes.items()}, capabilities or {})

    def __getitem__(self, key: str) -> Runtime:
        with self._lock:
            if key not in self._built:
                self._built[key] = self._builders[key]()
            return self._built[key]

    def __contains__(self, key: object) -> bool:
        return key in self._builders  # without building it

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def declares(self, resource_type: str, capability: Capability) -> bool:
        """Whether the runtime of `resource_type` declares `capability` (False for no runtime)."""
        return capability in self._capabilities.get(resource_type, frozenset())

    def having(self, capability: Capability) -> frozenset[str]:
        """The resource types whose runtime declares `capability`."""
        return frozenset(t for t, caps in self._capabilities.items() if capability in caps)


def check_imports(resources: Iterable[Resource], runtimes: StackRuntimes) -> None:
    """PlanError when a resource asks to be imported (`kusionstack.io/import-id`) by a runtime
    that does not declare `import`: it would create or overwrite what it was meant to adopt."""
    refused = sorted(
        r.id for r in resources
        if r.extensions.get(EXT_IMPORT_ID) and r.type in runtimes and not runtimes.declares(r.type, Capability.IMPORT)
    )
    if refused:
        raise PlanError(f"the runtime of {', '.join(refused)} cannot import existing objects (no 'import' capability)")


def _built(runtime: Runtime) -> Callable[[], Runtime]:
    return lambda: runtime
