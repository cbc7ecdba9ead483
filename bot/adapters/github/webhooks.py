"""GitHub's webhooks, parsed once at intake into the provider-neutral `bot.core.events`.

This module owns GitHub's payload schema: `make_delivery` decodes a webhook body (within the
JSON limits of `bot.core.jsonlimits`) and parses it into a typed event in one step, so the
intake, the queue and the router all read the same `Delivery.parsed` and nobody parses the
body again. A payload that claims to be a handled event but lacks a field Shipmate reads
raises `MalformedEvent` naming the field.

`parse_event` is the parser for a delivery whose event was not parsed at intake: a job
queued by a version that stored the raw body alone (the router is given it for those), or
a body read back by hand. `delivery_key` is the queue's ordering key of such a delivery; one
whose payload does not parse orders alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.core import jsonlimits
from bot.core.events import (
    ISSUE_COMMENT_ACTIONS,
    PULL_REQUEST_ACTIONS,
    CheckRunAction,
    Delivery,
    Ignored,
    IssueClosed,
    IssueCommentEvent,
    MalformedEvent,
    Parsed,
    PingEvent,
    PullRequestEvent,
    PushEvent,
    is_fork,
    ordering_key,
)

JSON = dict[str, Any]


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
    """The delivery of one webhook, its typed event parsed from the body (`X-GitHub-Event`
    names the event; the payload's `action` is read from the body)."""
    payload = decode_payload(body)
    action = payload.get("action")
    action_text = action if isinstance(action, str) else ""
    parsed = _parse(delivery_id, event, action_text, payload)
    return Delivery(delivery_id, event, action_text, body, received_at, parsed)


def delivery_key(delivery: Delivery) -> str:
    """`ordering_key` of a delivery; a delivery whose payload does not parse orders alone."""
    try:
        return ordering_key(parse_event(delivery))
    except MalformedEvent:
        return f"!malformed:{delivery.id}"


# --- GitHub's payload schema -------------------------------------------------------------------


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

    def _optional(self, path: str) -> Any:
        """The value at `path`, or None when it is absent or null."""
        try:
            return self._get(path)
        except MalformedEvent:
            return None

    def opt_text(self, path: str) -> str | None:
        value = self._optional(path)
        if value is not None and not isinstance(value, str):
            raise self._fail(path, "a string or null", value)
        return value

    def integer(self, path: str) -> int:
        value = self._get(path)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(path, "an integer", value)
        return value

    def opt_integer(self, path: str) -> int | None:
        value = self._optional(path)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
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


def _pull_request(delivery_id: str, r: _Reader) -> Parsed:
    action = r.text("action")
    repo = r.text("repository.full_name")
    if action not in PULL_REQUEST_ACTIONS:
        return Ignored(delivery_id, r.event, action, repo, f"pull_request action {action!r} is not handled")
    head_repo = r.opt_text("pull_request.head.repo.full_name")
    base_repo = r.text("pull_request.base.repo.full_name")
    return PullRequestEvent(
        delivery_id=delivery_id,
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


def _issue_comment(delivery_id: str, r: _Reader) -> Parsed:
    action = r.text("action")
    repo = r.text("repository.full_name")
    if action not in ISSUE_COMMENT_ACTIONS:
        return Ignored(delivery_id, r.event, action, repo, f"issue_comment action {action!r} is not handled")
    return IssueCommentEvent(
        delivery_id=delivery_id,
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


def _push(delivery_id: str, r: _Reader) -> Parsed:
    pusher = r.opt_text("pusher.name") or r.opt_text("pusher.login") or ""
    head_message = r.opt_text("head_commit.message") if isinstance(r.payload.get("head_commit"), Mapping) else None
    return PushEvent(
        delivery_id=delivery_id,
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


def _check_run(delivery_id: str, r: _Reader) -> Parsed:
    action = r.text("action")
    repo = r.text("repository.full_name")
    if action != "requested_action":
        return Ignored(delivery_id, r.event, action, repo, f"check_run action {action!r} is not handled")
    pulls = r.payload.get("check_run", {}).get("pull_requests")
    numbers: list[int] = []
    for index, pull in enumerate(pulls if isinstance(pulls, list) else ()):
        number = pull.get("number") if isinstance(pull, Mapping) else None
        if isinstance(number, bool) or not isinstance(number, int):
            raise MalformedEvent(f"{r.event} payload: field 'check_run.pull_requests.{index}.number' must be "
                                 "an integer")
        numbers.append(number)
    return CheckRunAction(
        delivery_id=delivery_id,
        repo=repo,
        default_branch=_default_branch(r),
        check_run_id=r.integer("check_run.id"),
        name=r.text("check_run.name"),
        external_id=r.opt_text("check_run.external_id") or "",
        head_sha=r.text("check_run.head_sha"),
        identifier=r.text("requested_action.identifier"),
        pull_requests=tuple(numbers),
        sender=r.text("sender.login"),
        installation_id=r.opt_integer("installation.id"),
    )


def _issues(delivery_id: str, r: _Reader) -> Parsed:
    action = r.text("action")
    repo = r.text("repository.full_name")
    if action != "closed" or r.has("issue.pull_request"):
        return Ignored(delivery_id, r.event, action, repo, f"issues action {action!r} is not handled")
    return IssueClosed(
        delivery_id=delivery_id,
        repo=repo,
        number=r.integer("issue.number"),
        sender=r.text("sender.login"),
        sender_is_bot=r.opt_text("sender.type") == "Bot",
        state_reason=r.opt_text("issue.state_reason") or "",
        installation_id=r.opt_integer("installation.id"),
    )


def _ping(delivery_id: str, r: _Reader) -> Parsed:
    return PingEvent(
        delivery_id=delivery_id,
        repo=r.opt_text("repository.full_name"),
        hook_id=r.opt_integer("hook_id"),
        zen=r.opt_text("zen") or "",
    )


_PARSERS = {
    "pull_request": _pull_request,
    "issue_comment": _issue_comment,
    "push": _push,
    "check_run": _check_run,
    "issues": _issues,
    "ping": _ping,
}


def parse_event(delivery: Delivery) -> Parsed:
    """The typed event of a delivery: `delivery.parsed` when the intake parsed it already,
    else its body parsed now (a job queued by a version that stored the raw body alone).
    `Ignored` for events Shipmate does not act on.

    Raises `MalformedEvent` when the body is not a JSON object or a handled event lacks a
    field Shipmate reads.
    """
    if delivery.parsed is not None:
        return delivery.parsed
    return _parse(delivery.id, delivery.event, delivery.action, decode_payload(delivery.body))


def _parse(delivery_id: str, event: str, action: str, payload: Mapping[str, Any]) -> Parsed:
    reader = _Reader(event, payload)
    parser = _PARSERS.get(event)
    if parser is None:
        repo = reader.opt_text("repository.full_name") if isinstance(payload.get("repository"), Mapping) else None
        return Ignored(delivery_id, event, action, repo, f"event {event!r} is not handled")
    return parser(delivery_id, reader)
