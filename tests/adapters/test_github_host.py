"""The GitHub adapter over PyGithub against the GitHub simulator, and the git checkout cache: what
is GitHub's own (tokens, forks, commit comments read back by PyGithub, bot reviewers). What every
code host does is in test_codehost_contract.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.adapters.github.checkout import GitCheckouts
from bot.adapters.github.host import Credentials, GitHubHost
from bot.core.errors import RuntimeFailed
from fixtures.github_sim import GitHubSim

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout.strip()


USERS = ["dev:dev-token:write", "bot:bot-token:admin", "reader:read-token:read", "lead:lead-token:maintain"]


def open_change(sim: GitHubSim, tmp_path: Path) -> tuple[int, str]:
    """acme/infra with `shop/dev/main.yaml` and a README on main, and a pull request by `dev`
    changing the one and renaming the other: (its number, its head commit)."""
    sim.create_repo("acme", "infra")
    work = tmp_path / "work"
    git("clone", "-q", sim.git_url("acme", "infra", "dev-token", "dev"), str(work), cwd=tmp_path)
    (work / "shop" / "dev").mkdir(parents=True)
    (work / "shop" / "dev" / "main.yaml").write_text("a: 1\n")
    (work / "README.md").write_text("hello\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "init", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    git("checkout", "-qb", "change", cwd=work)
    (work / "shop" / "dev" / "main.yaml").write_text("a: 2\n")
    git("mv", "README.md", "DOCS.md", cwd=work)
    git("commit", "-qam", "change", cwd=work)
    git("push", "-q", "origin", "change", cwd=work)
    pr = sim.client("dev-token").get_repo("acme/infra").create_pull(base="main", head="change", title="Change", body="")
    return pr.number, git("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def world(tmp_path):
    with GitHubSim.start(tmp_path / "gh", users=USERS) as sim:
        number, head = open_change(sim, tmp_path)
        host = GitHubHost(Credentials(api_url=sim.api_url, token="bot-token"), throttle=False)
        yield sim, host, number, head, tmp_path


def test_checkout_exports_a_clean_tree_per_commit(world):
    sim, host, number, head, tmp = world
    checkouts = GitCheckouts(tmp / "cache", host.clone_url)
    tree = Path(checkouts.checkout("acme/infra", head))
    assert (tree / "shop" / "dev" / "main.yaml").read_text() == "a: 2\n"
    assert not (tree / ".git").exists()
    assert checkouts.checkout("acme/infra", head) == str(tree)
    with pytest.raises(RuntimeFailed) as error:
        checkouts.checkout("acme/infra", "0" * 40)
    assert "bot-token" not in str(error.value)


def test_unknown_token_is_a_clear_error(world):
    sim = world[0]
    host = GitHubHost(Credentials(api_url=sim.api_url, token="nope"), throttle=False)
    with pytest.raises(RuntimeFailed, match="401"):
        host.pull_request("acme/infra", 1)


def test_a_pull_request_whose_fork_was_deleted_is_a_fork(world):
    # GitHub sends `head.repo: null` once a fork is deleted; the adapter must not read that as
    # "same repository" (its head would then be checked out with the repository's token).
    sim, host, _, _, tmp = world
    reader = sim.client("read-token")
    fork = reader.get_repo("acme/infra").create_fork()
    work = tmp / "fork"
    git("clone", "-q", sim.git_url("reader", "infra", "read-token", "reader"), str(work), cwd=tmp)
    git("checkout", "-qb", "sneaky", cwd=work)
    (work / "shop" / "dev" / "main.yaml").write_text("a: 3\n")
    git("commit", "-qam", "sneaky", cwd=work)
    git("push", "-q", "origin", "sneaky", cwd=work)
    pr = reader.get_repo("acme/infra").create_pull(base="main", head="reader:sneaky", title="Sneaky", body="")
    live = host.pull_request("acme/infra", pr.number)
    assert (live.is_fork, live.head_repo) == (True, "reader/infra")
    fork.delete()
    gone = host.pull_request("acme/infra", pr.number)
    assert gone.head_repo == "" and gone.is_fork
    assert [p.is_fork for p in host.open_pull_requests("acme/infra") if p.number == pr.number] == [True]


def test_commit_comments(world):
    sim, host, _, head, _ = world
    url = host.create_commit_comment("acme/infra", head, "## Shipmate apply\n\nfailed: disk full")
    [note] = sim.commit_comments("acme", "infra", head)
    assert url == note["html_url"] and url.endswith(f"/acme/infra/commit/{head}#commitcomment-{note['id']}")
    assert (note["user"]["login"], note["commit_id"], note["body"]) == ("bot", head, "## Shipmate apply\n\nfailed: disk full")
    # PyGithub reads them back the way GitHub serves them, per commit and per repository.
    repo = sim.client("dev-token").get_repo("acme/infra")
    assert [c.body for c in repo.get_commit(head).get_comments()] == [note["body"]]
    assert [c.id for c in repo.get_comments()] == [note["id"]]
    assert repo.get_commit(head).raw_data["commit"]["comment_count"] == 1
    with pytest.raises(RuntimeFailed, match="422"):
        host.create_commit_comment("acme/infra", "0" * 40, "on no commit")
    with pytest.raises(RuntimeFailed, match="body is too long|422"):
        host.create_commit_comment("acme/infra", head, "x" * 70000)


def test_reviews_say_who_is_a_bot_and_permissions_are_read_per_reviewer(world):
    sim, host, number, head, _ = world
    sim.add_user("ci[bot]", "ci-token", "admin")
    for token in ("read-token", "lead-token", "ci-token"):
        sim.client(token).get_repo("acme/infra").get_pull(number).create_review(event="APPROVE")
    reviews = host.reviews("acme/infra", number)
    assert [(r.author, r.state, r.commit_id, r.author_is_bot) for r in reviews] == [
        ("reader", "APPROVED", head, False), ("lead", "APPROVED", head, False), ("ci[bot]", "APPROVED", head, True)]
    assert [host.permission("acme/infra", r.author) for r in reviews] == ["read", "maintain", "admin"]


def test_calls_are_counted_by_outcome_with_the_rate_limit_of_the_last_answer(world) -> None:
    from bot.core.errors import TransientError
    from bot.metrics import ShipmateMetrics

    sim, _, number, head, _ = world
    metrics = ShipmateMetrics()
    host = GitHubHost(Credentials(api_url=sim.api_url, token="bot-token"), throttle=False, metrics=metrics)
    assert metrics.github_rate.last is None  # no answer yet: the gauges are left out of a scrape
    assert host.pull_request("acme/infra", number).head_sha == head
    host.set_status("acme/infra", head, "shipmate/preview", "success", "done")
    with pytest.raises(RuntimeFailed):
        host.pull_request("acme/infra", 999)
    sim.inject_fault(r"/pulls/\d+$", 429, retry_after=30)
    with pytest.raises(TransientError):
        host.pull_request("acme/infra", number)
    sim.inject_fault(r"/statuses/", 503)
    with pytest.raises(TransientError):
        host.set_status("acme/infra", head, "shipmate/preview", "success", "done")
    calls = {(call, outcome): metrics.github_calls.value(call=call, outcome=outcome)
             for call in ("pull_request", "set_status", "repository")
             for outcome in ("ok", "client_error", "rate_limited", "server_error")}
    assert {k: v for k, v in calls.items() if v} == {
        ("repository", "ok"): 1,  # read once, then cached
        ("pull_request", "ok"): 1, ("pull_request", "client_error"): 1, ("pull_request", "rate_limited"): 1,
        ("set_status", "ok"): 1, ("set_status", "server_error"): 1,
    }
    assert metrics.github_rate.last == (4999, 5000, 4102444800)
    text = metrics.render()
    assert "shipmate_github_rate_limit_remaining 4999.0" in text.splitlines()
