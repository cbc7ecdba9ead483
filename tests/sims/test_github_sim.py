"""The GitHub simulator driven as people and bots drive GitHub: PyGithub for the REST API and
plain git over smart HTTP, with every webhook checked against its secret and GitHub's shapes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import github
import pytest
import requests

from fixtures.github_sim import GitHubSim, SimHook, verify
from fixtures.github_sim.testing import HookRecorder, Received, payload_problems

SECRET = "hook-secret"
USERS = ["alice:tok-alice:admin", "bob:tok-bob:read", "carol:tok-carol:write", "ci[bot]:tok-ci:write"]


class Git:
    """Runs git in a work tree as one person, configured only through the environment."""

    def __init__(self, cwd: Path, name: str, home: Path) -> None:
        self.cwd = cwd
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": f"{name}@example.com",
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": f"{name}@example.com",
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc

    def commit_file(self, path: str, text: str, message: str) -> str:
        target = self.cwd / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self("add", path)
        self("commit", "-q", "-m", message)
        return self("rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def hooks() -> Iterator[HookRecorder]:
    with HookRecorder() as recorder:
        yield recorder


@pytest.fixture
def gh(tmp_path: Path, hooks: HookRecorder) -> Iterator[GitHubSim]:
    with GitHubSim.start(tmp_path / "sim", users=USERS, hooks=[SimHook(hooks.url, SECRET)], installation_id=7) as sim:
        yield sim


def clone(gh: GitHubSim, tmp_path: Path, owner: str, repo: str, token: str, who: str, into: str) -> Git:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    Git(tmp_path, who, home)("clone", "-q", gh.git_url(owner, repo, token), into)
    return Git(tmp_path / into, who, home)


def check_deliveries(gh: GitHubSim, hooks: HookRecorder) -> list[Received]:
    """Every delivery arrived, is signed with the secret and has the published structure."""
    gh.wait_idle()
    records = gh.deliveries()
    assert records and all(r["status"] == "delivered" for r in records), records
    assert len(hooks.received) == len(records)
    guids = [r.delivery for r in hooks.received]
    assert len(set(guids)) == len(guids)
    problems: list[str] = []
    for received in hooks.received:
        assert verify(SECRET, received.body, received.headers["X-Hub-Signature-256"]), received.event
        assert received.headers["User-Agent"].startswith("GitHub-Hookshot/")
        assert received.headers["Content-Type"] == "application/json"
        problems += [f"{received.event}/{received.action} {p}" for p in payload_problems(received.event, received.action, received.payload)]
    assert not problems, "\n".join(sorted(set(problems)))
    return hooks.received


def test_users_repositories_and_permissions(gh: GitHubSim) -> None:
    alice = gh.client("tok-alice")
    assert alice.get_user().login == "alice"
    repo = alice.get_user().create_repo("config", auto_init=True, private=False)
    assert repo.full_name == "alice/config"
    assert repo.clone_url == f"{gh.url}/alice/config.git"
    assert repo.url.startswith(gh.api_url)
    assert repo.default_branch == "main"
    assert repo.get_contents("README.md").decoded_content.startswith(b"# config")

    assert repo.get_collaborator_permission("alice") == "admin"
    assert repo.get_collaborator_permission("bob") == "read"
    assert repo.get_collaborator_permission("carol") == "write"
    gh.set_permission("alice", "config", "carol", "maintain")
    raw = requests.get(f"{repo.url}/collaborators/carol/permission", headers={"Authorization": "token tok-alice"}, timeout=5).json()
    assert (raw["permission"], raw["role_name"]) == ("write", "maintain")

    with pytest.raises(github.BadCredentialsException):
        gh.client("no-such-token").get_repo("alice/config")
    bob_repo = gh.client("tok-bob").get_repo("alice/config")
    with pytest.raises(github.GithubException) as denied:
        bob_repo.get_commit("main").create_status("success", context="ci")
    assert denied.value.status == 403

    secret = alice.get_user().create_repo("private", private=True, auto_init=True)
    assert requests.get(secret.url, timeout=5).status_code == 404
    assert requests.get(f"{gh.api_url}/repos/alice/config", timeout=5).status_code == 200
    anonymous = requests.post(f"{repo.url}/issues/1/comments", json={"body": "x"}, timeout=5)
    assert anonymous.status_code == 401


def test_git_push_pull_request_review_comments_checks_and_merge(gh: GitHubSim, hooks: HookRecorder, tmp_path: Path) -> None:
    alice = gh.client("tok-alice")
    repo = alice.get_user().create_repo("config", auto_init=True)
    work = clone(gh, tmp_path, "alice", "config", "tok-alice", "alice", "work")
    work("checkout", "-q", "-b", "feature")
    work.commit_file("app/main.yaml", "replicas: 1\n", "Add app")
    work.commit_file("app/stack.yaml", "name: dev\n", "Add stack")
    work.commit_file("README.md", "# config\nchanged\n", "Touch readme")
    work("push", "-q", "origin", "feature")
    push = hooks.wait_for("push")[0].payload
    assert push["ref"] == "refs/heads/feature" and push["created"] is True
    assert [c["message"] for c in push["commits"]] == ["Add app", "Add stack", "Touch readme"]
    assert push["head_commit"]["id"] == work("rev-parse", "HEAD").stdout.strip()
    assert push["pusher"]["name"] == "alice" and push["sender"]["login"] == "alice"
    assert push["commits"][0]["added"] == ["app/main.yaml"]

    pr = repo.create_pull(title="Scale app", body="Please", head="feature", base="main")
    assert pr.number == 1 and pr.head.ref == "feature" and pr.base.ref == "main"
    assert [p.number for p in repo.get_pulls(state="open", head="alice:feature")] == [1]
    assert list(repo.get_pulls(state="closed")) == []
    assert pr.mergeable is True and pr.mergeable_state == "clean"
    assert pr.changed_files == 3 and pr.commits == 3
    files = list(repo.get_pull(1).get_files())
    assert sorted(f.filename for f in files) == ["README.md", "app/main.yaml", "app/stack.yaml"]
    assert {f.filename: f.status for f in files}["README.md"] == "modified"
    paged = requests.get(f"{pr.url}/files?per_page=1", headers={"Authorization": "token tok-alice"}, timeout=5)
    assert len(paged.json()) == 1 and 'rel="next"' in paged.headers["Link"] and gh.api_url in paged.headers["Link"]
    assert [c.commit.message for c in pr.get_commits()] == ["Add app", "Add stack", "Touch readme"]

    before = pr.head.sha
    after = work.commit_file("app/main.yaml", "replicas: 2\n", "Scale to 2")
    work("push", "-q", "origin", "feature")
    sync = hooks.wait_for("pull_request", "synchronize")[0].payload
    assert (sync["before"], sync["after"], sync["number"]) == (before, after, 1)
    assert sync["pull_request"]["head"]["sha"] == after
    pr = repo.get_pull(1)
    assert pr.head.sha == after

    bob = gh.client("tok-bob").get_repo("alice/config").get_pull(1)
    comment = bob.create_issue_comment("/preview")
    comment.edit("/apply")
    comment.create_reaction("eyes")
    assert comment.get_reactions()[0].content == "eyes"
    assert repo.get_pull(1).get_issue_comment(comment.id).body == "/apply"
    with pytest.raises(github.GithubException) as too_long:
        pr.create_issue_comment("x" * 65537)
    assert too_long.value.status == 422
    assert "too long" in str(too_long.value.data)
    pr.create_issue_comment("x" * 65536).delete()
    assert [c.body for c in pr.get_issue_comments()] == ["/apply"]
    by_alice = pr.create_issue_comment("maintainer note")
    with pytest.raises(github.GithubException) as not_author:
        gh.client("tok-bob").get_repo("alice/config").get_issue(1).get_comment(by_alice.id).edit("vandalised")
    assert not_author.value.status == 403
    gh.client("tok-carol").get_repo("alice/config").get_issue(1).get_comment(by_alice.id).delete()

    commit = repo.get_commit(after)
    commit.create_status("pending", target_url="http://ci/1", description="previewing", context="shipmate/preview")
    commit.create_status("success", description="2 to update", context="shipmate/preview")
    combined = commit.get_combined_status()
    assert combined.state == "success" and combined.total_count == 1
    assert [s.state for s in commit.get_statuses()] == ["success", "pending"]
    with pytest.raises(github.GithubException) as pat_check:
        repo.create_check_run(name="shipmate", head_sha=after)
    assert pat_check.value.status == 403
    ci_repo = gh.client("tok-ci").get_repo("alice/config")
    run = ci_repo.create_check_run(name="shipmate", head_sha=after, status="in_progress", output={"title": "Preview", "summary": "running"})
    run.edit(status="completed", conclusion="success", output={"title": "Preview", "summary": "2 to update", "text": "details"})
    runs = list(ci_repo.get_commit(after).get_check_runs())
    assert [(r.name, r.conclusion, r.output.summary) for r in runs] == [("shipmate", "success", "2 to update")]
    assert repo.get_pull(1).mergeable_state == "clean"

    contents = repo.get_contents("app", ref="feature")
    assert sorted(c.path for c in contents) == ["app/main.yaml", "app/stack.yaml"]
    assert repo.get_contents("app/main.yaml", ref="feature").decoded_content == b"replicas: 2\n"

    with pytest.raises(github.GithubException) as self_approval:
        pr.create_review(event="APPROVE")
    assert self_approval.value.status == 422
    gh.client("tok-carol").get_repo("alice/config").get_pull(1).create_review(body="LGTM", event="APPROVE")
    assert [(r.user.login, r.state) for r in pr.get_reviews()] == [("carol", "APPROVED")]

    result = pr.merge(merge_method="merge")
    assert result.merged
    merge = repo.get_commit(result.sha)
    assert [p.sha for p in merge.parents][1] == after
    assert repo.get_branch("main").commit.sha == result.sha
    merged = repo.get_pull(1)
    assert merged.merged and merged.state == "closed" and merged.merged_by.login == "alice"
    assert [f.filename for f in merged.get_files()] == [f.filename for f in files]
    work("fetch", "-q", "origin")
    assert work("rev-parse", "origin/main").stdout.strip() == result.sha
    assert work("log", "-1", "--format=%P", "origin/main").stdout.split()[1] == after

    closed = hooks.wait_for("pull_request", "closed")[0].payload
    assert closed["pull_request"]["merged"] is True and closed["pull_request"]["merge_commit_sha"] == result.sha
    main_push = [r.payload for r in hooks.wait_for("push", count=3) if r.payload["ref"] == "refs/heads/main"]
    assert main_push[-1]["after"] == result.sha and main_push[-1]["head_commit"]["id"] == result.sha

    received = check_deliveries(gh, hooks)
    kinds = [(r.event, r.action) for r in received]
    for expected in [
        ("ping", None),
        ("push", None),
        ("pull_request", "opened"),
        ("pull_request", "synchronize"),
        ("issue_comment", "created"),
        ("issue_comment", "edited"),
        ("issue_comment", "deleted"),
        ("status", None),
        ("check_run", "created"),
        ("check_run", "completed"),
        ("pull_request_review", "submitted"),
        ("pull_request", "closed"),
    ]:
        assert expected in kinds, expected
    created = next(r.payload for r in received if (r.event, r.action) == ("issue_comment", "created"))
    assert created["issue"]["pull_request"]["url"].endswith("/repos/alice/config/pulls/1")
    assert created["comment"]["user"]["login"] == "bob" and created["installation"]["id"] == 7
    edited = next(r.payload for r in received if (r.event, r.action) == ("issue_comment", "edited"))
    assert edited["changes"] == {"body": {"from": "/preview"}}


def test_draft_ready_for_review_close_reopen_and_branch_deletion(gh: GitHubSim, hooks: HookRecorder, tmp_path: Path) -> None:
    repo = gh.client("tok-alice").get_user().create_repo("config", auto_init=True)
    work = clone(gh, tmp_path, "alice", "config", "tok-alice", "alice", "work")
    work("checkout", "-q", "-b", "wip")
    work.commit_file("a.yaml", "a: 1\n", "A")
    work("push", "-q", "origin", "wip")
    pr = repo.create_pull(title="WIP", body="", head="wip", base="main", draft=True)
    assert pr.draft is True and pr.mergeable_state == "draft"
    with pytest.raises(github.GithubException) as draft_merge:
        pr.merge()
    assert draft_merge.value.status == 405
    pr.mark_ready_for_review()
    assert repo.get_pull(pr.number).draft is False
    pr.edit(state="closed")
    assert repo.get_pull(pr.number).state == "closed"
    pr.edit(state="open")
    assert repo.get_pull(pr.number).state == "open"
    pr.edit(title="Ready")
    work("push", "-q", "origin", "--delete", "wip")
    hooks.wait_for("pull_request", "closed", count=2)
    assert repo.get_pull(pr.number).state == "closed" and repo.get_pull(pr.number).merged is False
    actions = [r.action for r in check_deliveries(gh, hooks) if r.event == "pull_request"]
    assert actions == ["opened", "ready_for_review", "closed", "reopened", "edited", "closed"]
    deleted = [r.payload for r in hooks.events("push") if r.payload["deleted"]]
    assert deleted and deleted[0]["after"] == "0" * 40 and deleted[0]["head_commit"] is None


def test_fork_pull_request_and_sync(gh: GitHubSim, hooks: HookRecorder, tmp_path: Path) -> None:
    upstream = gh.client("tok-alice").get_user().create_repo("config", auto_init=True)
    bob = gh.client("tok-bob")
    fork = bob.get_repo("alice/config").create_fork()
    assert fork.full_name == "bob/config" and fork.fork is True and fork.parent.full_name == "alice/config"
    work = clone(gh, tmp_path, "bob", "config", "tok-bob", "bob", "fork")
    work("checkout", "-q", "-b", "patch")
    work.commit_file("x.yaml", "x: 1\n", "From a fork")
    work("push", "-q", "origin", "patch")
    pr = bob.get_repo("alice/config").create_pull(title="Fork change", body="", head="bob:patch", base="main")
    assert pr.head.repo.fork is True and pr.head.repo.full_name == "bob/config"
    assert pr.base.repo.full_name == "alice/config" and pr.head.label == "bob:patch"
    assert [f.filename for f in pr.get_files()] == ["x.yaml"]
    newer = work.commit_file("x.yaml", "x: 2\n", "Again")
    work("push", "-q", "origin", "patch")
    sync = hooks.wait_for("pull_request", "synchronize")[0].payload
    assert sync["after"] == newer and sync["repository"]["full_name"] == "alice/config"
    assert sync["pull_request"]["head"]["repo"]["fork"] is True
    upstream_work = clone(gh, tmp_path, "alice", "config", "tok-alice", "alice", "upstream")
    upstream_work("fetch", "-q", "origin", "refs/pull/1/head")
    assert upstream_work("rev-parse", "FETCH_HEAD").stdout.strip() == newer
    assert upstream.get_pull(1).merge().merged
    check_deliveries(gh, hooks)


def test_git_auth_over_http(gh: GitHubSim, tmp_path: Path) -> None:
    gh.client("tok-alice").get_user().create_repo("config", auto_init=True)
    gh.client("tok-alice").get_user().create_repo("hidden", auto_init=True, private=True)
    home = tmp_path / "home"
    home.mkdir()
    git = Git(tmp_path, "bob", home)
    git("clone", "-q", gh.git_url("alice", "config"), "anonymous")
    reader = Git(tmp_path / "anonymous", "bob", home)
    reader.commit_file("b.txt", "b\n", "B")
    assert reader("push", "-q", "origin", "HEAD:main", check=False).returncode != 0
    reader("remote", "set-url", "origin", gh.git_url("alice", "config", "tok-bob"))
    denied = reader("push", "-q", "origin", "HEAD:main", check=False)
    assert denied.returncode != 0 and "403" in denied.stderr
    reader("remote", "set-url", "origin", gh.git_url("alice", "config", "wrong-token"))
    assert reader("push", "-q", "origin", "HEAD:main", check=False).returncode != 0
    reader("remote", "set-url", "origin", gh.git_url("alice", "config", "tok-carol", login="carol"))
    reader("push", "-q", "origin", "HEAD:main")
    assert git("clone", "-q", gh.git_url("alice", "hidden"), "nope", check=False).returncode != 0
    git("clone", "-q", gh.git_url("alice", "hidden", "tok-bob"), "hidden")
    assert (tmp_path / "hidden" / "README.md").exists()


def test_refs_contents_compare_and_merge_methods(gh: GitHubSim, hooks: HookRecorder, tmp_path: Path) -> None:
    repo = gh.client("tok-alice").get_user().create_repo("config", auto_init=True)
    main = repo.get_git_ref("heads/main")
    branch = repo.create_git_ref("refs/heads/state", main.object.sha)
    created = repo.create_file("releases/app/dev/1.yaml", "release 1", "r1\n", branch="state")
    updated = repo.update_file("releases/app/dev/1.yaml", "release 1 again", "r1b\n", created["content"].sha, branch="state")
    with pytest.raises(github.GithubException) as stale:
        repo.update_file("releases/app/dev/1.yaml", "stale", "x\n", created["content"].sha, branch="state")
    assert stale.value.status == 409
    assert repo.get_contents("releases/app/dev/1.yaml", ref="state").decoded_content == b"r1b\n"
    assert [r.ref for r in repo.get_git_matching_refs("heads/")] == ["refs/heads/main", "refs/heads/state"]
    compare = repo.compare("main", "state")
    assert (compare.status, compare.ahead_by, compare.behind_by) == ("ahead", 2, 0)
    assert [f.filename for f in compare.files] == ["releases/app/dev/1.yaml"]
    with pytest.raises(github.GithubException) as not_ff:
        branch.edit(main.object.sha)
    assert not_ff.value.status == 422
    branch.edit(main.object.sha, force=True)
    assert repo.get_git_ref("heads/state").object.sha == main.object.sha
    repo.get_git_ref("heads/state").delete()
    assert [r.ref for r in repo.get_git_refs()] == ["refs/heads/main"]
    assert updated["commit"].sha

    work = clone(gh, tmp_path, "alice", "config", "tok-alice", "alice", "work")
    for name in ("squashed", "rebased", "conflict"):
        work("checkout", "-q", "-B", name, "origin/main")
        work.commit_file(f"{name}.txt", "1\n", f"{name} one")
        work.commit_file(f"{name}.txt" if name != "conflict" else "README.md", "2\n", f"{name} two")
        work("push", "-q", "origin", name)
    squash = repo.create_pull(title="Squash", body="", head="squashed", base="main")
    rebase = repo.create_pull(title="Rebase", body="", head="rebased", base="main")
    squashed = squash.merge(merge_method="squash")
    assert len(repo.get_commit(squashed.sha).parents) == 1
    rebased = rebase.merge(merge_method="rebase")
    assert repo.get_commit(rebased.sha).commit.message == "rebased two"
    other = clone(gh, tmp_path, "alice", "config", "tok-alice", "alice", "other")
    other.commit_file("README.md", "conflicting\n", "Conflict on main")
    other("push", "-q", "origin", "main")
    conflict = repo.create_pull(title="Conflict", body="", head="conflict", base="main")
    assert conflict.mergeable is False and conflict.mergeable_state == "dirty"
    with pytest.raises(github.GithubException) as unmergeable:
        conflict.merge()
    assert unmergeable.value.status == 405
    check_deliveries(gh, hooks)


def test_manual_merge_by_push_closes_the_pull_request(gh: GitHubSim, hooks: HookRecorder, tmp_path: Path) -> None:
    repo = gh.client("tok-alice").get_user().create_repo("config", auto_init=True)
    work = clone(gh, tmp_path, "alice", "config", "tok-alice", "alice", "work")
    work("checkout", "-q", "-b", "topic")
    head = work.commit_file("t.txt", "t\n", "Topic")
    work("push", "-q", "origin", "topic")
    repo.create_pull(title="Topic", body="", head="topic", base="main")
    work("checkout", "-q", "main")
    work("merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
    work("push", "-q", str(gh.bare_path("alice", "config")), "main")
    pr = repo.get_pull(1)
    assert pr.merged is True and pr.head.sha == head
    closed = hooks.wait_for("pull_request", "closed")[0].payload
    assert closed["pull_request"]["merged"] is True and closed["sender"]["login"] == "alice"
    pushed = [r.payload for r in hooks.events("push") if r.payload["ref"] == "refs/heads/main"]
    assert pushed[-1]["after"] == pr.merge_commit_sha
    check_deliveries(gh, hooks)
