"""Provider-neutral events: the typed events the router consumes, the `Delivery` the queue
stores them in, and the ordering key the queue orders them by.

A code host's adapter turns what it receives into these values once, at intake
(`bot.adapters.github.webhooks` for GitHub's webhooks); the poller and the scheduler build
them directly. The typed events are `PullRequestEvent`, `IssueCommentEvent`, `PushEvent`,
`CheckRunAction` (a click on a check run's button), `IssueClosed` and `PingEvent` (from a
code host), `SweepLocks` and `CheckDrift` (the scheduler's jobs), or
`Ignored` (an event or action Shipmate does not act on, with the reason).

A `Delivery` is one unit of work in the queue: its ID (the idempotency key: GitHub's delivery
GUID, or an ID derived from what a poll or a scheduled job describes), the event's name and
action (what `shipmate queue` shows), the raw body as received (empty for events the bot made
itself), the time it was received, and the typed event (`parsed`). `parsed` is None only
for a job stored by a version that kept the raw body alone; the router parses such a body
once with the code host's parser.

`ordering_key` gives the key the queue orders by: events of one pull request (comments on it
and clicks on its check runs too) share `owner/repo#<number>`; pushes share
`owner/repo@<ref>`; the scheduler's jobs of a repository share `owner/repo`. Jobs with the same key run one at a time in arrival order;
jobs with different keys run in parallel. `encode_event` / `decode_event` are the events'
storage form: one JSON object naming the event's type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from bot.core.errors import ShipmateError

# The actions of each event that Shipmate acts on; every other action parses as `Ignored`.
PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review", "closed"})
ISSUE_COMMENT_ACTIONS = frozenset({"created", "edited", "deleted"})

ZERO_SHA = "0" * 40


class MalformedEvent(ShipmateError):
    """A payload of a handled event type lacks a field Shipmate reads, or has the wrong type."""

    exit_code = 2


# --- typed events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullRequestEvent:
    delivery_id: str
    action: str
    repo: str
    default_branch: str
    number: int
    title: str
    author: str
    sender: str
    draft: bool
    merged: bool
    merge_commit_sha: str | None
    head_sha: str
    head_ref: str
    head_repo: str | None  # None when the fork was deleted
    base_ref: str
    base_sha: str
    is_fork: bool
    installation_id: int | None


@dataclass(frozen=True, slots=True)
class IssueCommentEvent:
    delivery_id: str
    action: str
    repo: str
    default_branch: str
    comment_id: int
    body: str
    author: str
    author_is_bot: bool
    author_association: str
    issue_number: int
    is_pull_request: bool
    sender: str
    installation_id: int | None


@dataclass(frozen=True, slots=True)
class PushEvent:
    delivery_id: str
    repo: str
    default_branch: str
    ref: str
    before: str
    after: str
    created: bool
    deleted: bool
    forced: bool
    pusher: str
    sender: str
    head_commit_message: str
    changed_paths: tuple[str, ...]  # from the payload's commits (GitHub lists at most 20)
    installation_id: int | None

    @property
    def branch(self) -> str | None:
        """The branch name for `refs/heads/...` pushes; None for tags."""
        prefix = "refs/heads/"
        return self.ref[len(prefix):] if self.ref.startswith(prefix) else None

    @property
    def to_default_branch(self) -> bool:
        return self.branch == self.default_branch and not self.deleted


@dataclass(frozen=True, slots=True)
class CheckRunAction:
    """A click on a button of one of Shipmate's check runs (GitHub's `check_run` webhook,
    action `requested_action`): `identifier` names the button, `external_id` the stack."""

    delivery_id: str
    repo: str
    default_branch: str
    check_run_id: int
    name: str
    external_id: str
    head_sha: str
    identifier: str
    pull_requests: tuple[int, ...]  # the open pull requests whose head is `head_sha`
    sender: str
    installation_id: int | None


@dataclass(frozen=True, slots=True)
class IssueClosed:
    """An issue (not a pull request) was closed (GitHub's `issues` webhook, action `closed`)."""

    delivery_id: str
    repo: str
    number: int
    sender: str
    sender_is_bot: bool
    state_reason: str  # completed | not_planned | "" (GitHub's reason)
    installation_id: int | None


@dataclass(frozen=True, slots=True)
class PingEvent:
    delivery_id: str
    repo: str | None  # None for organisation or App hooks
    hook_id: int | None
    zen: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event or action Shipmate does not act on."""

    delivery_id: str
    event: str
    action: str
    repo: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class SweepLocks:
    """The scheduler's lock sweep of one repository: expired locks, locks of closed pull requests."""

    delivery_id: str
    repo: str
    installation_id: int | None


@dataclass(frozen=True, slots=True)
class CheckDrift:
    """The scheduler's drift check of one repository, for the schedule's fire time `due`."""

    delivery_id: str
    repo: str
    installation_id: int | None
    due: str  # RFC 3339, the fire time that came due


Event = (PullRequestEvent | IssueCommentEvent | PushEvent | CheckRunAction | IssueClosed | PingEvent | SweepLocks
         | CheckDrift)
Parsed = Event | Ignored

# The name `shipmate queue` shows for each event type (a code host's own name where it has one).
EVENT_NAMES: dict[type[Any], str] = {
    PullRequestEvent: "pull_request",
    IssueCommentEvent: "issue_comment",
    PushEvent: "push",
    CheckRunAction: "check_run",
    IssueClosed: "issues",
    PingEvent: "ping",
    SweepLocks: "sweep_locks",
    CheckDrift: "check_drift",
}


@dataclass(frozen=True)
class Delivery:
    """One job's event as the queue stores it: `body` is the raw body as received, kept
    exactly (empty for events the bot made itself); `parsed` the typed event."""

    id: str
    event: str
    action: str
    body: bytes = field(repr=False)
    received_at: datetime
    parsed: Parsed | None = field(default=None, repr=False, compare=False)


def delivery_of(event: Event, received_at: datetime) -> Delivery:
    """A delivery for an event the bot made itself (a poll, a scheduled job): no body."""
    action = getattr(event, "action", "")
    return Delivery(event.delivery_id, EVENT_NAMES[type(event)], action, b"", received_at, event)


# --- forks -------------------------------------------------------------------------------------


def is_fork(head_repo: str | None, base_repo: str) -> bool:
    """Whether a pull request's head lives outside its base repository: the one rule the
    webhook parser and the code host adapters share.

    A missing head repository (GitHub sends `head.repo: null` once the fork is deleted) IS a
    fork: nothing says the head commit belongs to this repository, so it must never be
    checked out or previewed with the repository's credentials. Names compare
    case-insensitively, as GitHub's do.
    """
    return not head_repo or head_repo.lower() != base_repo.lower()


def ordering_key(parsed: Parsed) -> str:
    """The queue's ordering key: `owner/repo#N` for a pull request and comments on it,
    `owner/repo@refs/...` for pushes, `owner/repo!ping` for pings, `owner/repo` for the
    scheduler's jobs of a repository; repository names compare
    case-insensitively, as GitHub's do. Ignored events get a key of their own."""
    if isinstance(parsed, PullRequestEvent):
        return f"{parsed.repo.lower()}#{parsed.number}"
    if isinstance(parsed, IssueCommentEvent):
        return f"{parsed.repo.lower()}#{parsed.issue_number}"
    if isinstance(parsed, PushEvent):
        return f"{parsed.repo.lower()}@{parsed.ref}"
    if isinstance(parsed, IssueClosed):
        return f"{parsed.repo.lower()}#{parsed.number}"
    if isinstance(parsed, CheckRunAction):
        if parsed.pull_requests:
            return f"{parsed.repo.lower()}#{parsed.pull_requests[0]}"
        return f"{parsed.repo.lower()}!check_run:{parsed.check_run_id}"
    if isinstance(parsed, PingEvent):
        return f"{(parsed.repo or '').lower()}!ping"
    if isinstance(parsed, SweepLocks | CheckDrift):
        return parsed.repo.lower()
    return f"{(parsed.repo or '').lower()}!{parsed.event}:{parsed.delivery_id}"


# --- storage form ------------------------------------------------------------------------------

_TYPES: dict[str, type[Any]] = {t.__name__: t for t in (*EVENT_NAMES, Ignored)}


def encode_event(parsed: Parsed) -> str:
    """The event as one compact JSON object, `type` naming its class; deterministic."""
    record: dict[str, Any] = {"type": type(parsed).__name__}
    for f in fields(parsed):
        value = getattr(parsed, f.name)
        record[f.name] = list(value) if isinstance(value, tuple) else value
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_event(text: str) -> Parsed:
    """The event `encode_event` wrote, or `MalformedEvent` when the text is not one."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise MalformedEvent(f"stored event is not JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("type") not in _TYPES:
        raise MalformedEvent("stored event names no known event type")
    cls = _TYPES[record.pop("type")]
    names = {f.name for f in fields(cls)}
    if set(record) != names:
        raise MalformedEvent(f"stored {cls.__name__} has fields {sorted(record)}, expected {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
    event: Parsed = cls(**values)
    return event
