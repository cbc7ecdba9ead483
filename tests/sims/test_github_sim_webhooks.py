"""The GitHub simulator's deliveries and admin surface: recorded and redelivered webhooks over
HTTP, failing receivers, GitHub App authentication, the command line and restarts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import github
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fixtures.github_sim import GitHubSim, SimHook, verify
from fixtures.github_sim.testing import HookRecorder, payload_problems

SECRET = "s3cret"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hooks() -> Iterator[HookRecorder]:
    with HookRecorder() as recorder:
        yield recorder


def test_deliveries_are_listed_fetched_and_redelivered_over_http(tmp_path: Path, hooks: HookRecorder) -> None:
    with GitHubSim.start(tmp_path / "sim", users=["alice:tok-a:admin"]) as gh:
        admin = f"{gh.url}/_sim"
        assert requests.post(f"{admin}/hooks", json={"url": hooks.url, "secret": SECRET}, timeout=5).status_code == 201
        assert requests.post(f"{admin}/users", json={"login": "dave", "token": "tok-d", "permission": "triage"}, timeout=5).status_code == 201
        made = requests.post(f"{admin}/repos", json={"owner": "acme", "name": "infra", "auto_init": True}, timeout=5)
        assert made.status_code == 201 and made.json()["owner"]["type"] == "Organization"
        repo = gh.client("tok-a").get_repo("acme/infra")
        issue = repo.create_issue(title="Drift")
        gh.client("tok-d").get_repo("acme/infra").get_issue(issue.number).create_comment("/preview")
        assert requests.get(f"{admin}/wait?timeout=10", timeout=15).json() == {"idle": True, "pending": 0}

        listed = requests.get(f"{admin}/deliveries?event=issue_comment", timeout=5).json()
        assert [(d["event"], d["action"], d["status"], d["status_code"]) for d in listed] == [("issue_comment", "created", "delivered", 200)]
        assert requests.get(f"{admin}/deliveries?pending", timeout=5).json() == []
        full = requests.get(f"{admin}/deliveries/{listed[0]['id']}", timeout=5).json()
        assert full["payload"]["comment"]["body"] == "/preview"
        assert "pull_request" not in full["payload"]["issue"]
        assert full["payload"]["organization"]["login"] == "acme"
        assert full["request_headers"]["X-GitHub-Event"] == "issue_comment"

        again = requests.post(f"{admin}/deliveries/{listed[0]['id']}/redeliver", timeout=5)
        assert again.status_code == 202 and again.json()["redelivery"] is True
        gh.wait_idle()
        comments = hooks.events("issue_comment")
        assert len(comments) == 2
        assert comments[0].delivery == comments[1].delivery == listed[0]["guid"]
        assert comments[0].body == comments[1].body
        assert all(verify(SECRET, c.body, c.headers["X-Hub-Signature-256"]) for c in comments)
        assert payload_problems("issue_comment", "created", comments[1].payload) == []
        assert requests.post(f"{admin}/deliveries/999999/redeliver", timeout=5).status_code == 404
        assert [h["url"] for h in requests.get(f"{admin}/hooks", timeout=5).json()] == [hooks.url]


def test_failing_receiver_is_recorded_and_can_be_replayed(tmp_path: Path) -> None:
    with HookRecorder(status=503) as broken, GitHubSim.start(tmp_path / "sim", users=["alice:tok-a"], hooks=[f"{broken.url}:{SECRET}"], ping=False) as gh:
        repo = gh.client("tok-a").get_user().create_repo("config", auto_init=True)
        repo.create_file("a.txt", "add a", "a\n")
        gh.wait_idle()
        failed = gh.deliveries(event="push")
        assert [(d["status"], d["status_code"]) for d in failed] == [("failed", 503)]
        broken.status = 200
        replay = gh.redeliver(failed[0]["id"])
        gh.wait_idle()
        assert gh.delivery(replay["id"])["status"] == "delivered"
        assert [r.payload["head_commit"]["message"] for r in broken.events("push")] == ["add a", "add a"]


def test_unreachable_receiver_fails_without_blocking(tmp_path: Path) -> None:
    public = "http://github.internal:8443"
    with GitHubSim.start(tmp_path / "sim", users=["alice:tok-a"], hooks=[SimHook("http://127.0.0.1:9/none", SECRET)], public_url=public) as gh:
        gh.wait_idle()
        (ping,) = gh.deliveries()
        assert ping["event"] == "ping" and ping["status"] == "failed" and ping["error"]
        assert gh.delivery(ping["id"])["payload"]["hook"]["url"].startswith(f"{public}/api/v3/")
        me = requests.get(f"{gh.api_url}/user", headers={"Authorization": "token tok-a"}, timeout=5).json()
        assert me["url"] == f"{gh.api_url}/users/alice"


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_github_app_installation_token_and_check_runs(tmp_path: Path, hooks: HookRecorder) -> None:
    private, public = _rsa_pair()
    with GitHubSim.start(tmp_path / "sim", users=["alice:tok-a:admin"], hooks=[SimHook(hooks.url, SECRET)]) as gh:
        gh.register_app(4242, "shipmate", public, installation_id=99, owner="acme")
        gh.client("tok-a").get_user().create_repo("config", auto_init=True)
        app_auth = github.Auth.AppAuth(4242, private)
        integration = github.GithubIntegration(auth=app_auth, base_url=gh.api_url)
        installation = integration.get_repo_installation("alice", "config")
        assert installation.id == 99
        bot = github.Github(auth=app_auth.get_installation_auth(99), base_url=gh.api_url, seconds_between_requests=0, seconds_between_writes=0, retry=None)
        repo = bot.get_repo("alice/config")
        sha = repo.get_branch("main").commit.sha
        run = repo.create_check_run(name="shipmate/preview", head_sha=sha, status="completed", conclusion="neutral", output={"title": "No changes", "summary": "0 resources"})
        assert run.app.slug == "shipmate" and run.conclusion == "neutral"
        assert repo.get_collaborator_permission("shipmate[bot]") == "write"
        forged_private, _ = _rsa_pair()
        with pytest.raises(github.GithubException) as forged:
            github.GithubIntegration(auth=github.Auth.AppAuth(4242, forged_private), base_url=gh.api_url).get_repo_installation("alice", "config")
        assert forged.value.status == 401
        gh.wait_idle()
        created = hooks.wait_for("check_run", "created")[0].payload
        assert created["installation"]["id"] == 99 and created["sender"]["login"] == "shipmate[bot]"
        assert created["check_run"]["app"]["slug"] == "shipmate"
        assert payload_problems("check_run", "created", created) == []


def test_state_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "sim"
    with GitHubSim.start(data, users=["alice:tok-a:admin"]) as gh:
        repo = gh.client("tok-a").get_user().create_repo("config", auto_init=True)
        repo.create_git_ref("refs/heads/feature", repo.get_branch("main").commit.sha)
        repo.create_file("f.txt", "feature", "f\n", branch="feature")
        pr = repo.create_pull(title="Feature", body="b", head="feature", base="main")
        pr.create_issue_comment("kept")
    with GitHubSim.start(data) as gh:
        repo = gh.client("tok-a").get_repo("alice/config")
        pull = repo.get_pull(1)
        assert pull.title == "Feature" and [c.body for c in pull.get_issue_comments()] == ["kept"]
        assert pull.create_issue_comment("after restart").id > 0
        assert repo.create_issue(title="Numbers go on").number == 2
        assert gh.client("tok-a").get_user().login == "alice"


def test_paginated_comments_and_a_large_push(tmp_path: Path) -> None:
    with GitHubSim.start(tmp_path / "sim", users=["alice:tok-a:admin"]) as gh:
        repo = gh.client("tok-a", per_page=2).get_user().create_repo("config", auto_init=True)
        issue = repo.create_issue(title="Many comments")
        for index in range(5):
            issue.create_comment(f"comment {index}")
        assert [c.body for c in issue.get_comments()] == [f"comment {i}" for i in range(5)]
        first = requests.get(f"{gh.api_url}/repos/alice/config/issues/1/comments?per_page=2", timeout=5)
        links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"]))
        assert links["last"].endswith("page=3") and links["next"].startswith(gh.api_url)

        home = tmp_path / "home"
        home.mkdir()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, "HOME": str(home),
               "GIT_AUTHOR_NAME": "alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
               "GIT_COMMITTER_NAME": "alice", "GIT_COMMITTER_EMAIL": "alice@example.com"}
        work = tmp_path / "work"
        subprocess.run(["git", "clone", "-q", gh.git_url("alice", "config", "tok-a"), str(work)], env=env, check=True)
        (work / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))
        subprocess.run(["git", "add", "blob.bin"], cwd=work, env=env, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "big"], cwd=work, env=env, check=True)
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=work, env=env, check=True, capture_output=True)
        assert repo.get_contents("blob.bin").size == 3 * 1024 * 1024


def test_command_line_serves_until_terminated(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "fixtures.github_sim", "--data", str(tmp_path / "x"), "--user", "nobody"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "LOGIN:TOKEN" in bad.stderr and "Traceback" not in bad.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixtures.github_sim", "--port", "0", "--data", str(tmp_path / "sim"),
         "--user", "alice:tok-a:admin", "--repo", "alice/config"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        health = requests.get(f"{url}/_sim/health", timeout=5).json()
        assert health["api_url"] == f"{url}/api/v3"
        repo = requests.get(f"{url}/api/v3/repos/alice/config", headers={"Authorization": "Bearer tok-a"}, timeout=5).json()
        assert repo["clone_url"] == f"{url}/alice/config.git" and repo["permissions"]["admin"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_commit_comments_are_delivered_and_kept(tmp_path: Path, hooks: HookRecorder) -> None:
    data = tmp_path / "sim"
    with GitHubSim.start(data, users=["alice:tok-a:admin", "eve:tok-e:read"]) as gh:
        gh.add_hook(SimHook(hooks.url, SECRET))
        repo = gh.client("tok-a").get_user().create_repo("config", auto_init=True)
        sha = repo.get_branch("main").commit.sha
        note = gh.client("tok-e").get_repo("alice/config").get_commit(sha).create_comment("applied: 1 failed")
        gh.wait_idle()
        [event] = hooks.events("commit_comment")
        assert event.payload["action"] == "created" and event.payload["sender"]["login"] == "eve"
        assert event.payload["comment"]["id"] == note.id and event.payload["comment"]["commit_id"] == sha
        assert event.payload["comment"]["html_url"].endswith(f"/alice/config/commit/{sha}#commitcomment-{note.id}")
        with pytest.raises(github.GithubException) as empty:
            repo.get_commit(sha).create_comment("")
        assert empty.value.status == 422
    with GitHubSim.start(data) as gh:
        repo = gh.client("tok-a").get_repo("alice/config")
        assert [(c.body, c.user.login) for c in repo.get_commit(sha).get_comments()] == [("applied: 1 failed", "eve")]
