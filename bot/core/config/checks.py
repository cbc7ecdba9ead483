"""Field-by-field validation of plain YAML data, collecting every problem instead of stopping.

A `Checker` records `FieldProblem`s (a field path and a message saying what was expected);
whoever owns the located `Document` turns them into `file:line:col` problems with
`Checker.raise_for(doc)`. Modules use the same checker on their dev and platform configs,
so a mistake in `main.yaml` is reported at its place in the file whichever code found it.

KCL renders every schema instance with its full type path in `_type` (Kusion compiles with
`WithFullTypePath`, `pkg/engine/api/generate/run/run.go`), so containers, secrets, probes, ports
and every other nested block of a rendered `main.yaml` carry one. `Checker.fields` accepts
`_type` on any mapping it checks (and leaves it out of the "expected one of" list); a checker
for a file KCL never renders (`shipmate.yaml`) is made with `type_paths=False`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.errors import ConfigError, Problem
from bot.core.yamlio import Document, FieldPath, PathElem

MISSING: Any = object()
TYPE_KEY = "_type"  # KCL's full type path of a schema instance, e.g. service.container.Container

# Kubernetes' integer field types (an API server refuses numbers outside them).
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
PORT_MIN, PORT_MAX = 1, 65535


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """A problem at a field path, before it has a file position."""

    path: FieldPath
    message: str
    at_key: bool = False


def describe(value: Any) -> str:
    """How a value's type reads in a message: `a string`, `a list`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _shown(value: Any) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = repr(value) if isinstance(value, str) else str(value)
        return f" ({text})" if len(text) <= 40 else ""
    return ""


class Checker:
    """Collects problems while reading plain data; every accessor returns a usable value."""

    def __init__(self, type_paths: bool = True) -> None:
        self.problems: list[FieldProblem] = []
        self.type_paths = type_paths

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: Sequence[PathElem], message: str, at_key: bool = False) -> None:
        self.problems.append(FieldProblem(tuple(path), message, at_key))

    def extend(self, problems: Iterable[FieldProblem], prefix: Sequence[PathElem] = ()) -> None:
        for p in problems:
            self.problems.append(FieldProblem(tuple(prefix) + p.path, p.message, p.at_key))

    def wrong_type(self, path: Sequence[PathElem], expected: str, value: Any) -> None:
        self.add(path, f"expected {expected}, got {describe(value)}{_shown(value)}")

    # --- containers -----------------------------------------------------------------------

    def mapping(self, value: Any, path: Sequence[PathElem], optional: bool = True) -> dict[Any, Any]:
        """The value as a dict; null counts as empty when optional."""
        if value is None and optional:
            return {}
        if isinstance(value, dict):
            return value
        self.wrong_type(path, "a mapping", value)
        return {}

    def fields(
        self,
        data: Mapping[Any, Any],
        path: Sequence[PathElem],
        allowed: Iterable[str],
        required: Iterable[str] = (),
    ) -> None:
        """Report unknown keys (with a suggestion) and missing required keys. KCL's `_type` is
        known everywhere unless the checker was made with `type_paths=False`."""
        allowed_list = [key for key in allowed if key != TYPE_KEY]
        allowed_set = set(allowed_list)
        if self.type_paths:
            allowed_set.add(TYPE_KEY)
        for key in data:
            if key not in allowed_set:
                self.add(
                    (*path, key),
                    f"unknown field {key!r}{suggest(str(key), allowed_list)}; "
                    f"expected one of: {', '.join(sorted(allowed_list))}",
                    at_key=True,
                )
        for key in required:
            if key not in data:
                self.add(path, f"missing required field {key!r}")

    # --- scalars --------------------------------------------------------------------------

    def get(
        self,
        data: Mapping[Any, Any],
        key: str,
        path: Sequence[PathElem],
        kind: str,
        default: Any = None,
        required: bool = False,
    ) -> Any:
        """Read `data[key]` as `kind` (string, integer, number, boolean, mapping, list,
        string-map, string-list); wrong types and missing required keys are recorded."""
        if key not in data or data[key] is None:
            if required and key not in data:
                self.add(path, f"missing required field {key!r}")
            elif required:
                self.wrong_type((*path, key), _KINDS[kind], None)
            return default
        return self.value(data[key], (*path, key), kind, default)

    def value(self, value: Any, path: Sequence[PathElem], kind: str, default: Any = None) -> Any:
        check = _CHECKS[kind]
        if check(value):
            return value
        if kind == "string-map" and isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(v, str):
                    self.wrong_type((*path, k), "a string", v)
            return {k: v for k, v in value.items() if isinstance(v, str)}
        if kind == "string-list" and isinstance(value, list):
            for i, v in enumerate(value):
                if not isinstance(v, str):
                    self.wrong_type((*path, i), "a string", v)
            return [v for v in value if isinstance(v, str)]
        self.wrong_type(path, _KINDS[kind], value)
        return default

    def in_range(self, value: Any, path: Sequence[PathElem], low: int, high: int) -> bool:
        """True when `value` is an integer from `low` to `high`; else a problem is recorded.
        Non-integers are left to the type check that read them."""
        if not _is_int(value) or low <= value <= high:
            return True
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:20]}... ({len(str(value))} digits)"
        self.add(path, f"expected an integer from {low} to {high}, got {shown}")
        return False

    def one_of(self, value: Any, path: Sequence[PathElem], choices: Sequence[str]) -> bool:
        if value in choices:
            return True
        self.add(path, f"expected one of: {', '.join(choices)}; got {describe(value)}{_shown(value)}")
        return False

    # --- reporting ------------------------------------------------------------------------

    def located(self, doc: Document, prefix: Sequence[PathElem] = ()) -> list[Problem]:
        """The problems at their positions in `doc`, in file order."""
        located = [doc.problem((*prefix, *p.path), p.message, p.at_key) for p in self.problems]
        return sorted(located, key=lambda p: (p.line, p.column))

    def raise_for(self, doc: Document) -> None:
        if self.problems:
            raise ConfigError(self.located(doc))


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_map(v: Any) -> bool:
    return isinstance(v, dict)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _is_str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


_CHECKS = {
    "string": _is_str,
    "integer": _is_int,
    "number": _is_number,
    "boolean": _is_bool,
    "mapping": _is_map,
    "list": _is_list,
    "string-map": _is_str_map,
    "string-list": _is_str_list,
}
_KINDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "mapping": "a mapping",
    "list": "a list",
    "string-map": "a mapping of strings to strings",
    "string-list": "a list of strings",
}


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` when a close match exists, else empty."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {match[0]!r}?)" if match else ""
