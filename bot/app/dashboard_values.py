"""What the dashboard and the read API show: frozen values built by `bot.app.dashboard`, and
`to_json`, the one way any of them becomes JSON (the API answers it, the pages may read it).

Every value is built from what the state branch, the queue and the code host hold; releases
are read as the state branch stores them, masked before they were written, so no value here
holds a secret. `to_json` turns a value into plain JSON data: field names in camelCase (as
the release files spell theirs), times in RFC 3339, enums as their strings, tuples as lists,
mappings with sorted keys; the same value always gives the same data.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.clock import rfc3339

# --- releases --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    """One release as a list shows it: its phase, what started it, who, when, from which
    commit and pull request, and how many resources its state holds."""

    revision: int
    stack: str
    phase: str
    trigger: str
    actor: str
    create_time: datetime
    modified_time: datetime
    commit: str
    commit_url: str | None
    pull_request: int | None
    pull_request_url: str | None
    resources: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LockSummary:
    """Who holds a project+workspace's lock, for which pull request, until when."""

    repo: str
    project: str
    workspace: str
    owner: str
    token: int
    acquire_time: datetime
    expire_time: datetime
    expired: bool
    pull_request: int | None
    pull_request_url: str | None
    run_id: str


@dataclass(frozen=True, slots=True)
class DriftField:
    """One changed field of a drifted resource: values as compact JSON, masked, cut short."""

    path: str
    kind: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class DriftChange:
    id: str
    action: str
    fields: tuple[DriftField, ...] = ()


@dataclass(frozen=True, slots=True)
class DriftStatus:
    """The last drift check of a project+workspace: `status` is drifted, in-sync or failed."""

    repo: str
    project: str
    workspace: str
    stack: str
    status: str
    check_time: str
    commit: str
    commit_url: str | None
    counts: Mapping[str, int]
    changes: tuple[DriftChange, ...]
    error: str | None
    # The drift issue and the drift pull request the check opened (bot.app.drift_issues,
    # bot.app.drift_pulls), while the record names them; their pages.
    issue_url: str | None = None
    pull_request_url: str | None = None


@dataclass(frozen=True, slots=True)
class StackSummary:
    """One project+workspace on the overview: its latest release, lock and drift."""

    repo: str
    project: str
    workspace: str
    stack: str
    releases: int
    latest: ReleaseSummary | None
    lock: LockSummary | None
    drift: str  # drifted | in-sync | failed | unchecked


@dataclass(frozen=True, slots=True)
class ProjectOverview:
    name: str
    stacks: tuple[StackSummary, ...]


@dataclass(frozen=True, slots=True)
class RepositoryOverview:
    """A repository's projects, or why its state branch could not be read (`error`)."""

    repo: str
    url: str
    projects: tuple[ProjectOverview, ...]
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Counts:
    """What the overview shows, counted: stacks, their releases, latest phases, locks, drift."""

    repositories: int
    stacks: int
    releases: int
    locked: int
    drifted: int
    phases: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Overview:
    repositories: tuple[RepositoryOverview, ...]
    counts: Counts
    query: str = ""
    phase: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """A page of a project+workspace's releases, newest first; `next_before` asks for the
    page after this one (None on the last page)."""

    repo: str
    project: str
    workspace: str
    total: int
    releases: tuple[ReleaseSummary, ...]
    next_before: int | None
    lock: LockSummary | None = None


@dataclass(frozen=True, slots=True)
class ReleaseDetail:
    """One release whole, as the state branch stores it (masked), with its summary."""

    repo: str
    summary: ReleaseSummary
    release: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Comparison:
    """The difference between two revisions (Spec and state), `bot.core.release_diff`'s,
    as data (`diff`) and as the text `shipmate release diff` prints."""

    repo: str
    project: str
    workspace: str
    before: ReleaseSummary
    after: ReleaseSummary
    diff: Mapping[str, Any]
    text: str


@dataclass(frozen=True, slots=True)
class Unlock:
    """What an unlock did: the release it marked failed and the lock it freed (or neither)."""

    repo: str
    project: str
    workspace: str
    actor: str
    failed_revision: int | None
    freed: LockSummary | None


# --- queue and pull requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueJob:
    """One job of the queue as an operator sees it (`shipmate queue`)."""

    id: int
    delivery_id: str
    event: str
    action: str
    key: str
    repo: str
    state: str
    attempts: int
    last_error: str
    enqueued_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Retried:
    id: int
    new_id: int
    actor: str


@dataclass(frozen=True, slots=True)
class StackPreview:
    """One stack of a pull request's latest preview: `status` is changes, no-changes or failed."""

    project: str
    workspace: str
    stack: str
    status: str
    counts: Mapping[str, int]
    error: str | None


@dataclass(frozen=True, slots=True)
class PullSummary:
    """An open pull request, its latest preview per stack (as recorded on the state branch:
    `bot.app.dashboard_previews`; `preview_current` says whether it previewed today's head)
    and the locks it holds."""

    repo: str
    number: int
    title: str
    author: str
    url: str
    head_sha: str
    draft: bool
    locks: tuple[LockSummary, ...] = field(default=())
    previews: tuple[StackPreview, ...] = field(default=())
    preview_commit: str | None = None
    preview_time: str | None = None
    preview_current: bool = False


# --- JSON ------------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """`value` as plain JSON data (see the module docstring)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_camel(f.name): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} is not a dashboard value")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
