"""The error tree every layer raises and every entry point maps to an exit code or HTTP status.

    ShipmateError
    ├── ConfigError      bad input in the config repository (file, line, column, field)
    ├── PlanError        a Spec or change set that cannot be executed (cycles, unknown deps)
    ├── PolicyDenied     an actor may not do this now (permission, requirements, lock held)
    ├── RuntimeFailed    Kubernetes or Terraform rejected an operation
    └── StateConflict    the state backend changed underneath us (lost compare-and-swap, lock)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ShipmateError(Exception):
    """Base of every error Shipmate raises on purpose."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in an input file: `file:line:col: field: message`."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        parts = [p for p in (where, self.field) if p]
        return ": ".join([*parts, self.message])


class ConfigError(ShipmateError):
    """The config repository holds something Shipmate cannot accept.

    Carries one or more `Problem`s; `str()` gives one line per problem.
    """

    exit_code = 2

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", 0, 0, "", problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PlanError(ShipmateError):
    """A Spec or a change set cannot be planned (cycle, unknown dependency, bad reference)."""

    exit_code = 2


class PolicyDenied(ShipmateError):
    """The actor is not allowed to perform the operation now; reported, not crashed on."""

    exit_code = 3


class RuntimeFailed(ShipmateError):
    """A runtime (Kubernetes, Terraform) refused or failed an operation.

    A batch operation that fails part-way reports what it did finish in `partial`
    (resource ID → the resource to record in State, or None for a finished delete), and
    which of those still count as failed in `failed_ids` (applied but never became ready),
    so the release records exactly what exists.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        partial: Mapping[str, Any] | None = None,
        failed_ids: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.partial: dict[str, Any] = dict(partial or {})
        self.failed_ids: frozenset[str] = frozenset(failed_ids)


class StateConflict(ShipmateError):
    """The state backend moved underneath us, a release is in progress, or a lock is held."""

    exit_code = 4
