"""The three-way preview: prior (latest release state), planned (the Spec), live (the runtime).

Kusion's rules, per resource:

- in the prior state but not in the Spec (no plan) → **Delete**; an imported resource
  (`extensions["kusionstack.io/import-id"]`) is never deleted, only released: **UnChanged**;
- no live object → **Create** (`to` is the planned object, not dry-run, as in Kusion: a
  server-defaulted manifest would bury what the Spec says);
- otherwise the runtime's dry-run result is compared with the live object after normalisation
  (`normalize`): different → **Update**, the same → **UnChanged**.

What normalisation does depends on whether a type's resources are API objects, which the
caller says with `api_objects` (the types whose runtime declares `api-objects`; see
`normalize.api_object` for a caller that does not say); the change set carries them for
masking later.

An imported resource with no prior state uses its live object as prior, so the runtime's
three-way merge treats what exists as already owned.

Runtimes are called in batches, one `read` and one `dry_run` per resource type and reference
stage (see `preview`); the engine
does nothing else that touches the world, so `changeset_from` (the same computation over
already-fetched `live` and `dry_run` maps) is what tests and benchmarks call directly.

A runtime may report which attributes are sensitive by adding the reserved key
`SENSITIVE_KEY` (`"__sensitive__"`) to a returned object, holding a tree shaped like the
value with `true` at each sensitive leaf or subtree (Terraform's `sensitive_values`). The
engine removes the key and records the paths on the step for `bot.core.mask`. A dry-run
object carrying `REPLACE_KEY` (the attribute paths forcing a replacement) is a **Replace**.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from bot.core import graph
from bot.core.errors import PlanError, RuntimeFailed
from bot.core.ports import KNOWN_AFTER_APPLY, REPLACE_KEY, SENSITIVE_KEY, Runtime
from bot.core.preview import fields, normalize
from bot.core.preview.model import (
    Action,
    ChangeSet,
    ChangeStep,
    ConcretePath,
    DiffKind,
    FieldDiff,
)
from bot.core.spec import EXT_IMPORT_ID, Resource, Spec, State

JSON = Mapping[str, Any]
IMPORTED_NOTE = "imported resource: not in the Spec any more; left in place, removed from state"
GONE_NOTE = "not found live; only removed from state"


def preview(
    spec: Spec,
    prior: State,
    runtimes: Mapping[str, Runtime],
    ignore_fields: Iterable[str] = (),
    *,
    batched: Collection[str] = frozenset(),
    api_objects: Collection[str] | None = None,
    project: str = "",
    stack: str = "",
    workspace: str = "",
) -> ChangeSet:
    """Read live objects, dry-run what exists, and compute the change set.

    `$kusion_path` references are resolved as the apply would resolve them: resources are
    read and dry-run in reference stages, and a reference takes the dry-run value of what it
    names (`KNOWN_AFTER_APPLY` when that value only exists after the apply). References
    between resources of one `batched` type (whose runtime declares `batch`, as Terraform
    does) share a stage and are left to the runtime, which plans them as native interpolations.
    The resources of an `api_objects` type (whose runtime declares `api-objects`) are
    normalised as API objects (`normalize`).
    """
    planned = _unique(spec)
    prior_by_id = prior.by_id()
    removed = [r for r in prior.resources if r.id not in planned]
    _check_runtimes([*spec.resources, *removed], runtimes)

    live: dict[str, JSON | None] = {}
    dry: dict[str, JSON] = {}
    known: dict[str, Mapping[str, Any]] = {}
    resolved: dict[str, Resource] = {}
    stages, referring = _reference_stages(spec.resources, batched)
    unread = _by_type(removed)
    for stage in stages:
        for rtype, batch in _by_type(stage).items():
            inside = {r.id for r in batch} if rtype in batched else set()
            # A reference takes the dry-run (or planned) value of what it names, else its
            # recorded one.
            sources = {**{i: r.attributes for i, r in prior_by_id.items()}, **known} if referring else {}
            batch = [
                _with_attributes(r, graph.resolve(r.attributes, sources, inside=inside, strict=False,
                                                  unknown=KNOWN_AFTER_APPLY))
                if r.id in referring
                else r
                for r in batch
            ]
            resolved.update((r.id, r) for r in batch)
            to_read = [*batch, *unread.pop(rtype, [])]  # deleted ones ride along the first read
            got = runtimes[rtype].read(to_read, prior)
            live.update(_complete(got, to_read, rtype, "read"))
            # Imported resources without prior state take their live object as prior.
            adopted = [
                Resource(r.id, r.type, dict(_strip_marker(live[r.id]) or {}), r.depends_on, r.extensions)
                for r in batch
                if r.extensions.get(EXT_IMPORT_ID) and r.id not in prior_by_id and live.get(r.id) is not None
            ]
            dry_prior = State.of([*prior.resources, *adopted]) if adopted else prior
            existing = [r for r in batch if live.get(r.id) is not None]
            if existing:
                got_dry = runtimes[rtype].dry_run(existing, dry_prior)
                for rid, obj in _complete(got_dry, existing, rtype, "dry-run").items():
                    if obj is None:
                        raise RuntimeFailed(f"the {rtype} runtime returned no dry-run result for {rid}")
                    dry[rid] = obj
            for r in batch:
                known[r.id] = _strip_marker(dry.get(r.id)) or r.attributes
    for rtype, batch in unread.items():
        live.update(_complete(runtimes[rtype].read(batch, prior), batch, rtype, "read"))

    resolved_spec = Spec(
        tuple(resolved.get(r.id, r) for r in spec.resources), spec.secret_store, spec.context, spec.kind_order
    )
    return changeset_from(
        resolved_spec, prior, live, dry, ignore_fields, api_objects=api_objects,
        project=project, stack=stack, workspace=workspace,
    )


def _reference_stages(
    resources: Sequence[Resource], batched: Collection[str]
) -> tuple[list[list[Resource]], set[str]]:
    """Resources grouped so that each `$kusion_path` reference names an earlier stage (or a
    resource of the same stage and the same `batched` type as the referrer), and the IDs of
    the resources that hold a reference at all."""
    by_id = {r.id: r for r in resources}
    referring: set[str] = set()
    targets: dict[str, list[str]] = {}
    for r in resources:
        found, unknown = graph.referenced_ids(r.attributes, by_id)
        if found or unknown:
            referring.add(r.id)
        targets[r.id] = found
    grouped = graph.stages(targets, {r.id: r.type for r in resources}, batched)
    return [[by_id[i] for i in stage] for stage in grouped], referring


def preview_destroy(
    prior: State,
    runtimes: Mapping[str, Runtime],
    *,
    api_objects: Collection[str] | None = None,
    kind_order: Sequence[str] = (),
    project: str = "",
    stack: str = "",
    workspace: str = "",
) -> ChangeSet:
    """What destroying the stack would do: Delete every resource in the prior state except
    imported ones (UnChanged), dependents first (`kind_order`: the latest release's Spec's)."""
    _check_runtimes(prior.resources, runtimes)
    live: dict[str, JSON | None] = {}
    for rtype, batch in _by_type(prior.resources).items():
        live.update(_complete(runtimes[rtype].read(batch, prior), batch, rtype, "read"))
    steps = {r.id: _removed_step(r, live[r.id], (), api_objects) for r in prior.resources}
    order = _deletion_order(prior.resources, kind_order)
    return ChangeSet(tuple(steps[i] for i in order), project, stack, workspace, api_objects=_told(api_objects))


def changeset_from(
    spec: Spec,
    prior: State,
    live: Mapping[str, JSON | None],
    dry_run: Mapping[str, JSON],
    ignore_fields: Iterable[str] = (),
    *,
    api_objects: Collection[str] | None = None,
    project: str = "",
    stack: str = "",
    workspace: str = "",
) -> ChangeSet:
    """The change set from already-fetched live objects and dry-run results (both by ID).

    A planned resource missing from `live` counts as not existing; one that exists live must
    have a dry-run result.
    """
    ignore = normalize.parse_ignore_fields(ignore_fields)
    _unique(spec)
    steps: dict[str, ChangeStep] = {}
    for res in spec.resources:
        steps[res.id] = _planned_step(res, live.get(res.id), dry_run, ignore, api_objects)
    removed = [r for r in prior.resources if r.id not in steps]
    for res in removed:
        steps[res.id] = _removed_step(res, live.get(res.id), ignore, api_objects)
    order = _apply_order(spec.resources, spec.kind_order) + _deletion_order(removed, spec.kind_order)
    return ChangeSet(tuple(steps[i] for i in order), project, stack, workspace, api_objects=_told(api_objects))


def _told(api_objects: Collection[str] | None) -> frozenset[str] | None:
    return None if api_objects is None else frozenset(api_objects)


def _planned_step(
    res: Resource,
    live_obj: JSON | None,
    dry_run: Mapping[str, JSON],
    ignore: Sequence[Any],
    api_objects: Collection[str] | None,
) -> ChangeStep:
    if live_obj is None:
        to = _with_attributes(res, normalize.normalize_attributes(res.attributes, res.type, ignore, api_objects))
        created = (FieldDiff((), DiffKind.ADDED, after=dict(to.attributes)),)
        return ChangeStep(res.id, Action.CREATE, None, to, created)
    if res.id not in dry_run:
        raise RuntimeFailed(f"no dry-run result for {res.id}, which exists live")
    dry_obj = dry_run[res.id]
    sensitive = _sensitive_paths(live_obj) | _sensitive_paths(dry_obj)
    before = normalize.normalize_attributes(_strip_marker(live_obj), res.type, ignore, api_objects)
    after = normalize.normalize_attributes(_strip_marker(dry_obj), res.type, ignore, api_objects)
    from_ = _with_attributes(res, before)
    to = _with_attributes(res, after)
    # Fast path: most resources are unchanged and plain equality settles it. Otherwise the
    # field diff decides (it is empty exactly when the objects are equivalent).
    diffs = () if before == after else fields.diff(before, after, normalize.api_object(res.type, api_objects))
    forces = dry_obj.get(REPLACE_KEY)
    if forces is not None:
        paths = tuple(tuple(p) for p in forces if isinstance(p, list | tuple))
        return ChangeStep(res.id, Action.REPLACE, from_, to, diffs, sensitive, forces=paths)
    action = Action.UPDATE if diffs else Action.UNCHANGED
    return ChangeStep(res.id, action, from_, to, diffs, sensitive)


def _removed_step(
    res: Resource, live_obj: JSON | None, ignore: Sequence[Any], api_objects: Collection[str] | None
) -> ChangeStep:
    sensitive = _sensitive_paths(live_obj)
    source = _strip_marker(live_obj) if live_obj is not None else res.attributes
    shown = _with_attributes(res, normalize.normalize_attributes(source, res.type, ignore, api_objects))
    if res.extensions.get(EXT_IMPORT_ID):
        return ChangeStep(res.id, Action.UNCHANGED, shown, shown, (), sensitive, IMPORTED_NOTE)
    note = "" if live_obj is not None else GONE_NOTE
    diffs = (FieldDiff((), DiffKind.REMOVED, before=dict(shown.attributes)),)
    return ChangeStep(res.id, Action.DELETE, shown, None, diffs, sensitive, note)


def _unique(spec: Spec) -> dict[str, Resource]:
    out: dict[str, Resource] = {}
    for res in spec.resources:
        if res.id in out:
            raise PlanError(f"duplicate resource ID in the Spec: {res.id}")
        out[res.id] = res
    return out


def _with_attributes(res: Resource, attributes: Mapping[str, Any]) -> Resource:
    return Resource(res.id, res.type, attributes, res.depends_on, res.extensions)


def _strip_marker(obj: JSON | None) -> JSON | None:
    if obj is None or (SENSITIVE_KEY not in obj and REPLACE_KEY not in obj):
        return obj
    return {k: v for k, v in obj.items() if k not in (SENSITIVE_KEY, REPLACE_KEY)}


def _sensitive_paths(obj: JSON | None) -> frozenset[ConcretePath]:
    if obj is None or SENSITIVE_KEY not in obj:
        return frozenset()
    return fields.sensitive_paths(obj[SENSITIVE_KEY])


def _by_type(resources: Iterable[Resource]) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = {}
    for r in resources:
        out.setdefault(r.type, []).append(r)
    return dict(sorted(out.items()))


def _check_runtimes(resources: Iterable[Resource], runtimes: Mapping[str, Runtime]) -> None:
    missing: dict[str, list[str]] = {}
    for r in resources:
        if r.type not in runtimes:
            missing.setdefault(r.type, []).append(r.id)
    if missing:
        parts = [f"{t} (e.g. {sorted(ids)[0]})" for t, ids in sorted(missing.items())]
        raise PlanError("no runtime for resource type " + ", ".join(parts))


def _complete(
    got: Mapping[str, JSON | None], batch: Sequence[Resource], rtype: str, what: str
) -> dict[str, JSON | None]:
    out: dict[str, JSON | None] = {}
    for r in batch:
        if r.id not in got:
            raise RuntimeFailed(f"the {rtype} runtime returned no {what} result for {r.id}")
        out[r.id] = got[r.id]
    return out


def _apply_order(resources: Sequence[Resource], kind_order: Sequence[str]) -> list[str]:
    """IDs with dependencies first; ties (and anything left by a cycle) in ID order."""
    return list(graph.order(graph.resource_edges(resources, kind_order), strict=False))


def _deletion_order(resources: Sequence[Resource], kind_order: Sequence[str]) -> list[str]:
    """Dependents before what they depend on; among independent ones, ID order."""
    return list(graph.deletion_order(graph.resource_edges(resources, kind_order), strict=False))
