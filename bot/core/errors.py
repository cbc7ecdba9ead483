"""The error tree every layer raises and every entry point maps to an exit code or HTTP status.

    ShipmateError
    ├── ConfigError      bad input in the config repository (file, line, column, field)
    ├── PlanError        a Spec or change set that cannot be executed (cycles, unknown deps)
    ├── PolicyDenied     an actor may not do this now (permission, requirements, lock held)
    ├── RuntimeFailed    Kubernetes or Terraform rejected an operation
    ├── StateConflict    the state backend changed underneath us (lost compare-and-swap, lock)
    ├── NotRecorded      the state holds nothing to act on (no such release, nothing to destroy)
    └── TransientError   a dependency is unavailable for now (network, GitHub 5xx/429, git fetch)

The retry axis (as kopf's TemporaryError / PermanentError): every error says whether the job
that raised it may succeed if tried again later (`retry`, a class attribute, and `retry_after`,
the seconds the other side asked us to wait). `StateConflict` and `TransientError` are
temporary; every other `ShipmateError` is permanent (bad config, a denied command: retrying
changes nothing, so it is reported at once). An exception that is not Shipmate's own is a bug:
`retry_kind` says so, and the worker gives it one attempt and an incident id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

RetryKind = Literal["temporary", "permanent", "bug"]

# Seconds: the longest wait a `Retry-After` may impose on a retry (a misbehaving server
# cannot park a job for days).
MAX_RETRY_AFTER_SECONDS = 3600.0


class ShipmateError(Exception):
    """Base of every error Shipmate raises on purpose.

    `retry` is the retry axis: True when trying the same job again later may succeed;
    `retry_after` (seconds, or None) is how long the other side asked us to wait first.
    """

    exit_code = 1
    retry: ClassVar[bool] = False
    retry_after: float | None = None


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
    so the release records exactly what exists. `messages` says why each resource of the
    batch failed, by ID (the message stands for those it does not name), and `skipped`
    the resources of the batch never tried because one they depend on failed.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        partial: Mapping[str, Any] | None = None,
        failed_ids: Iterable[str] = (),
        messages: Mapping[str, str] | None = None,
        skipped: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.partial: dict[str, Any] = dict(partial or {})
        self.failed_ids: frozenset[str] = frozenset(failed_ids)
        self.messages: dict[str, str] = dict(messages or {})
        self.skipped: frozenset[str] = frozenset(skipped)


class StateConflict(ShipmateError):
    """The state backend moved underneath us, a release is in progress, or a lock is held."""

    exit_code = 4
    retry = True


class NotRecorded(ShipmateError):
    """The state branch holds nothing to act on: no such release, no Spec to roll back to,
    nothing recorded to destroy. Permanent: trying again finds the same."""

    exit_code = 4


class TransientError(ShipmateError):
    """A dependency cannot answer now but may later: a transport error, GitHub 5xx, 429 or a
    secondary rate limit, a failed `git fetch`/`push`. Retried with backoff, waiting at least
    `retry_after` seconds when the other side said so (`Retry-After`)."""

    exit_code = 1
    retry = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        if retry_after is not None:
            retry_after = min(max(0.0, float(retry_after)), MAX_RETRY_AFTER_SECONDS)
        self.retry_after = retry_after


# Exceptions from outside Shipmate that still mean "the network blinked" rather than a bug.
_TRANSPORT = (ConnectionError, TimeoutError)


def retry_kind(error: BaseException) -> RetryKind:
    """How a job that raised `error` is retried: `temporary` (backoff, bounded attempts),
    `permanent` (never; reported at once) or `bug` (an unexpected exception: one attempt,
    reported with an incident id)."""
    if isinstance(error, ShipmateError):
        return "temporary" if error.retry else "permanent"
    if isinstance(error, _TRANSPORT):
        return "temporary"
    return "bug"


def retry_delay(error: BaseException, backoff: float) -> float:
    """Seconds to wait before the next attempt: the exponential `backoff`, or longer when the
    error carries a `Retry-After` (capped at `MAX_RETRY_AFTER_SECONDS`)."""
    after = error.retry_after if isinstance(error, ShipmateError) else None
    return max(backoff, after or 0.0)
