"""The values a preview produces: actions, field-level diffs, change steps and change sets.

Kusion's vocabulary is kept on purpose (`Create`, `Update`, `Delete`, `UnChanged`, a step's
`from` is the live object and its `to` the dry-run result), so `kusion preview -o json`
consumers read Shipmate's output unchanged.

A field path is a tuple of segments: a mapping key (`str`), a list index (`int`), or a
`KeySelector` naming the element of a set-like list by its merge key, e.g.
`("spec", "template", "spec", "containers", KeySelector((("name", "app"),)), "image")`, which
reads `spec.template.spec.containers[name=app].image`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.spec import Resource


class Action(StrEnum):
    """What applying would do to one resource (Kusion's spelling)."""

    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    UNCHANGED = "UnChanged"
    # Deleted and created again (Terraform's -/+): an attribute that cannot change in place
    # changed (`ChangeStep.forces`). Kusion has no such action: `-o json` prints it as Update.
    REPLACE = "Replace"

    @property
    def symbol(self) -> str:
        """Terraform's plan symbol: `+`, `~`, `-`, `-/+`, or a blank for UnChanged."""
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.UNCHANGED: " ", Action.REPLACE: "-/+",
}


class DiffKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True, order=True)
class KeySelector:
    """The element of a set-like list whose key fields have these values."""

    fields: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return "[" + ",".join(f"{k}={_scalar(v)}" for k, v in self.fields) + "]"


Segment = str | int | KeySelector
Path = tuple[Segment, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _scalar(value: Any) -> str:
    if isinstance(value, str) and _PLAIN_KEY.match(value):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def format_path(path: Path) -> str:
    """`spec.template.spec.containers[name=app].image`; odd keys are quoted: `a["x.y/z"]`."""
    out: list[str] = []
    for seg in path:
        if isinstance(seg, KeySelector):
            out.append(str(seg))
        elif isinstance(seg, int):
            out.append(f"[{seg}]")
        elif _PLAIN_KEY.match(seg):
            out.append(("." if out else "") + seg)
        else:
            out.append("[" + json.dumps(seg, ensure_ascii=False) + "]")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One changed field: `before` is absent for ADDED, `after` for REMOVED.

    The empty path stands for the whole object (a created or deleted resource).
    """

    path: Path
    kind: DiffKind
    before: Any = None
    after: Any = None

    @property
    def dotted(self) -> str:
        return format_path(self.path)


# A concrete path into a JSON value: keys and list indexes only (no selectors).
ConcretePath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ChangeStep:
    """The planned change of one resource.

    `from_` is the live object (None when creating), `to` the dry-run result (None when
    deleting); both are normalised (server-populated and ignored fields removed). `sensitive`
    holds attribute paths the runtime marked sensitive (Terraform), applied to both sides by
    masking. `note` explains an unusual decision (an imported resource left in place).
    `forces` holds, for a Replace, the attribute paths whose change forces it (Terraform's
    `replace_paths`; empty when something else does, e.g. a tainted resource).
    """

    id: str
    action: Action
    from_: Resource | None
    to: Resource | None
    diffs: tuple[FieldDiff, ...] = ()
    sensitive: frozenset[ConcretePath] = frozenset()
    note: str = ""
    forces: tuple[Path, ...] = ()

    @property
    def resource(self) -> Resource:
        """The resource this step is about: `to` if there is one, otherwise `from_`."""
        res = self.to if self.to is not None else self.from_
        assert res is not None, f"change step {self.id} has neither from nor to"
        return res


@dataclass(frozen=True, slots=True)
class Counts:
    create: int = 0
    update: int = 0
    delete: int = 0
    unchanged: int = 0
    replace: int = 0

    @property
    def changes(self) -> int:
        return self.create + self.update + self.delete + self.replace

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.create + other.create,
            self.update + other.update,
            self.delete + other.delete,
            self.unchanged + other.unchanged,
            self.replace + other.replace,
        )

    def summary(self) -> str:
        """`2 to create, 1 to update, 0 to delete, 5 unchanged`; `1 to replace` follows the
        updates only when something is replaced."""
        replaced = f"{self.replace} to replace, " if self.replace else ""
        return (
            f"{self.create} to create, {self.update} to update, {replaced}"
            f"{self.delete} to delete, {self.unchanged} unchanged"
        )


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Every step of one stack's preview, in a deterministic order (dependencies first,
    deletions last with dependents before their dependencies). `masked` is set once secret
    values have been replaced (see `bot.core.mask`).

    `api_objects`: the resource types the preview was told are API objects (their runtime
    declares `api-objects`), so that whoever masks or renders the change set later, without
    the runtimes at hand, treats them as the preview did; None when it was not told (see
    `bot.core.preview.normalize.api_object` and `bot.core.mask`)."""

    steps: tuple[ChangeStep, ...] = ()
    project: str = ""
    stack: str = ""
    workspace: str = ""
    masked: bool = False
    api_objects: frozenset[str] | None = None

    @property
    def step_keys(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.steps)

    def by_id(self) -> dict[str, ChangeStep]:
        return {s.id: s for s in self.steps}

    def counts(self) -> Counts:
        n = {a: 0 for a in Action}
        for step in self.steps:
            n[step.action] += 1
        return Counts(n[Action.CREATE], n[Action.UPDATE], n[Action.DELETE], n[Action.UNCHANGED], n[Action.REPLACE])

    @property
    def has_changes(self) -> bool:
        return any(s.action is not Action.UNCHANGED for s in self.steps)

    def changed_steps(self) -> tuple[ChangeStep, ...]:
        return tuple(s for s in self.steps if s.action is not Action.UNCHANGED)


def total_counts(changesets: Iterable[ChangeSet]) -> Counts:
    total = Counts()
    for cs in changesets:
        total = total + cs.counts()
    return total
