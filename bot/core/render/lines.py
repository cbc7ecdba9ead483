"""Values and field diffs as lines of text, shared by the terminal and Markdown renderings.

Values print as block YAML with sorted keys. A string stays plain when YAML would read it back
as the same string (`nginx:1.25`, `hello world`) and is double-quoted otherwise (`"3"`,
`"true"`, `""`, `"a: b"`, anything with a newline), so a type change never looks like no
change and every value stays on one line.

A field diff prints as a hunk: `@@ <path> @@` (with `(added)` / `(removed)` when one side is
missing), then `-` lines for the old value and `+` lines for the new one. A created or deleted
resource is the whole object as `+` or `-` lines. In a Replace, a hunk under an attribute that
forces the replacement says so, as Terraform does: `@@ triggers.version (forces replacement) @@`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.preview.model import ChangeStep, DiffKind, FieldDiff, Path, format_path

_RESERVED = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`=~")
_NUMBER_LIKE = re.compile(
    r"^[-+]?(\.?\d[\d_]*(\.[\d_]*)?([eE][-+]?\d+)?|0[xXoObB][0-9a-fA-F_]+|\.(inf|nan))$"
    r"|^[-+]?\d[\d_]*(:[0-5]?\d)+(\.\d*)?$"
    r"|^\d{4}-\d\d?-\d\d?",
    re.IGNORECASE,
)


def _plain(text: str) -> bool:
    """Whether YAML reads `text` back, unquoted, as this very string."""
    return bool(
        text
        and text == text.strip()
        and text.isprintable()
        and (text[0] not in _INDICATORS or (text[0] in "-?:" and text[1:2] not in ("", " ")))
        and text.lower() not in _RESERVED
        and ": " not in text
        and " #" not in text
        and not text.endswith(":")
        and not _NUMBER_LIKE.match(text)
    )


def scalar(value: Any) -> str:
    if isinstance(value, str):
        return value if _plain(value) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _key(key: Any) -> str:
    return scalar(str(key))


def value_lines(value: Any) -> list[str]:
    """`value` as block YAML lines (no trailing newline); a scalar is one line."""
    out: list[str] = []
    _emit(value, 0, out)
    return out


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            out.append(pad + "{}")
            return
        for k in sorted(value, key=str):
            _emit_entry(pad + _key(k) + ":", value[k], indent, out)
        return
    if isinstance(value, list | tuple):
        if not value:
            out.append(pad + "[]")
            return
        for item in value:
            _emit_item(item, indent, out)
        return
    out.append(pad + scalar(value))


def _emit_entry(head: str, value: Any, indent: int, out: list[str]) -> None:
    if isinstance(value, Mapping) and value:
        out.append(head)
        _emit(value, indent + 2, out)
    elif isinstance(value, list | tuple) and value:
        out.append(head)
        _emit(value, indent, out)
    else:
        out.append(head + " " + value_lines(value)[0])


def _emit_item(item: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(item, Mapping) and item:
        sub: list[str] = []
        _emit(item, indent + 2, sub)
        out.append(pad + "- " + sub[0][indent + 2 :])
        out.extend(sub[1:])
    elif isinstance(item, list | tuple) and item:
        sub = []
        _emit(item, indent + 2, sub)
        out.append(pad + "- " + sub[0][indent + 2 :])
        out.extend(sub[1:])
    else:
        out.append(pad + "- " + value_lines(item)[0])


FORCES = " (forces replacement)"


def field_diff_lines(d: FieldDiff, forces: tuple[Path, ...] = ()) -> list[str]:
    out: list[str] = []
    if d.path:
        label = format_path(d.path)
        suffix = {DiffKind.ADDED: " (added)", DiffKind.REMOVED: " (removed)"}.get(d.kind, "")
        if forced(d.path, forces):
            suffix += FORCES
        out.append(f"@@ {label}{suffix} @@")
    elif d.kind is DiffKind.CHANGED:
        out.append("@@ (sensitive values) @@")
    if d.kind is not DiffKind.ADDED:
        out.extend("- " + line for line in value_lines(d.before))
    if d.kind is not DiffKind.REMOVED:
        out.extend("+ " + line for line in value_lines(d.after))
    return out


def forced(path: Path, forces: tuple[Path, ...]) -> bool:
    """Whether `path` lies at or under (or above) an attribute that forces a replacement."""
    return any(path[: len(f)] == f or f[: len(path)] == path for f in forces if f)


def diff_lines(diffs: Iterable[FieldDiff], forces: tuple[Path, ...] = ()) -> list[str]:
    out: list[str] = []
    for d in diffs:
        out.extend(field_diff_lines(d, forces))
    return out


def step_diff_lines(step: ChangeStep) -> list[str]:
    return diff_lines(step.diffs, step.forces)


def forced_by(step: ChangeStep) -> str:
    """`triggers, ami`: the attributes forcing a Replace, "" when none is named."""
    return ", ".join(format_path(f) for f in step.forces if f)


def field_count(step: ChangeStep) -> int:
    """How many fields an Update or Replace changes (0 for a whole object created or deleted)."""
    return sum(1 for d in step.diffs if d.path) if step.diffs else 0
