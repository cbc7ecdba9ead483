"""Provider-neutral webhook events: the `Delivery` the intake stores and the typed events the
router consumes, parsed from GitHub payloads by the pure function `parse_event`.

A `Delivery` is what arrived over HTTP: the delivery GUID (the idempotency key), the event
name from `X-GitHub-Event`, the payload's `action`, the raw JSON body and the time it was
received. `parse_event` turns it into one of `PullRequestEvent`, `IssueCommentEvent`,
`PushEvent`, `PingEvent`, or `Ignored` (an event or action Shipmate does not act on, with the
reason). A payload that claims to be a handled event but lacks a field Shipmate reads raises
`MalformedEvent` naming the field.

`ordering_key` gives the key the queue orders by: events of one pull request (and comments
on it) share `owner/repo#<number>`; pushes share `owner/repo@<ref>`. Jobs with the same key
run one at a time in arrival order; jobs with different keys run in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from bot.core import jsonlimits
from bot.core.errors import ShipmateError

JSON = dict[str, Any]

# The actions of each event that Shipmate acts on; every other action parses as `Ignored`.
PULL_REQUEST_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review", "closed"})
ISSUE_COMMENT_ACTIONS = frozenset({"created", "edited", "deleted"})

ZERO_SHA = "0" * 40


class MalformedEvent(ShipmateError):
    """A payload of a handled event type lacks a field Shipmate reads, or has the wrong type."""

    exit_code = 2


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as received: `body` is the raw JSON text (bytes), kept exactly."""

    id: str
    event: str
    action: str
    body: bytes = field(repr=False)
    received_at: datetime

    @cached_property
    def payload(self) -> JSON:
        """The decoded JSON object (parsed once per instance)."""
        return decode_payload(self.body)


