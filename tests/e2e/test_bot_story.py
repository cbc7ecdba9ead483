"""The bot end to end: simulated GitHub delivers real, signed webhooks over HTTP to Shipmate
built as `shipmate serve` builds it (queue, workers, web app), which previews and applies to
the simulated Kubernetes and real Terraform and records Releases on the repository's state
branch. People act only through the GitHub API (PyGithub) and git pushes.

One story test walks the whole workflow; the focused tests reuse the running sandbox with
pull requests that touch no stack (nothing to apply), so they cost little.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import REPO, REPO_NAME, REPO_OWNER, Sandbox
from bot.core.release import Phase, Trigger
from bot.web import signature
from tests.e2e.world import (
    all_bot_text,
    bodies,
    comment,
    comments,
    forms,
    open_pr,
    reactions,
    replace,
    statuses,
)

pytestmark = pytest.mark.e2e

DEPLOY_TOKEN = "tok-e2e-4f9c1a77d2b8"  # a workspace context value under a secret key name
API_KEY = "sk-live-e2e-93a1b7c0e5"  # data of a Kubernetes Secret the pull request adds


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("bot"), context={"DEPLOY_TOKEN": DEPLOY_TOKEN}) as sandbox:
        yield sandbox


def state(box: Sandbox, tmp: Path):  # type: ignore[no-untyped-def]
    return git_backend(box.state_url(), "shipmate-state", data_dir=tmp)


def kube(box: Sandbox) -> client.ApiClient:
    return config.new_client_from_config(str(box.kubeconfig))


def test_pull_request_from_preview_to_apply_on_merge(box: Sandbox, tmp_path: Path) -> None:
    # bob opens a pull request: quieter logs, a setting that repeats the deploy token, a new Secret.
    pr = open_pr(box, "bob", {
        "shop/dev/main.yaml": lambda text: replace("LOG_LEVEL: debug", "LOG_LEVEL: info")(
            replace("          username: shop\n",
                    f"          username: shop\n      api:\n        type: opaque\n        data:\n          key: {API_KEY}\n")(text)),
        "shop/dev/manifests/settings.yaml": replace("greeting: hello from dev",
                                                    f"greeting: hello from dev\n  deploy: uses {DEPLOY_TOKEN}"),
    }, title="Quieter logs in dev")
    box.settle()
    [preview] = bodies(box, 1)
    assert preview.startswith("<!-- shipmate:preview key=pr-1 ")
    assert "### `shop` / `dev` · workspace `dev`" in preview and "**8 to create, 0 to update" in preview
    assert "`v1:Secret:shop:api` | ➕ Create" in preview
    assert statuses(box, pr.head.sha)["shipmate/preview"] == (
        "success", "1 stack: 8 to create, 0 to update, 0 to delete, 0 unchanged")

    # eve can only read: refused, and nothing is recorded.
    asked = comment(box, "eve", 1, "/apply")
    box.settle()
    refusal = bodies(box, 1, after=asked.id)
    assert refusal == ["**`/apply` was not run** (requested by @eve): @eve has read permission on this "
                       "repository; /apply needs write.\n"]
    assert reactions(box, 1, asked.id) == ["confused", "eyes"]
    # bob may write, but the repository requires an approval at the head first.
    asked = comment(box, "bob", 1, "/apply")
    box.settle()
    assert "requirements not met: the pull request needs an approval" in bodies(box, 1, after=asked.id)[0]
    with state(box, tmp_path / "s1") as backend:
        assert backend.latest("shop", "dev") is None

    # alice approves and applies: a Release, the objects, the lock kept for the pull request.
    box.repo("alice").get_pull(1).create_review(event="APPROVE")
    asked = comment(box, "alice", 1, "/apply")
    box.settle()
    [applied] = bodies(box, 1, after=asked.id)
    assert applied.startswith("<!-- shipmate:apply key=pr-1-c")
    assert f"@alice asked to apply commit `{pr.head.sha[:7]}`: ✅ 1 succeeded." in applied
    assert "| `shop` / `dev` | `dev` | ✅ succeeded | r1 | 8 to create" in applied
    assert reactions(box, 1, asked.id) == ["eyes", "rocket"]
    assert statuses(box, pr.head.sha)["shipmate/apply"] == ("success", "1 stack applied: shop/dev r1")
    with state(box, tmp_path / "s2") as backend:
        r1 = backend.latest("shop", "dev")
        assert r1 is not None and r1.revision == 1 and r1.phase is Phase.SUCCEEDED
        assert (r1.trigger, r1.actor, r1.commit, r1.pull_request) == (Trigger.COMMENT, "alice", pr.head.sha, 1)
        [lock] = backend.list_locks()
        assert (lock.key, lock.owner, lock.pull_request) == ("shop/dev", f"pr:{REPO}#1", 1)
        stored = r1.to_yaml()
    api = kube(box)
    try:
        deployment = client.AppsV1Api(api).read_namespaced_deployment("shop-dev-web", "shop")
        env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env if e.value}
        assert env["LOG_LEVEL"] == "info"
        secret = client.CoreV1Api(api).read_namespaced_secret("api", "shop")
        assert base64.b64decode(secret.data["key"]).decode() == API_KEY
        password = base64.b64decode(client.CoreV1Api(api).read_namespaced_secret("db", "shop").data["password"]).decode()
    finally:
        api.close()

    # A second pull request on the same stack is told who holds it; --no-wait cannot apply.
    open_pr(box, "bob", {"shop/dev/manifests/settings.yaml": replace("hello from dev", "hi from dev")},
                  title="Friendlier greeting")
    box.settle()
    [preview2] = bodies(box, 2)
    assert "> 🔒 `shop/dev` is locked by pull request #1: `/apply` here waits in line" in preview2
    box.repo("alice").get_pull(2).create_review(event="APPROVE")
    asked = comment(box, "alice", 2, "/apply --no-wait")
    box.settle()
    [locked] = bodies(box, 2, after=asked.id)
    assert f"shop/dev is locked by pr:{REPO}#1 (pull request #1" in locked
    assert "comment `/unlock` on #1 to free it" in locked

    # alice merges #1: the merge commit is applied, recorded, and the lock is freed.
    merged = box.repo("alice").get_pull(1).merge(merge_method="merge")
    box.settle()
    [on_merge] = bodies(box, 1, after=asked.id)
    assert on_merge.startswith("<!-- shipmate:merge key=pr-1 ")
    assert f"Merged as `{merged.sha[:7]}`; applied from that commit: ✅ 1 succeeded." in on_merge
    assert "| `shop` / `dev` | `dev` | ✅ succeeded | r2 | 0 to create, 0 to update, 0 to delete, 8 unchanged |" in on_merge
    assert f"- `shop/dev` (held by `pr:{REPO}#1`)" in on_merge
    assert statuses(box, merged.sha)["shipmate/apply"] == ("success", "1 stack applied: shop/dev r2")
    with state(box, tmp_path / "s3") as backend:
        r2 = backend.latest("shop", "dev")
        assert r2 is not None and (r2.revision, r2.trigger, r2.commit, r2.pull_request) == (2, Trigger.PUSH, merged.sha, 1)
        assert backend.list_locks() == ()

    # Now #2 applies; closing it unmerged releases its lock and says so.
    asked = comment(box, "alice", 2, "/apply")
    box.settle()
    assert "| `shop` / `dev` | `dev` | ✅ succeeded | r3 |" in bodies(box, 2, after=asked.id)[0]
    box.repo("bob").get_pull(2).edit(state="closed")
    box.settle()
    assert bodies(box, 2)[-1].endswith(
        f"Pull request closed; released:\n\n- `shop/dev` (held by `pr:{REPO}#2`)\n")
    with state(box, tmp_path / "s4") as backend:
        assert backend.list_locks() == ()

    # No secret value ever reached a comment, a status or the stored Release.
    text = all_bot_text(box, [1, 2])
    for secret in (DEPLOY_TOKEN, API_KEY, password):
        for leaked in forms(secret):
            assert leaked not in text
            assert leaked not in stored
    assert "uses (sensitive value)" in preview or "deploy: (sensitive value)" in preview


def test_fork_pull_requests_are_never_checked_out(box: Sandbox) -> None:
    fork = box.client("eve").get_repo(REPO).create_fork()
    branch = "fork-change"
    work = box.root / "clones" / "eve-fork"
    from bot.cli.sandbox import USERS, git

    git("clone", "-q", box.github.git_url("eve", REPO_NAME, USERS["eve"][0], "eve"), str(work), cwd=box.root)
    git("checkout", "-q", "-b", branch, cwd=work)
    (work / "shop/dev/main.yaml").write_text((work / "shop/dev/main.yaml").read_text() + "\n# from a fork\n")
    git("-c", "user.name=eve", "-c", "user.email=eve@acme.example", "commit", "-qam", "From a fork", cwd=work)
    git("push", "-q", "origin", branch, cwd=work)
    assert fork.full_name == f"eve/{REPO_NAME}"
    pr = box.repo("eve").create_pull(title="From a fork", body="", head=f"eve:{branch}", base="main")
    box.settle()
    [notice] = bodies(box, pr.number)
    assert "This pull request comes from a fork, so Shipmate does not check it out" in notice
    assert "shipmate/preview" not in statuses(box, pr.head.sha)
    trees = box.root / "shipmate" / "checkouts" / REPO_OWNER / REPO_NAME / "trees"
    assert not (trees / pr.head.sha).exists()
    asked = comment(box, "alice", pr.number, "/preview")
    box.settle()
    assert "Pull requests from forks never run Terraform or apply" in bodies(box, pr.number, after=asked.id)[0]


def test_edited_comments_and_policy_in_the_pull_request_are_ignored(box: Sandbox) -> None:
    # The pull request lowers the bar in its own shipmate.yaml and asks for draft previews.
    settings = (
        "backend: {branch: shipmate-state}\napply: both\npermissions: {apply: read}\ndraftPreviews: true\n"
    )
    pr = open_pr(box, "bob", {"shipmate.yaml": settings, "README.md": "acme config\n"}, title="Relax", draft=True)
    box.settle()
    assert bodies(box, pr.number) == []  # main's shipmate.yaml has no draftPreviews: no preview
    asked = comment(box, "eve", pr.number, "/apply")
    box.settle()
    assert "@eve has read permission on this repository; /apply needs write." in bodies(box, pr.number, after=asked.id)[0]
    # A harmless comment edited into a command does nothing.
    quiet = comment(box, "alice", pr.number, "Thanks, looks fine")
    box.settle()
    quiet.edit("/apply")
    box.settle()
    assert bodies(box, pr.number, after=quiet.id) == []
    assert reactions(box, pr.number, quiet.id) == []


def test_forged_and_replayed_deliveries_do_nothing(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {"docs/notes.md": "notes\n"}, title="Notes")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert "No stacks are affected by this change." in preview
    # A forged /help "from alice", signed with the wrong secret, is refused at the door.
    payload = {"action": "created", "repository": {"full_name": REPO, "default_branch": "main"},
               "issue": {"number": pr.number, "pull_request": {}},
               "comment": {"id": 987654, "body": "/help", "user": {"login": "alice", "type": "User"}},
               "sender": {"login": "alice"}}
    body = json.dumps(payload).encode()
    answer = requests.post(f"{box.server.url}/webhooks/github", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "forged-1",
        "X-Hub-Signature-256": signature("not-the-secret", body)})
    assert answer.status_code == 401
    # A real /help, then GitHub redelivers it: answered once.
    asked = comment(box, "alice", pr.number, "/help")
    box.settle()
    [sent] = [d for d in box.github.deliveries("issue_comment", "created")
              if box.github.delivery(d["id"])["payload"]["comment"]["id"] == asked.id]
    box.github.redeliver(sent["id"])
    box.settle()
    replies = bodies(box, pr.number, after=asked.id)
    assert len(replies) == 1 and replies[0].startswith("**Shipmate commands**")
    assert all("987654" not in c["body"] for c in comments(box, pr.number, by=None))
    redelivered = [d for d in box.github.deliveries("issue_comment", "created") if d.get("redelivery")]
    assert [(d["status_code"], json.loads(box.github.delivery(d["id"])["response"]["body"])["status"])
            for d in redelivered] == [(200, "duplicate")]
