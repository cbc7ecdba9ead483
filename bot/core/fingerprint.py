"""What an approval is given for: the fingerprint of one stack's preview.

A preview of a stack is fingerprinted from four parts, each a SHA-256 of canonical JSON
(keys sorted, no whitespace, UTF-8), so the same inputs give the same digest whatever order
the mappings were built in:

- `commit`: the head commit the preview ran on;
- `spec`: the generated Spec (resources, secret store, context; secrets already masked);
- `changes`: the change set (each step's ID, action, field differences and forced paths);
- `live`: the live state the preview read, as the change set holds it (each step's
  normalised live object, None where nothing exists live).

`value` joins the four. Beside them, `pending` digests only the steps that change something
(each with its field differences, before and after): what the preview would do, whatever else
the stack holds. It is not part of `value`; a merge whose apply waited in the lock queue
(`bot.app.queued_merges`) goes ahead on it, since by its turn the stack's other resources, the
commit and the live state of what it does not touch have moved with the holder's apply. The state branch keeps it with the pull request's latest preview
(`previews/<pr>.yaml`); `/apply` and the apply of a merge compute it again before anything
changes and go ahead only when it is what the approvers saw. `changed` names the parts that
differ, so a refusal can say whether the cluster or the configuration moved.

Outputs of other stacks (`$kusion_stack.<project>/<stack>.<id>.<attr>`, `bot.core.stackoutputs`)
are fingerprinted as written, not as resolved: the `spec` part is the Spec before they are
filled in, and a change whose field holds one records the reference as its new value
(`references`). What an approver sees for such a field is "the value that stack records", known
after the dependency applies; the dependency's own preview pins what it will change. (A
reference inside a list item keyed by name is compared by its value.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core.preview.model import ChangeSet, format_path
from bot.core.spec import Spec

PARTS = ("commit", "spec", "changes", "live")


def canonical(value: Any) -> bytes:
    """`value` as canonical JSON: sorted keys, no whitespace, UTF-8; anything JSON has no
    type for (a tuple is a list) is written as its `str`."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=str).encode()


def digest(value: Any) -> str:
    """The SHA-256 of `value`'s canonical JSON, as `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(canonical(value)).hexdigest()


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The digests of one stack's preview (see the module docstring)."""

    commit: str
    spec: str
    changes: str
    live: str
    pending: str = ""  # the changed steps only (not in `value`; see the module docstring)

    @property
    def value(self) -> str:
        """The one digest an approval is pinned to."""
        return digest([self.commit, self.spec, self.changes, self.live])

    def to_dict(self) -> dict[str, str]:
        out = {"value": self.value, "commit": self.commit, "spec": self.spec,
               "changes": self.changes, "live": self.live}
        return {**out, "pending": self.pending} if self.pending else out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint | None:
        """The fingerprint a record holds; None when a part is missing (an older record)."""
        parts = [data.get(part) for part in PARTS]
        if not all(isinstance(part, str) and part for part in parts):
            return None
        pending = data.get("pending")
        commit, spec, changes, live = (str(part) for part in parts)
        return cls(commit, spec, changes, live, pending if isinstance(pending, str) else "")

    def changed(self, other: Fingerprint) -> tuple[str, ...]:
        """The parts (`commit`, `spec`, `changes`, `live`) where `other` differs, in that order."""
        return tuple(part for part in PARTS if getattr(self, part) != getattr(other, part))


References = Mapping[str, Mapping[tuple[str | int, ...], str]]  # resource ID -> path -> reference


def changes_of(changeset: ChangeSet, references: References | None = None) -> list[dict[str, Any]]:
    """The change set as plain data: what would be done to each resource, step by step; a
    field holding one of `references` has the reference as its new value."""
    refs = references or {}
    return [
        {"id": step.id, "action": str(step.action), "note": step.note,
         "diffs": [{"path": format_path(d.path), "kind": str(d.kind), "before": d.before,
                    "after": _reference_at(refs, step.id, d.path, d.after)}
                   for d in step.diffs],
         "forces": [format_path(p) for p in step.forces]}
        for step in sorted(changeset.steps, key=lambda s: s.id)
    ]


def _reference_at(refs: References, resource: str, path: Sequence[object], value: Any) -> Any:
    """`value` (a diff's new value at `path`) with every reference at or below `path` put back
    as written."""
    at = refs.get(resource)
    if not at or not all(isinstance(seg, str | int) for seg in path):
        return value
    prefix = tuple(path)
    for where, written in at.items():
        if where[:len(prefix)] == prefix:
            value = _put(value, where[len(prefix):], written)
    return value


def _put(node: Any, path: tuple[str | int, ...], written: str) -> Any:
    """A copy of `node` with `written` at `path`; `node` itself when `path` is not in it."""
    if not path:
        return written
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping) and isinstance(head, str) and head in node:
        return {**node, head: _put(node[head], rest, written)}
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        return [*node[:head], _put(node[head], rest, written), *node[head + 1:]]
    return node


def live_of(changeset: ChangeSet) -> dict[str, Any]:
    """The live state the change set was computed against: each resource's normalised live
    object (a step's `from_`), None for a resource that does not exist live."""
    return {step.id: (step.from_.attributes if step.from_ is not None else None) for step in changeset.steps}


def of(commit: str, spec: Spec, changeset: ChangeSet, references: References | None = None) -> Fingerprint:
    """The fingerprint of a preview of `spec` (as written) at `commit` that produced
    `changeset`; `references`: where `spec` reads other stacks' outputs."""
    pending = replace(changeset, steps=changeset.changed_steps())
    return Fingerprint(digest(commit), digest(spec.to_dict()), digest(changes_of(changeset, references)),
                       digest(live_of(changeset)), digest(changes_of(pending, references)))
