"""The webhook event parser against GitHub's published payloads, and the ordering keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.github.webhooks import delivery_key, make_delivery, parse_event
from bot.core.events import (
    CheckRunAction,
    Delivery,
    Ignored,
    IssueCommentEvent,
    MalformedEvent,
    PingEvent,
    PullRequestEvent,
    PushEvent,
    is_fork,
    ordering_key,
)

# GitHub's published example payloads (octokit/webhooks, MIT), kept with the GitHub simulator.
PAYLOADS = Path(__file__).resolve().parents[2] / "fixtures" / "github_sim" / "webhook_examples"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ALL = sorted(PAYLOADS.glob("*/*.json"))


def load(relative: str, delivery_id: str = "d-1") -> Delivery:
    path = PAYLOADS / relative
    return make_delivery(delivery_id, path.parent.name, path.read_bytes(), WHEN)


def test_the_shared_payloads_are_there() -> None:
    assert len(ALL) >= 25


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_payload_parses_or_is_ignored(path: Path) -> None:
    delivery = make_delivery("guid", path.parent.name, path.read_bytes(), WHEN)
    parsed = parse_event(delivery)
    expected_types = {
        "pull_request": (PullRequestEvent, Ignored),
        "issue_comment": (IssueCommentEvent,),
        "push": (PushEvent,),
        "ping": (PingEvent,),
    }.get(path.parent.name, (Ignored,))
    assert isinstance(parsed, expected_types)
    assert parsed.delivery_id == "guid"
    assert ordering_key(parsed) == delivery_key(delivery)


def test_pull_request_opened_fields() -> None:
    event = parse_event(load("pull_request/opened.payload.json"))
    assert event == PullRequestEvent(
        delivery_id="d-1",
        action="opened",
        repo="Codertocat/Hello-World",
        default_branch="master",
        number=2,
        title="Update the README with new information.",
        author="Codertocat",
        sender="Codertocat",
        draft=False,
        merged=False,
        merge_commit_sha=None,
        head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        head_ref="changes",
        head_repo="Codertocat/Hello-World",
        base_ref="master",
        base_sha="f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        is_fork=False,
        installation_id=1,
    )
    assert ordering_key(event) == "codertocat/hello-world#2"


@pytest.mark.parametrize("action", ["synchronize", "reopened", "ready_for_review", "closed"])
def test_pull_request_handled_actions(action: str) -> None:
    event = parse_event(load(f"pull_request/{action}.payload.json"))
    assert isinstance(event, PullRequestEvent)
    assert event.action == action


def test_pull_request_unhandled_actions_are_ignored_with_a_reason() -> None:
    for name in ("labeled", "converted_to_draft"):
        event = parse_event(load(f"pull_request/{name}.payload.json"))
        assert isinstance(event, Ignored)
        assert event.repo == "Codertocat/Hello-World"
        assert name in event.reason


def test_fork_and_deleted_fork_are_forks() -> None:
    payload = json.loads((PAYLOADS / "pull_request/opened.payload.json").read_bytes())
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    fork = parse_event(make_delivery("f", "pull_request", json.dumps(payload).encode(), WHEN))
    assert isinstance(fork, PullRequestEvent) and fork.is_fork and fork.head_repo == "mallory/Hello-World"
    payload["pull_request"]["head"]["repo"] = None
    gone = parse_event(make_delivery("g", "pull_request", json.dumps(payload).encode(), WHEN))
    assert isinstance(gone, PullRequestEvent) and gone.is_fork and gone.head_repo is None


def test_draft_flag() -> None:
    payload = json.loads((PAYLOADS / "pull_request/opened.payload.json").read_bytes())
    payload["pull_request"]["draft"] = True
    event = parse_event(make_delivery("x", "pull_request", json.dumps(payload).encode(), WHEN))
    assert isinstance(event, PullRequestEvent) and event.draft


def test_issue_comment_fields() -> None:
    event = parse_event(load("issue_comment/created.with-installation.payload.json"))
    assert isinstance(event, IssueCommentEvent)
    assert (event.action, event.comment_id, event.author, event.issue_number) == (
        "created", 492700400, "Codertocat", 1)
    assert event.body.startswith("You are totally right!")
    assert (event.is_pull_request, event.author_is_bot, event.installation_id) == (False, False, 1)
    assert event.author_association == "OWNER"
    assert ordering_key(event) == "codertocat/hello-world#1"


def test_comment_on_a_pull_request_shares_the_pull_requests_key() -> None:
    payload = json.loads((PAYLOADS / "issue_comment/created.payload.json").read_bytes())
    payload["issue"]["number"] = 2
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/2"}
    payload["comment"]["user"]["type"] = "Bot"
    comment = parse_event(make_delivery("c", "issue_comment", json.dumps(payload).encode(), WHEN))
    pull = parse_event(load("pull_request/opened.payload.json"))
    assert isinstance(comment, IssueCommentEvent) and comment.is_pull_request and comment.author_is_bot
    assert ordering_key(comment) == ordering_key(pull)


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_issue_comment_edited_and_deleted(action: str) -> None:
    event = parse_event(load(f"issue_comment/{action}.payload.json"))
    assert isinstance(event, IssueCommentEvent) and event.action == action


def test_push_fields() -> None:
    event = parse_event(load("push/with-new-branch.payload.json"))
    assert isinstance(event, PushEvent)
    assert (event.ref, event.branch, event.default_branch) == ("refs/heads/master", "master", "master")
    assert event.before == "0" * 40
    assert event.after == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert (event.created, event.deleted, event.forced) == (True, False, False)
    assert (event.pusher, event.head_commit_message) == ("Codertocat", "Initial commit")
    assert event.changed_paths == ("README.md",)
    assert event.to_default_branch
    assert ordering_key(event) == "codertocat/hello-world@refs/heads/master"


def test_tag_deletion_push() -> None:
    event = parse_event(load("push/payload.json"))
    assert isinstance(event, PushEvent)
    assert event.branch is None and event.deleted and not event.to_default_branch
    assert event.head_commit_message == ""


def test_ping() -> None:
    event = parse_event(load("ping/payload.json"))
    assert event == PingEvent("d-1", "Octocoders/Hello-World", 109948940, "Anything added dilutes everything else.")


def test_unhandled_events_are_ignored() -> None:
    for name in ("check_run/rerequested.payload.json", "installation/created.payload.json",
                 "pull_request_review/submitted.payload.json"):
        event = parse_event(load(name))
        assert isinstance(event, Ignored)
        assert "is not handled" in event.reason


def test_missing_field_names_the_field() -> None:
    payload = json.loads((PAYLOADS / "pull_request/opened.payload.json").read_bytes())
    del payload["pull_request"]["head"]["sha"]
    with pytest.raises(MalformedEvent, match=r"'pull_request\.head\.sha'"):
        parse_event(make_delivery("m", "pull_request", json.dumps(payload).encode(), WHEN))
    payload = json.loads((PAYLOADS / "issue_comment/created.payload.json").read_bytes())
    payload["comment"]["id"] = "12"
    with pytest.raises(MalformedEvent, match=r"'comment\.id' must be an integer"):
        parse_event(make_delivery("m", "issue_comment", json.dumps(payload).encode(), WHEN))


def test_bodies_that_are_not_objects() -> None:
    with pytest.raises(MalformedEvent, match="not valid JSON"):
        make_delivery("x", "push", b"{nope", WHEN)
    with pytest.raises(MalformedEvent, match="not a JSON object"):
        make_delivery("x", "push", b"[1, 2]", WHEN)
    lazy = Delivery("x", "push", "", b"\xff", WHEN)
    assert delivery_key(lazy) == "!malformed:x"


@given(st.text(max_size=40), st.integers(min_value=1, max_value=10**9), st.text(max_size=30))
def test_ordering_keys_separate_kinds(repo: str, number: int, ref: str) -> None:
    pr = {"action": "opened", "repository": {"full_name": repo}, "pull_request": {
        "number": number, "user": {"login": "u"}, "head": {"sha": "a", "ref": "h", "repo": {"full_name": repo}},
        "base": {"ref": "main", "sha": "b", "repo": {"full_name": repo}}}}
    push = {"ref": ref, "before": "a", "after": "b", "repository": {"full_name": repo}}
    pr_key = delivery_key(make_delivery("1", "pull_request", json.dumps(pr).encode(), WHEN))
    push_key = delivery_key(make_delivery("2", "push", json.dumps(push).encode(), WHEN))
    assert pr_key == f"{repo.lower()}#{number}"
    assert pr_key != push_key


def test_one_fork_rule_a_missing_head_repository_is_a_fork() -> None:
    assert not is_fork("acme/config", "acme/config")
    assert not is_fork("ACME/Config", "acme/config")
    assert is_fork("mallory/config", "acme/config")
    assert is_fork(None, "acme/config")  # the fork was deleted
    assert is_fork("", "acme/config")


def _click(identifier: str = "apply", pulls: object = None) -> Delivery:
    """GitHub's example check_run payload as a click on the button `identifier`."""
    payload = json.loads((PAYLOADS / "check_run/rerequested.payload.json").read_bytes())
    payload["action"] = "requested_action"
    payload["requested_action"] = {"identifier": identifier}
    payload["check_run"]["external_id"] = "shop/dev"
    if pulls is not None:
        payload["check_run"]["pull_requests"] = pulls
    return make_delivery("c-1", "check_run", json.dumps(payload).encode(), WHEN)


def test_a_click_on_a_check_runs_button() -> None:
    event = parse_event(_click())
    assert isinstance(event, CheckRunAction)
    assert (event.identifier, event.external_id, event.sender) == ("apply", "shop/dev", "octocat")
    assert event.repo == "github/hello-world" and event.pull_requests == () and event.installation_id == 1
    assert ordering_key(event) == f"github/hello-world!check_run:{event.check_run_id}"
    # A click on a pull request's check run orders with its comments and events.
    mine = parse_event(_click(pulls=[{"number": 12, "head": {}, "base": {}}]))
    assert isinstance(mine, CheckRunAction) and mine.pull_requests == (12,)
    assert ordering_key(mine) == "github/hello-world#12"
    with pytest.raises(MalformedEvent, match=r"'check_run\.pull_requests\.0\.number' must be an integer"):
        parse_event(_click(pulls=[{"number": "2"}]))
    with pytest.raises(MalformedEvent, match=r"'requested_action\.identifier'"):
        payload = json.loads(_click().body)
        del payload["requested_action"]
        parse_event(make_delivery("m", "check_run", json.dumps(payload).encode(), WHEN))
