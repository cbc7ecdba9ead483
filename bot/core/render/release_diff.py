"""`shipmate release diff A B` as text and as JSON (golden files in tests/cli/golden/release).

Text:

    shop/prod: r1 → r3
    release  phase: "succeeded" → "applying"
    spec     1 added, 1 changed, 0 removed
      + v1:Secret:shop:db
      ~ v1:ConfigMap:shop:web
          attributes.data.greeting: "hello" → "hi"
    state    no change

Values are shown as compact JSON, cut at 120 characters.
"""

from __future__ import annotations

import json as _json
from typing import Any

from bot.core.release_diff import FieldChange, ReleaseDiff, SectionDiff
from bot.core.render import comment

_SIGN = {"added": "+", "removed": "-", "changed": "~"}
_MAX_VALUE = 120


def text(diff: ReleaseDiff) -> str:
    out = [f"{diff.project}/{diff.workspace}: r{diff.before} → r{diff.after}"]
    if diff.empty:
        out.append("no difference")
        return "\n".join(out) + "\n"
    if diff.release:
        out.append("release")
        out.extend(f"    {_field(change)}" for change in diff.release)
    for name, section in (("spec", diff.spec), ("state", diff.state)):
        out.extend(_section(name, section))
    return "\n".join(out) + "\n"


def json(diff: ReleaseDiff) -> str:
    return _json.dumps(data(diff), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def data(diff: ReleaseDiff) -> dict[str, Any]:
    """The JSON form's document (the read API answers it as it is)."""

    def fields(changes: tuple[FieldChange, ...]) -> list[dict[str, Any]]:
        return [{"path": list(c.path), "kind": c.kind, "before": c.before, "after": c.after} for c in changes]

    def section(s: SectionDiff) -> list[dict[str, Any]]:
        return [{"id": c.id, "kind": c.kind, **({"fields": fields(c.fields)} if c.fields else {})}
                for c in s.changes]

    return {
        "project": diff.project, "workspace": diff.workspace, "from": diff.before, "to": diff.after,
        "release": fields(diff.release), "spec": section(diff.spec), "state": section(diff.state),
    }


def _section(name: str, section: SectionDiff) -> list[str]:
    if not section.changes:
        return [f"{name:<8} no change"]
    counts = ", ".join(f"{section.count(kind)} {kind}" for kind in ("added", "changed", "removed"))
    out = [f"{name:<8} {counts}"]
    for change in section.changes:
        out.append(f"  {_SIGN[change.kind]} {change.id}")
        out.extend(f"      {_field(field)}" for field in change.fields)
    return out


def _field(change: FieldChange) -> str:
    if change.kind == "added":
        return f"{change.dotted}: + {_value(change.after)}"
    if change.kind == "removed":
        return f"{change.dotted}: - {_value(change.before)}"
    return f"{change.dotted}: {_value(change.before)} → {_value(change.after)}"


def _value(value: Any) -> str:
    shown = _json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    return comment.clip(shown, _MAX_VALUE)