def decode_payload(body: bytes) -> JSON:
    """Decode a webhook body into a JSON object, or raise `MalformedEvent`."""
    try:
        value = jsonlimits.loads(body)
    except jsonlimits.JSONRefused as exc:
        raise MalformedEvent(f"body refused: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedEvent("body is not a JSON object")
    return value


def make_delivery(delivery_id: str, event: str, body: bytes, received_at: datetime) -> Delivery:
    """Build a `Delivery` from the intake's headers and raw body, reading `action` from it."""
    payload = decode_payload(body)
    action = payload.get("action")
    delivery = Delivery(
        id=delivery_id,
        event=event,
        action=action if isinstance(action, str) else "",
        body=body,
        received_at=received_at,
    )
    delivery.__dict__["payload"] = payload  # prime the cache: the body was just decoded
    return delivery


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


Event = PullRequestEvent | IssueCommentEvent | PushEvent | PingEvent
Parsed = Event | Ignored


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


# --- parsing -----------------------------------------------------------------------------------


class _Reader:
    """Typed access to nested payload fields; errors name the dotted path."""

    def __init__(self, event: str, payload: Mapping[str, Any]) -> None:
        self.event = event
        self.payload = payload

    def _get(self, path: str) -> Any:
        node: Any = self.payload
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise MalformedEvent(f"{self.event} payload: missing field {path!r}")
            node = node[part]
        return node

    def _fail(self, path: str, expected: str, value: Any) -> MalformedEvent:
        return MalformedEvent(
            f"{self.event} payload: field {path!r} must be {expected}, got {type(value).__name__}"
        )

    def text(self, path: str) -> str:
        value = self._get(path)
        if not isinstance(value, str):
            raise self._fail(path, "a string", value)
        return value

    def opt_text(self, path: str) -> str | None:
        try:
            value = self._get(path)
        except MalformedEvent:
            return None
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._fail(path, "a string or null", value)
        return value

    def integer(self, path: str) -> int:
        value = self._get(path)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(path, "an integer", value)
        return value

    def opt_integer(self, path: str) -> int | None:
        try:
            value = self._get(path)
        except MalformedEvent:
            return None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(path, "an integer or null", value)
        return value

    def flag(self, path: str, default: bool = False) -> bool:
        try:
            value = self._get(path)
        except MalformedEvent:
            return default
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(path, "a boolean", value)
        return value

    def has(self, path: str) -> bool:
        try:
            self._get(path)
        except MalformedEvent:
            return False
        return True


def _default_branch(r: _Reader) -> str:
    # Push payloads carry both `default_branch` and the legacy `master_branch`.
    return r.opt_text("repository.default_branch") or r.opt_text("repository.master_branch") or "main"


def _pull_request(delivery: Delivery, r: _Reader) -> Parsed:
    action = r.text("action")
    repo = r.text("repository.full_name")
    if action not in PULL_REQUEST_ACTIONS:
        return Ignored(delivery.id, delivery.event, action, repo, f"pull_request action {action!r} is not handled")
    head_repo = r.opt_text("pull_request.head.repo.full_name")
    base_repo = r.text("pull_request.base.repo.full_name")
    return PullRequestEvent(
        delivery_id=delivery.id,
        action=action,
        repo=repo,
        default_branch=_default_branch(r),
        number=r.integer("pull_request.number"),
        title=r.opt_text("pull_request.title") or "",
        author=r.text("pull_request.user.login"),
        sender=r.opt_text("sender.login") or "",
        draft=r.flag("pull_request.draft"),
        merged=r.flag("pull_request.merged"),
        merge_commit_sha=r.opt_text("pull_request.merge_commit_sha"),
        head_sha=r.text("pull_request.head.sha"),
        head_ref=r.text("pull_request.head.ref"),
        head_repo=head_repo,
        base_ref=r.text("pull_request.base.ref"),
        base_sha=r.text("pull_request.base.sha"),
        is_fork=is_fork(head_repo, base_repo),
        installation_id=r.opt_integer("installation.id"),
    )


def _issue_comment(delivery: Delivery, r: _Reader) -> Parsed:
    action = r.text("action")
    repo = r.text("repository.full_name")
    if action not in ISSUE_COMMENT_ACTIONS:
        return Ignored(delivery.id, delivery.event, action, repo, f"issue_comment action {action!r} is not handled")
    return IssueCommentEvent(
        delivery_id=delivery.id,
        action=action,
        repo=repo,
        default_branch=_default_branch(r),
        comment_id=r.integer("comment.id"),
        body=r.opt_text("comment.body") or "",
        author=r.text("comment.user.login"),
        author_is_bot=r.opt_text("comment.user.type") == "Bot",
        author_association=r.opt_text("comment.author_association") or "NONE",
        issue_number=r.integer("issue.number"),
        is_pull_request=r.has("issue.pull_request"),
        sender=r.opt_text("sender.login") or "",
        installation_id=r.opt_integer("installation.id"),
    )


def _changed_paths(payload: Mapping[str, Any]) -> tuple[str, ...]:
    paths: set[str] = set()
    commits = payload.get("commits")
    if isinstance(commits, list):
        for commit in commits:
            if not isinstance(commit, Mapping):
                continue
            for kind in ("added", "removed", "modified"):
                files = commit.get(kind)
                if isinstance(files, list):
                    paths.update(f for f in files if isinstance(f, str))
    return tuple(sorted(paths))


def _push(delivery: Delivery, r: _Reader) -> Parsed:
    pusher = r.opt_text("pusher.name") or r.opt_text("pusher.login") or ""
    head_message = r.opt_text("head_commit.message") if isinstance(r.payload.get("head_commit"), Mapping) else None
    return PushEvent(
        delivery_id=delivery.id,
        repo=r.text("repository.full_name"),
        default_branch=_default_branch(r),
        ref=r.text("ref"),
        before=r.text("before"),
        after=r.text("after"),
        created=r.flag("created"),
        deleted=r.flag("deleted"),
        forced=r.flag("forced"),
        pusher=pusher,
        sender=r.opt_text("sender.login") or "",
        head_commit_message=head_message or "",
        changed_paths=_changed_paths(r.payload),
        installation_id=r.opt_integer("installation.id"),
    )


def _ping(delivery: Delivery, r: _Reader) -> Parsed:
    return PingEvent(
        delivery_id=delivery.id,
        repo=r.opt_text("repository.full_name"),
        hook_id=r.opt_integer("hook_id"),
        zen=r.opt_text("zen") or "",
    )


_PARSERS = {
    "pull_request": _pull_request,
    "issue_comment": _issue_comment,
    "push": _push,
    "ping": _ping,
}


def parse_event(delivery: Delivery) -> Parsed:
    """The typed event for a delivery, `Ignored` for events Shipmate does not act on.

    Raises `MalformedEvent` when the body is not a JSON object or a handled event lacks a
    field Shipmate reads.
    """
    payload = delivery.payload
    reader = _Reader(delivery.event, payload)
    parser = _PARSERS.get(delivery.event)
    if parser is None:
        repo = reader.opt_text("repository.full_name") if isinstance(payload.get("repository"), Mapping) else None
        return Ignored(delivery.id, delivery.event, delivery.action, repo, f"event {delivery.event!r} is not handled")
    return parser(delivery, reader)


def ordering_key(parsed: Parsed) -> str:
    """The queue's ordering key: `owner/repo#N` for a pull request and comments on it,
    `owner/repo@refs/...` for pushes, `owner/repo` for pings; repository names compare
    case-insensitively, as GitHub's do. Ignored events get a key of their own."""
    if isinstance(parsed, PullRequestEvent):
        return f"{parsed.repo.lower()}#{parsed.number}"
    if isinstance(parsed, IssueCommentEvent):
        return f"{parsed.repo.lower()}#{parsed.issue_number}"
    if isinstance(parsed, PushEvent):
        return f"{parsed.repo.lower()}@{parsed.ref}"
    if isinstance(parsed, PingEvent):
        return f"{(parsed.repo or '').lower()}!ping"
    return f"{(parsed.repo or '').lower()}!{parsed.event}:{parsed.delivery_id}"


def delivery_key(delivery: Delivery) -> str:
    """`ordering_key` of a delivery; a delivery whose payload does not parse orders alone."""
    try:
        return ordering_key(parse_event(delivery))
    except MalformedEvent:
        return f"!malformed:{delivery.id}"
