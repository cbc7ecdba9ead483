"""The CodeHost contract, run against the GitHub adapter over the GitHub simulator and the
in-memory code host: the same repository and pull request read, write and fail alike.

`acme/infra` has `shop/dev/main.yaml` and `README.md` on main; pull request `change` by `dev`
edits the first and renames the second to `DOCS.md`. The bot acts as `bot`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.adapters.github.host import Credentials, GitHubHost
from bot.adapters.memory import MemoryCodeHost
from bot.core.errors import RuntimeFailed
from bot.core.ports import CodeHost
from fixtures.github_sim import GitHubSim
from tests.adapters.test_github_host import USERS, open_change

REPO = "acme/infra"


@dataclass
class Side:
    """One code host with the pull request open, and how to act and look on its other side."""

    host: CodeHost
    number: int
    head: str
    merge: Callable[[], str]
    review: Callable[[str], None]  # login approves the head
    statuses: Callable[[str], dict[str, tuple[str, str]]]  # sha -> context -> (state, description)


def on_github(tmp_path: Path) -> Iterator[Side]:
    with GitHubSim.start(tmp_path / "gh", users=USERS) as sim:
        number, head = open_change(sim, tmp_path)
        tokens = {"reader": "read-token", "lead": "lead-token", "dev": "dev-token"}

        def merge() -> str:
            return str(sim.client("dev-token").get_repo(REPO).get_pull(number).merge().sha)

        def review(login: str) -> None:
            sim.client(tokens[login]).get_repo(REPO).get_pull(number).create_review(event="APPROVE")

        def statuses(sha: str) -> dict[str, tuple[str, str]]:
            return {s["context"]: (s["state"], s["description"]) for s in sim.statuses("acme", "infra", sha)}

        host = GitHubHost(Credentials(api_url=sim.api_url, token="bot-token"), throttle=False)
        yield Side(host, number, head, merge, review, statuses)


def in_memory() -> Iterator[Side]:
    host = MemoryCodeHost(login="bot")
    host.create_repo(REPO, {"shop/dev/main.yaml": "a: 1\n", "README.md": "hello\n"})
    for login, role in (("dev", "write"), ("bot", "admin"), ("reader", "read"), ("lead", "maintain")):
        host.grant(REPO, login, role)
    pr = host.open_pull_request(REPO, {"shop/dev/main.yaml": "a: 2\n", "DOCS.md": "hello\n"}, author="dev",
                                branch="change", renamed={"DOCS.md": "README.md"})

    def statuses(sha: str) -> dict[str, tuple[str, str]]:
        return {s.context: (s.state, s.description) for s in host.statuses if s.sha == sha}

    yield Side(host, pr.number, pr.head_sha, lambda: host.merge(REPO, pr.number),
               lambda login: host.review(REPO, pr.number, login), statuses)


@pytest.fixture(params=["github", "memory"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Side]:
    yield from (on_github(tmp_path) if request.param == "github" else in_memory())


def test_pull_request_files_and_permissions(side: Side) -> None:
    host = side.host
    info = host.pull_request(REPO, side.number)
    assert (info.author, info.head_sha, info.base_ref, info.head_ref, info.state, info.merged, info.is_fork) == (
        "dev", side.head, "main", "change", "open", False, False)
    assert info.base_sha == host.branch_head(REPO, "main")
    assert sorted(host.changed_files(REPO, side.number)) == ["DOCS.md", "README.md", "shop/dev/main.yaml"]
    assert [p.number for p in host.open_pull_requests(REPO)] == [side.number]
    assert [host.permission(REPO, login) for login in ("reader", "dev", "lead", "bot", "nobody")] == [
        "read", "write", "maintain", "admin", "none"]
    assert (host.default_branch(REPO), host.bot_login()) == ("main", "bot")
    with pytest.raises(RuntimeFailed, match="404"):
        host.pull_request(REPO, 999)
    with pytest.raises(RuntimeFailed, match="404"):
        host.branch_head(REPO, "nowhere")


def test_the_repository_page_is_where_pull_requests_and_statuses_link(side: Side) -> None:
    page = side.host.repository_url(REPO)
    assert page.startswith(("http://", "https://")) and page.endswith(f"/{REPO}")
    assert side.host.pull_request(REPO, side.number).html_url == f"{page}/pull/{side.number}"
    with pytest.raises(RuntimeFailed, match="404"):
        side.host.repository_url("acme/nowhere")


def test_comments_reactions_and_their_limits(side: Side) -> None:
    host = side.host
    cid = host.create_comment(REPO, side.number, "first")
    host.edit_comment(REPO, cid, "edited")
    host.react(REPO, cid, "eyes")
    assert [(c.id, c.author, c.body) for c in host.comments(REPO, side.number)] == [(cid, "bot", "edited")]
    host.delete_comment(REPO, cid)
    assert host.comments(REPO, side.number) == []
    with pytest.raises(RuntimeFailed, match="404"):
        host.edit_comment(REPO, cid, "gone")
    with pytest.raises(RuntimeFailed, match="422"):
        host.create_comment(REPO, side.number, "x" * 65_537)
    with pytest.raises(RuntimeFailed, match="422"):
        host.create_comment(REPO, side.number, "")
    longest = host.create_comment(REPO, side.number, "y" * 65_536)
    assert [len(c.body) for c in host.comments(REPO, side.number) if c.id == longest] == [65_536]


def test_statuses_are_cut_to_githubs_limits(side: Side) -> None:
    side.host.set_status(REPO, side.head, "shipmate/preview", "pending", "previewing")
    side.host.set_status(REPO, side.head, "shipmate/preview", "success", "d" * 200)
    assert side.statuses(side.head) == {"shipmate/preview": ("success", "d" * 140)}


def test_a_merge_is_found_by_its_commit(side: Side) -> None:
    merged = side.merge()
    info = side.host.merged_pull_request_for(REPO, merged)
    assert info is not None and (info.number, info.merged, info.state, info.merge_commit_sha) == (
        side.number, True, "closed", merged)
    assert side.host.branch_head(REPO, "main") == merged
    assert side.host.merged_pull_request_for(REPO, side.head) is None
    assert side.host.open_pull_requests(REPO) == []


def test_commit_comments(side: Side) -> None:
    url = side.host.create_commit_comment(REPO, side.head, "## Shipmate apply\n\nfailed: disk full")
    assert f"/acme/infra/commit/{side.head}#commitcomment-" in url
    with pytest.raises(RuntimeFailed, match="422"):
        side.host.create_commit_comment(REPO, "0" * 40, "on no commit")
    with pytest.raises(RuntimeFailed, match="422"):
        side.host.create_commit_comment(REPO, side.head, "x" * 70_000)


def test_reviews_name_their_author_and_commit(side: Side) -> None:
    for login in ("reader", "lead"):
        side.review(login)
    assert [(r.author, r.state, r.commit_id, r.author_is_bot) for r in side.host.reviews(REPO, side.number)] == [
        ("reader", "APPROVED", side.head, False), ("lead", "APPROVED", side.head, False)]


def test_a_branch_of_files_and_its_pull_request(side: Side) -> None:
    host = side.host
    base = host.branch_head(REPO, "main")
    branch = "shipmate/drift/shop/dev"
    head = host.push_files(REPO, branch, base, {"shop/dev/main.yaml": "a: 3\n"}, "Adopt what is live")
    assert host.branch_head(REPO, branch) == head != base
    number = host.create_pull_request(REPO, branch, "main", "Adopt what is live", "Merging this ...")
    info = host.pull_request(REPO, number)
    assert (info.author, info.head_ref, info.head_sha, info.base_ref, info.state, info.is_fork) == (
        "bot", branch, head, "main", "open", False)
    assert list(host.changed_files(REPO, number)) == ["shop/dev/main.yaml"]
    # Written again from the same base: the branch is reset there, not built on.
    again = host.push_files(REPO, branch, base, {"shop/dev/main.yaml": "a: 4\n", "shop/dev/new.yaml": "b: 1\n"},
                            "Adopt what is live")
    assert host.branch_head(REPO, branch) == again and host.pull_request(REPO, number).head_sha == again
    assert sorted(host.changed_files(REPO, number)) == ["shop/dev/main.yaml", "shop/dev/new.yaml"]
    host.edit_issue(REPO, number, body="Closed: back in line", state="closed")
    assert host.pull_request(REPO, number).state == "closed" and host.issue_state(REPO, number) == "closed"
    host.delete_branch(REPO, branch)
    with pytest.raises(RuntimeFailed):
        host.branch_head(REPO, branch)
    host.delete_branch(REPO, branch)  # gone already: no error
    with pytest.raises(RuntimeFailed):
        host.create_pull_request(REPO, "no-such-branch", "main", "x", "y")


def test_issues_take_comments_and_close(side: Side) -> None:
    host = side.host
    number = host.create_issue(REPO, "Drift in shop/dev (dev)", "The live objects differ.")
    assert host.issue_state(REPO, number) == "open" and number != side.number
    host.create_comment(REPO, number, "Back in line: closing.")
    assert [c.body for c in host.comments(REPO, number)] == ["Back in line: closing."]
    host.edit_issue(REPO, number, state="closed")
    assert host.issue_state(REPO, number) == "closed"
