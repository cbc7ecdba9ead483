"""Secret masking: what no preview, comment, log line or Release file may show in clear.

Three sources of secrets:

- **Secrets among API objects** (`v1` `Secret` resources of a type whose runtime declares
  `api-objects`): every value under `data` and `stringData`, and the
  `kubectl.kubernetes.io/last-applied-configuration` annotation, which repeats them;
- **sensitive paths** a runtime reported (Terraform's sensitive values, see
  `bot.core.ports.SENSITIVE_KEY`), recorded on each `ChangeStep`, or kept in a State
  resource's `extensions[SENSITIVE_KEY]`;
- **literal secret values** of the workspace (context values whose keys are marked secret):
  any scalar that equals one, or contains one of at least `MIN_SUBSTRING_LENGTH` characters,
  is masked as a whole. Mapping keys and resource IDs are not searched.

A masked value becomes `MASK`. A change stays visible: on the `to` side of a step a
sensitive value that differs from the `from` side becomes `MASK_CHANGED`, so the diff reads
`(sensitive value)` → `(sensitive value, changed)` and never shows either value. Nothing is
hashed: a hash of a short secret can be brute-forced from a public comment.

Which types are API objects is `api_objects`, given the way the preview is given it: a
ChangeSet carries the set its preview was told (`ChangeSet.api_objects`), and a writer with
the stack's runtimes at hand (`bot.app.stacks.ReleaseRecorder`) passes
`StackRuntimes.having(Capability.API_OBJECTS)`. Where it is not known (None: the state
backend's own pass over every release it writes, a ChangeSet or a State masked by a caller
that was not told), a Secret must still never be shown, so masking goes by the data alone:
whatever is shaped like a `v1` `Secret` has its values masked, whatever its type (masking
more than needed is safe; showing a value is not). Lists are then keyed as the preview keys
them when not told (`bot.core.preview.normalize.api_object`).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from bot.core.ports import SENSITIVE_KEY
from bot.core.preview import fields, normalize
from bot.core.preview.model import (
    Action,
    ChangeSet,
    ChangeStep,
    ConcretePath,
    DiffKind,
    FieldDiff,
    KeySelector,
    Path,
)
from bot.core.release import Release
from bot.core.spec import Resource, Spec, State

MASK = "(sensitive value)"
MASK_CHANGED = "(sensitive value, changed)"
MIN_SUBSTRING_LENGTH = 4
MIN_LINE_LENGTH = 16
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True, slots=True)
class Literals:
    """Secret strings to hide wherever they occur in a value.

    `exact` holds the secrets themselves; `substrings` what is searched for in longer texts:
    every secret of at least `MIN_SUBSTRING_LENGTH` characters and the forms it takes when a
    tool prints it (JSON/HCL-escaped, URL-encoded, base64, and each long line of a multi-line
    secret such as a PEM key), longest first.
    """

    exact: frozenset[str] = frozenset()
    substrings: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[str] | Literals) -> Literals:
        if isinstance(secrets, Literals):
            return secrets
        values = frozenset(s for s in secrets if isinstance(s, str) and s)
        found: set[str] = set()
        for s in values:
            found.update(v for v in _forms(s) if len(v) >= MIN_SUBSTRING_LENGTH)
        return cls(values, tuple(sorted(found, key=lambda x: (-len(x), x))))

    def __bool__(self) -> bool:
        return bool(self.exact)

    def __or__(self, other: Literals) -> Literals:
        if not other.exact or other.exact <= self.exact:
            return self
        if not self.exact:
            return other
        return Literals.of(self.exact | other.exact)

    def hit(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return False
        text = value if isinstance(value, str) else str(value)
        return text in self.exact or any(s in text for s in self.substrings)

    def text(self, text: str) -> str:
        """`text` with every secret occurrence replaced by `MASK`, for free-form messages.

        Overlapping and adjacent occurrences (of one secret or several) become one `MASK`, so
        no character of any occurrence is left; masks already in the text are kept as they
        are, so masking twice changes nothing. A secret shorter than `MIN_SUBSTRING_LENGTH`
        is masked only when it is the whole text.
        """
        if not self.exact or not text:
            return text
        if text in self.exact:
            return MASK
        spans: list[tuple[int, int]] = []
        for s in self.substrings:
            start = text.find(s)
            run: tuple[int, int] | None = None
            while start != -1:
                end = start + len(s)
                if run is not None and start <= run[1]:
                    run = (run[0], end)
                else:
                    if run is not None:
                        spans.append(run)
                    run = (start, end)
                start = text.find(s, start + 1)
            if run is not None:
                spans.append(run)
        if not spans:
            return text
        kept = _marker_spans(text)
        spans = [sp for sp in spans if not any(a <= sp[0] and sp[1] <= b for a, b in kept)]
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        pos = 0
        cur_start, cur_end = spans[0]
        for a, b in spans[1:]:
            if a <= cur_end:
                cur_end = max(cur_end, b)
                continue
            out.extend((text[pos:cur_start], MASK))
            pos = cur_end
            cur_start, cur_end = a, b
        out.extend((text[pos:cur_start], MASK, text[cur_end:]))
        return "".join(out)


def _forms(secret: str) -> set[str]:
    """The secret and the forms a tool may print it in."""
    forms = {secret}
    forms.add(json.dumps(secret)[1:-1])  # JSON / HCL / Go %q escaping (\n, \", \\, \uXXXX)
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(quote(secret, safe=""))  # in a URL
    forms.add(quote(secret, safe="/:@"))
    if len(secret) >= MIN_SUBSTRING_LENGTH:
        forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    if "\n" in secret:  # a PEM key or certificate: each long line on its own
        forms.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_LINE_LENGTH)
    return forms


def _marker_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for marker in (MASK_CHANGED, MASK):
        start = text.find(marker)
        while start != -1:
            spans.append((start, start + len(marker)))
            start = text.find(marker, start + 1)
    return spans


class Masker:
    """Every secret this process knows, growing as they are learnt: Shipmate's own
    credentials (`own`: tokens, keys, webhook secrets, salt, installation tokens as they are
    minted) and the secrets of the stacks it loaded (workspace context secrets, resolved
    `ref://` values). One is built at the composition root and shared by everything that
    writes text out of the process (comments, statuses, commit messages, log records).

    Thread-safe. Stack secrets are bounded (`limit`, oldest forgotten first; own
    credentials are never forgotten), so a stream of pull requests cannot grow it forever.

    `lossless`: the resource types whose State entries are written as they are but for
    Shipmate's own credentials (their runtime declares `recorded-state`: it rebuilds its
    working copy from them, so a masked value would become the recorded one).
    """

    def __init__(
        self, own: Iterable[str] = (), secrets: Iterable[str] = (), *, limit: int = 1024,
        lossless: Iterable[str] = (),
    ) -> None:
        self.lossless = frozenset(lossless)
        self._lock = threading.Lock()
        self._limit = limit
        self._own: dict[str, None] = {}
        self._stack: dict[str, None] = {}
        self._own_lits = Literals()
        self._all_lits = Literals()
        self.add(own, own=True)
        self.add(secrets)

    def add(self, secrets: Iterable[str], *, own: bool = False) -> None:
        """Learn more secrets (`own`: Shipmate's credentials)."""
        values = [s for s in secrets if isinstance(s, str) and s]
        with self._lock:
            new = [s for s in values if s not in self._own and (own or s not in self._stack)]
            if not new:
                return
            for s in new:
                if own:
                    self._own[s] = None
                    self._stack.pop(s, None)
                else:
                    self._stack[s] = None
            while len(self._stack) > self._limit:
                del self._stack[next(iter(self._stack))]
            self._own_lits = Literals.of(self._own)
            self._all_lits = Literals.of([*self._own, *self._stack])

    @property
    def own(self) -> Literals:
        """Shipmate's own credentials only (also masked in `lossless` State entries)."""
        return self._own_lits

    @property
    def literals(self) -> Literals:
        """Every secret known."""
        return self._all_lits

    def with_(self, secrets: Iterable[str] | Literals) -> Literals:
        """Every secret known plus `secrets`."""
        return self._all_lits | Literals.of(secrets)

    def text(self, text: str) -> str:
        return self._all_lits.text(text)

    __call__ = text


def secret_paths(
    attributes: Mapping[str, Any] | None, resource_type: str, api_objects: Collection[str] | None = None
) -> frozenset[ConcretePath]:
    """Paths of a `v1` Secret's values: of a resource of one of the `api_objects` types, or,
    when they are not known (None), of anything shaped like a Secret (empty for anything else)."""
    if (
        attributes is None
        or (api_objects is not None and resource_type not in api_objects)
        or attributes.get("kind") != "Secret"
        or attributes.get("apiVersion", "v1") != "v1"
    ):
        return frozenset()
    out: set[ConcretePath] = set()
    for section in ("data", "stringData"):
        values = attributes.get(section)
        if isinstance(values, Mapping):
            out.update((section, str(k)) for k in values)
        elif values is not None:
            out.add((section,))
    meta = attributes.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
        out.add(("metadata", "annotations", LAST_APPLIED))
    return frozenset(out)


def mask_attributes(
    attributes: Mapping[str, Any],
    resource_type: str,
    secrets: Iterable[str] | Literals = (),
    sensitive: frozenset[ConcretePath] = frozenset(),
    *,
    api_objects: Collection[str] | None = None,
) -> Mapping[str, Any]:
    """One object with every secret value replaced by `MASK` (for Release state, logs)."""
    lits = secrets if isinstance(secrets, Literals) else Literals.of(secrets)
    paths = sensitive | secret_paths(attributes, resource_type, api_objects)
    if not paths and not lits:
        return attributes
    ctx = _Ctx(paths, lits, normalize.api_object(resource_type, api_objects), None)
    out = ctx.mask(attributes, (), (), None)
    return out if isinstance(out, Mapping) else {}


def mask_resource(
    resource: Resource,
    secrets: Iterable[str] | Literals = (),
    sensitive: frozenset[ConcretePath] = frozenset(),
    *,
    api_objects: Collection[str] | None = None,
) -> Resource:
    """A Resource safe to store or show: attributes masked, extensions searched for literals."""
    lits = secrets if isinstance(secrets, Literals) else Literals.of(secrets)
    sensitive = sensitive | _ext_paths(resource)
    attrs = mask_attributes(resource.attributes, resource.type, lits, sensitive, api_objects=api_objects)
    exts = _mask_literals(resource.extensions, lits)
    if attrs is resource.attributes and exts is resource.extensions:
        return resource
    return Resource(resource.id, resource.type, attrs, resource.depends_on, exts)


def mask_state(
    state: State, secrets: Iterable[str] | Literals = (), *, api_objects: Collection[str] | None = None
) -> State:
    lits = secrets if isinstance(secrets, Literals) else Literals.of(secrets)
    return State(tuple(mask_resource(r, lits, api_objects=api_objects) for r in state.resources))


def mask_step(
    step: ChangeStep, secrets: Iterable[str] | Literals = (), *, api_objects: Collection[str] | None = None
) -> ChangeStep:
    """A step whose from/to/diffs hide every secret but still show which ones changed
    (`api_objects`: as its change set's)."""
    lits = secrets if isinstance(secrets, Literals) else Literals.of(secrets)
    res = step.resource
    before = step.from_.attributes if step.from_ is not None else None
    after = step.to.attributes if step.to is not None else None
    paths = step.sensitive | secret_paths(before, res.type, api_objects) | secret_paths(after, res.type, api_objects)
    for side in (step.from_, step.to):
        if side is not None:
            paths |= _ext_paths(side)
    if not paths and not lits:
        return step
    keyed_lists = normalize.api_object(res.type, api_objects)
    m_before = None if before is None else _Ctx(paths, lits, keyed_lists, None).mask(before, (), (), None)
    m_after = (
        None if after is None else _Ctx(paths, lits, keyed_lists, _Other(before)).mask(after, (), (), None)
    )
    exts_from = None if step.from_ is None else _mask_literals(step.from_.extensions, lits)
    exts_to = None if step.to is None else _mask_literals(step.to.extensions, lits)
    same = (
        m_before is before
        and m_after is after
        and (step.from_ is None or exts_from is step.from_.extensions)
        and (step.to is None or exts_to is step.to.extensions)
    )
    if same:
        return step
    from_ = _rebuild(step.from_, m_before, exts_from)
    to = _rebuild(step.to, m_after, exts_to)
    return replace(step, from_=from_, to=to, diffs=_diffs(step.action, m_before, m_after, keyed_lists))


def mask_changeset(changeset: ChangeSet, secrets: Iterable[str] | Literals = ()) -> ChangeSet:
    """The change set with every step masked, its API objects being the ones it carries."""
    lits = secrets if isinstance(secrets, Literals) else Literals.of(secrets)
    if changeset.masked and not lits:
        return changeset
    steps = tuple(mask_step(s, lits, api_objects=changeset.api_objects) for s in changeset.steps)
    return replace(changeset, steps=steps, masked=True)


def mask_text(text: str, secrets: Iterable[str] | Literals) -> str:
    lits = secrets if isinstance(secrets, Literals) else Literals.of(secrets)
    return lits.text(text)


def mask_secret_store(store: Mapping[str, Any] | None, secrets: Iterable[str] | Literals = ()) -> Mapping[str, Any] | None:
    """A workspace secret store as it may be written: the values a `fake` provider holds
    inline are secrets themselves (the provider's address and options are not)."""
    if not store:
        return store
    lits = Literals.of(secrets)
    out: dict[str, Any] = {}
    for key, value in store.items():
        if isinstance(value, Mapping):
            out[key] = mask_secret_store(value, lits)
        elif isinstance(value, list):
            out[key] = [mask_secret_store(v, lits) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    if "key" in out and ("value" in out or "valueMap" in out):
        if "value" in out:
            out["value"] = MASK
        if isinstance(out.get("valueMap"), Mapping):
            out["valueMap"] = {k: MASK for k in out["valueMap"]}
    return _mask_literals(out, lits)


def mask_spec(
    spec: Spec, secrets: Iterable[str] | Literals = (), *, api_objects: Collection[str] | None = None
) -> Spec:
    """A Spec as it may be stored or shown: resources, secret store and context masked."""
    lits = Literals.of(secrets)
    return Spec(
        tuple(mask_resource(r, lits, api_objects=api_objects) for r in spec.resources),
        mask_secret_store(spec.secret_store, lits),
        _mask_literals(spec.context, lits) if spec.context else spec.context,
        spec.kind_order,
    )


def mask_release(
    release: Release,
    secrets: Iterable[str] | Literals = (),
    *,
    own: Iterable[str] | Literals = (),
    lossless: Collection[str] = frozenset(),
    api_objects: Collection[str] | None = None,
) -> Release:
    """A Release as it may be written: every field masked with `secrets` — the Spec, the
    state's entries, the error and the provenance (actor, commit).

    State entries of the `lossless` resource types stay lossless (their runtime rebuilds its
    working copy from them, as Terraform rebuilds `terraform.tfstate`); only the literals in
    `own` (Shipmate's own credentials, which no infrastructure may hold) are masked there too.
    `api_objects`: the types whose Secrets are masked (see the module docstring).
    """
    lits = Literals.of(secrets)
    return replace(
        release,
        spec=mask_spec(release.spec, lits, api_objects=api_objects),
        state=mask_stored_state(release.state, lits, own=own, lossless=lossless, api_objects=api_objects),
        error=lits.text(release.error) if release.error else release.error,
        actor=lits.text(release.actor),
        commit=lits.text(release.commit),
    )


def mask_stored_state(
    state: State,
    secrets: Iterable[str] | Literals = (),
    *,
    own: Iterable[str] | Literals = (),
    lossless: Collection[str] = frozenset(),
    api_objects: Collection[str] | None = None,
) -> State:
    """State as it may be written: see `mask_release`."""
    lits = Literals.of(secrets)
    own_lits = Literals.of(own)
    resources = tuple(
        (mask_lossless_entry(r, own_lits) if r.type in lossless else mask_resource(r, lits, api_objects=api_objects))
        for r in state.resources
    )
    if all(a is b for a, b in zip(resources, state.resources, strict=True)):
        return state
    return State(resources)


def mask_lossless_entry(resource: Resource, secrets: Iterable[str] | Literals) -> Resource:
    """A lossless State entry with `secrets` masked wherever they occur (attributes and the
    extensions alike, e.g. Terraform's raw tfstate instance); nothing else is touched."""
    lits = Literals.of(secrets)
    if not lits:
        return resource
    attrs = _mask_literals(resource.attributes, lits)
    exts = _mask_literals(resource.extensions, lits)
    if attrs is resource.attributes and exts is resource.extensions:
        return resource
    return Resource(resource.id, resource.type, attrs, resource.depends_on, exts)


class MaskCache:
    """`mask_release` and `mask_stored_state` for a writer that writes the same release again
    and again (an apply flushes it after every resource operation): the Spec and the state
    entries masked last are remembered by identity, with the values they were masked with,
    so a flush masks only what is new and its cost does not grow with the size of the stack.
    Not thread-safe: one per writer."""

    def __init__(self) -> None:
        self._spec: tuple[Spec, Spec, tuple[object, ...]] | None = None
        self._entries: dict[int, tuple[Resource, Resource, tuple[object, ...]]] = {}

    def state(
        self, state: State, secrets: Literals, own: Literals, lossless: Collection[str],
        api_objects: Collection[str] | None = None,
    ) -> State:
        how = (secrets, own, lossless, api_objects)
        entries: dict[int, tuple[Resource, Resource, tuple[object, ...]]] = {}
        resources = []
        for r in state.resources:
            hit = self._entries.get(id(r))
            if hit is not None and hit[0] is r and _same(hit[2], how):
                masked = hit[1]
            elif r.type in lossless:
                masked = mask_lossless_entry(r, own)
            else:
                masked = mask_resource(r, secrets, api_objects=api_objects)
            entries[id(r)] = (r, masked, how)
            resources.append(masked)
        self._entries = entries
        if all(a is b for a, b in zip(resources, state.resources, strict=True)):
            return state
        return State(tuple(resources))

    def release(
        self, release: Release, secrets: Literals, own: Literals, lossless: Collection[str],
        api_objects: Collection[str] | None = None,
    ) -> Release:
        cached = self._spec
        if cached is not None and cached[0] is release.spec and _same(cached[2], (secrets, api_objects)):
            spec = cached[1]
        else:
            spec = mask_spec(release.spec, secrets, api_objects=api_objects)
            self._spec = (release.spec, spec, (secrets, api_objects))
        return replace(
            release,
            spec=spec,
            state=self.state(release.state, secrets, own, lossless, api_objects),
            error=secrets.text(release.error) if release.error else release.error,
            actor=secrets.text(release.actor),
            commit=secrets.text(release.commit),
        )


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def mask_data(value: Any, secrets: Iterable[str] | Literals) -> Any:
    """Any YAML-like value with each string holding a secret masked as a whole."""
    lits = Literals.of(secrets)
    if not lits:
        return value
    return _Ctx(frozenset(), lits, False, None).mask(value, (), (), None)


# --- internals --------------------------------------------------------------------------------


def recovered_secrets(release: Release, recorded: frozenset[str]) -> frozenset[str]:
    """Secret values a stored release still knows: where its Spec holds a mask and the
    lossless State entry of the same resource holds a value at the same path (`recorded`: the
    resource types whose runtime keeps its state in the release, `recorded-state`).

    A stored release has its context masked, so an operation that starts from the backend
    alone (destroy, rollback) would otherwise mask against already-masked values."""
    found: set[str] = set()
    state = release.state.by_id()
    for resource in release.spec.resources:
        entry = state.get(resource.id)
        if resource.type in recorded and entry is not None and entry.type == resource.type:
            _unmasked_values(resource.attributes, entry.attributes, found)
    return frozenset(found)


def _unmasked_values(masked: object, clear: object, into: set[str]) -> None:
    if isinstance(masked, str):
        if masked in (MASK, MASK_CHANGED) and isinstance(clear, str | int | float) \
                and not isinstance(clear, bool) and str(clear) not in (MASK, MASK_CHANGED, ""):
            into.add(str(clear))
    elif isinstance(masked, Mapping) and isinstance(clear, Mapping):
        for key, value in masked.items():
            if key in clear:
                _unmasked_values(value, clear[key], into)
    elif isinstance(masked, list | tuple) and isinstance(clear, list | tuple):
        for item, other in zip(masked, clear, strict=False):
            _unmasked_values(item, other, into)


def holds_mask(value: object) -> bool:
    """Whether a stored value still holds a mask anywhere (a rollback must fill it from live)."""
    if isinstance(value, str):
        return value in (MASK, MASK_CHANGED)
    if isinstance(value, Mapping):
        return any(holds_mask(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_mask(v) for v in value)
    return False


def fill_masks(value: object, live: object, path: str = "") -> Any:
    """`value` with each masked leaf replaced by the live object's value at the same path."""
    if isinstance(value, str) and value in (MASK, MASK_CHANGED):
        if live is None or isinstance(live, Mapping | list):
            raise KeyError(path or "(root)")
        return live
    if isinstance(value, Mapping):
        source = live if isinstance(live, Mapping) else {}
        return {k: fill_masks(v, source.get(k), f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = live if isinstance(live, list) else []
        return [
            fill_masks(v, items[i] if i < len(items) else None, f"{path}[{i}]") for i, v in enumerate(value)
        ]
    return value


def _ext_paths(resource: Resource) -> frozenset[ConcretePath]:
    tree = resource.extensions.get(SENSITIVE_KEY)
    return fields.sensitive_paths(tree) if tree else frozenset()


def _rebuild(res: Resource | None, attrs: Any, exts: Mapping[str, Any] | None) -> Resource | None:
    if res is None:
        return None
    return Resource(res.id, res.type, attrs, res.depends_on, exts if exts is not None else {})


def _diffs(action: Action, before: Any, after: Any, keyed_lists: bool) -> tuple[FieldDiff, ...]:
    if action is Action.CREATE:
        return (FieldDiff((), DiffKind.ADDED, after=after),)
    if action is Action.DELETE:
        return (FieldDiff((), DiffKind.REMOVED, before=before),)
    if action is Action.UNCHANGED:
        return ()
    found = fields.diff(before, after, keyed_lists)
    # Only a secret changed and both sides mask alike: still say that something changed.
    return found or (FieldDiff((), DiffKind.CHANGED, before=MASK, after=MASK_CHANGED),)


def _mask_literals(value: Mapping[str, Any], lits: Literals) -> Mapping[str, Any]:
    if not lits or not value:
        return value
    out = _Ctx(frozenset(), lits, False, None).mask(value, (), (), None)
    return out if isinstance(out, Mapping) else value


@dataclass(frozen=True, slots=True)
class _Other:
    """The `from` side, to tell whether a sensitive value on the `to` side changed."""

    root: Any

    def at(self, keyed: Path) -> tuple[bool, Any]:
        node = self.root
        for seg in keyed:
            if isinstance(seg, KeySelector):
                if not isinstance(node, list):
                    return False, None
                names = tuple(k for k, _ in seg.fields)
                match = [
                    i
                    for i in node
                    if isinstance(i, Mapping) and normalize.selector(i, names) == seg
                ]
                if len(match) != 1:
                    return False, None
                node = match[0]
            elif isinstance(seg, int):
                if not isinstance(node, list) or seg >= len(node):
                    return False, None
                node = node[seg]
            else:
                if not isinstance(node, Mapping) or seg not in node:
                    return False, None
                node = node[seg]
        return True, node


@dataclass(frozen=True, slots=True)
class _Ctx:
    paths: frozenset[ConcretePath]
    lits: Literals
    keyed_lists: bool
    other: _Other | None

    def marker(self, value: Any, keyed: Path) -> str:
        if self.other is None:
            return MASK
        found, old = self.other.at(keyed)
        return MASK_CHANGED if found and old != value else MASK

    def mask(self, value: Any, path: ConcretePath, keyed: Path, field: str | None) -> Any:
        if path in self.paths:
            return self.marker(value, keyed)
        if isinstance(value, Mapping):
            out: dict[str, Any] | None = None
            for k, v in value.items():
                new = self.mask(v, (*path, k), (*keyed, k), k)
                if new is not v:
                    if out is None:
                        out = dict(value)
                    out[k] = new
            return value if out is None else out
        if isinstance(value, list):
            key = normalize.set_key(field, value) if self.keyed_lists else None
            items = []
            changed = False
            for i, v in enumerate(value):
                seg: int | KeySelector = i
                if key is not None:
                    sel = normalize.selector(v, key)
                    seg = sel if sel is not None else i
                new = self.mask(v, (*path, i), (*keyed, seg), None)
                changed = changed or new is not v
                items.append(new)
            return items if changed else value
        if self.lits and self.lits.hit(value):
            return self.marker(value, keyed)
        return value
