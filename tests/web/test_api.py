"""The read API (`/api/v1`) of a server built as `shipmate serve` builds it, over the GitHub
simulator: a state branch with releases (one of them holding a Secret, stored masked), a lock,
a drift record and a pull request's preview record; a queue with a dead letter; viewers who
sign in with their GitHub token. Golden JSON for every endpoint (addresses and times that
change between runs are shown as placeholders), and the 400/401/403/404 answers."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.adapters.gitstate import git_backend
from bot.core.events import SweepLocks, delivery_of
from bot.core.release import Phase, Release, Trigger
from bot.core.spec import Resource, Spec, State
from bot.settings import Settings
from bot.wiring import ServerParts, build_server
from fixtures.github_sim import GitHubSim, SimUser
from tests.conftest import ManualClock
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "api"
OWNER, NAME = "acme", "config"
REPO = f"{OWNER}/{NAME}"
TOKENS = {"shipmate-bot": "bot-token", "alice": "alice-token", "eve": "eve-token", "mallory": "mallory-token"}
STACK = f"/api/v1/repos/{REPO}/stacks/shop/dev"
SECRET = "hunter2-very-secret"
PUBLIC = "https://shipmate.test"


@dataclass
class Served:
    sim: GitHubSim
    parts: ServerParts
    pull: int
    head: str
    dead_job: int

    def get(self, path: str, who: str | None = "alice", **headers: str) -> Any:
        if who is not None:
            headers["Authorization"] = f"Bearer {TOKENS[who]}"
        return self.parts.app.test_client().get(path, headers=headers)

    def send(self, method: str, path: str, who: str | None = "alice") -> Any:
        headers = {"Authorization": f"Bearer {TOKENS[who]}"} if who is not None else {}
        return self.parts.app.test_client().open(path, method=method, headers=headers)

    def shown(self, answer: Any) -> str:
        """The answer's JSON with what differs between runs as placeholders."""
        text = answer.get_data(as_text=True).replace(self.sim.url, "http://github.test")
        text = text.replace(self.head, "<head>")
        return re.sub(r'"(enqueuedAt|finishedAt)": "[^"]+"', r'"\1": "<time>"', text)


def spec(text: str) -> Spec:
    return Spec(resources=(
        Resource("v1:ConfigMap:shop:web", "Kubernetes",
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"},
                  "data": {"greeting": text}}),
        Resource("v1:Secret:shop:db", "Kubernetes",
                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
                  "stringData": {"password": SECRET}}),
    ))


def seed_state(bare: Path, clock: ManualClock, pull: int) -> None:
    with git_backend(str(bare), clock=clock) as backend:
        latest = None
        for n, text in enumerate(("hello", "hi"), start=1):
            made = backend.create(Release.start(
                "shop", "dev", "dev", latest=latest, now=clock.now(), trigger=Trigger.PUSH, actor="alice",
                commit=f"{n:040x}", pull_request=n, spec=spec(text), phase=Phase.PREVIEWING))
            made = backend.update(made.with_phase(Phase.APPLYING, clock.now()))
            latest = backend.finish(made.with_state(State(made.spec.resources), clock.now()).succeeded(clock.now()), None)
            clock.advance(60)
        prod = backend.create(Release.start("shop", "prod", "prod", latest=None, now=clock.now(), actor="bob",
                                            spec=spec("prod"), phase=Phase.PREVIEWING))
        backend.finish(prod.failed(clock.now(), "apply failed: the Deployment never became ready"), None)
        backend.acquire_lock("shop", "dev", f"pr:{REPO}#{pull}", 14 * 24 * 3600, pull_request=pull)
        backend.write_drift("shop", "prod", {
            "checkTime": "2024-05-01T12:10:00Z", "commit": "f" * 40, "stack": "prod", "drifted": True,
            "counts": {"create": 0, "update": 1, "delete": 0, "unchanged": 1},
            "changes": [{"id": "v1:ConfigMap:shop:web", "action": "Update"}],
            "diffs": {"v1:ConfigMap:shop:web": [
                {"path": "data.greeting", "kind": "changed", "before": '"edited by hand"', "after": '"prod"'}]}})


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for every test that only reads."""
    with serve(tmp_path_factory.mktemp("api")) as made:
        yield made


@pytest.fixture
def acting(tmp_path: Path) -> Iterator[Served]:
    """A server of its own for a test that changes what the others read."""
    with serve(tmp_path) as made:
        yield made


@contextmanager
def serve(root: Path) -> Iterator[Served]:
    users = [SimUser("shipmate-bot", TOKENS["shipmate-bot"], "admin"), SimUser("alice", TOKENS["alice"], "maintain"),
             SimUser("eve", TOKENS["eve"], "read"), SimUser("mallory", TOKENS["mallory"], "read")]
    with GitHubSim.start(root / "sim", users=users) as sim:
        sim.oauth_app("shipmate-client", "client-secret", f"{PUBLIC}/login/callback")
        sim.create_repo(OWNER, NAME, private=True, auto_init=True)
        sim.set_permission(OWNER, NAME, "mallory", "none")
        work = root / "work"
        subprocess.run(["git", "clone", "--quiet", str(sim.bare_path(OWNER, NAME)), str(work)], check=True)
        git(work, "checkout", "--quiet", "-b", "change")
        (work / "notes.txt").write_text("a change\n")
        git(work, "add", "notes.txt")
        git(work, "-c", "user.name=alice", "-c", "user.email=alice@example.com", "commit", "--quiet", "-m", "change")
        git(work, "push", "--quiet", "origin", "change")
        pull = sim.client(TOKENS["alice"]).get_repo(REPO).create_pull(title="Change the greeting", body="",
                                                                      head="change", base="main")
        head = git(work, "rev-parse", "HEAD")
        clock = ManualClock()
        seed_state(sim.bare_path(OWNER, NAME), clock, pull.number)
        with git_backend(str(sim.bare_path(OWNER, NAME)), clock=clock) as backend:
            backend.write_previews(pull.number, {
                "pullRequest": pull.number, "commit": head, "previewTime": "2024-05-01T12:05:00Z",
                "stacks": [{"project": "shop", "workspace": "dev", "stack": "dev", "status": "changes",
                            "counts": {"create": 0, "update": 1, "delete": 0, "unchanged": 1}}]})
        data = root / "data"
        data.mkdir()
        (data / "repositories.json").write_text(json.dumps({REPO: None}) + "\n")
        env = {"GITHUB_TOKEN": TOKENS["shipmate-bot"], "GITHUB_API_URL": sim.api_url,
               "SHIPMATE_DATA_DIR": str(data), "SHIPMATE_WEBHOOK_SECRET": "webhook-secret",
               "SHIPMATE_OAUTH_CLIENT_ID": "shipmate-client", "SHIPMATE_OAUTH_CLIENT_SECRET": "client-secret",
               "SHIPMATE_SESSION_SECRET": "s" * 40, "SHIPMATE_DASHBOARD_ROLE": "maintain",
               "SHIPMATE_PUBLIC_URL": PUBLIC}
        parts = build_server(Settings.from_env(env), env, scheduler=False)
        for n in (1, 2):
            parts.queue.put(delivery_of(SweepLocks(delivery_id=f"sweep-{n}", repo=REPO, installation_id=None),
                                        clock.now()))
        job = parts.queue.claim("worker-1", 60)
        assert job is not None
        parts.queue.bury(job, "boom: the state branch could not be read")
        try:
            yield Served(sim, parts, pull.number, head, job.id)
        finally:
            parts.queue.close()


ENDPOINTS = {
    "repos": "/api/v1/repos",
    "repos-filtered": "/api/v1/repos?q=prod&phase=failed",
    "stacks": f"/api/v1/repos/{REPO}/stacks",
    "releases": f"{STACK}/releases",
    "releases-page": f"{STACK}/releases?before=2&limit=1",
    "release": f"{STACK}/releases/2",
    "compare": f"{STACK}/compare?a=1&b=2",
    "locks": "/api/v1/locks",
    "queue": "/api/v1/queue",
    "drift": "/api/v1/drift",
    "pulls": "/api/v1/pulls",
}


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_endpoint_answers_as_its_golden_file(served: Served, name: str) -> None:
    answer = served.get(ENDPOINTS[name])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    assert SECRET not in answer.get_data(as_text=True)
    assert_golden(GOLDEN / f"{name}.json", served.shown(answer))


def test_no_answer_holds_a_secret_value(served: Served) -> None:
    for path in ENDPOINTS.values():
        assert SECRET not in served.get(path).get_data(as_text=True)
    stored = served.get(f"{STACK}/releases/1").get_json()["release"]
    secret = next(r for r in stored["spec"]["resources"] if r["id"] == "v1:Secret:shop:db")
    assert secret["attributes"]["stringData"]["password"] != SECRET


def error_of(answer: Any) -> tuple[int, str]:
    body = answer.get_json()
    assert set(body) == {"error", "reason"}, body
    return answer.status_code, body["error"]


def test_not_signed_in_is_401(served: Served) -> None:
    for path in ("/api/v1/repos", f"{STACK}/releases", "/api/v1/queue"):
        assert error_of(served.get(path, who=None))[0] == 401
    bad = served.get("/api/v1/repos", who=None, Authorization="Bearer not-a-token")
    assert error_of(bad)[0] == 401


def test_a_repository_the_viewer_may_not_read_is_404_and_left_out(served: Served) -> None:
    assert error_of(served.get(f"{STACK}/releases", who="mallory"))[0] == 404
    assert error_of(served.get(f"/api/v1/repos/{REPO}/stacks", who="mallory"))[0] == 404
    assert served.get("/api/v1/repos", who="mallory").get_json()["repositories"] == []
    assert served.get("/api/v1/locks", who="mallory").get_json() == {"locks": []}
    assert served.get("/api/v1/queue", who="mallory").get_json() == {"jobs": []}
    assert error_of(served.get("/api/v1/repos/acme/elsewhere/stacks"))[0] == 404
    assert error_of(served.get(f"/api/v1/repos/{REPO}/stacks/..%2Fetc/dev/releases"))[0] == 404
    assert error_of(served.get("/api/v1/nothing/here"))[0] == 404


def test_missing_stacks_revisions_and_jobs_are_404(served: Served) -> None:
    assert error_of(served.get(f"/api/v1/repos/{REPO}/stacks/shop/staging/releases"))[0] == 404
    assert error_of(served.get(f"{STACK}/releases/99"))[0] == 404
    assert error_of(served.get(f"{STACK}/compare?a=1&b=99"))[0] == 404
    assert error_of(served.send("POST", "/api/v1/queue/9999/retry"))[0] == 404


def test_malformed_questions_are_400(served: Served) -> None:
    for path in (f"{STACK}/releases/latest", f"{STACK}/compare?a=1", f"{STACK}/compare?a=x&b=2",
                 f"{STACK}/releases?limit=0", f"{STACK}/releases?before=-1", "/api/v1/repos?phase=done",
                 "/api/v1/queue?state=sleeping", f"/api/v1/repos/{REPO}/stacks/sh%20op/dev/releases"):
        status, what = error_of(served.get(path))
        assert (status, what) == (400, "bad request"), path


def test_acting_takes_the_role(served: Served) -> None:
    refused = served.send("DELETE", f"{STACK}/lock", who="eve")
    assert error_of(refused)[0] == 403 and "maintain" in refused.get_json()["reason"]
    assert error_of(served.send("POST", f"/api/v1/queue/{served.dead_job}/retry", who="eve"))[0] == 403
    assert error_of(served.send("DELETE", f"{STACK}/lock", who="mallory"))[0] == 404
    assert error_of(served.send("DELETE", f"{STACK}/lock", who=None))[0] == 401


def test_unlock_and_retry_with_the_role(acting: Served) -> None:
    served = acting
    locks = served.get("/api/v1/locks").get_json()["locks"]
    assert [(lock["project"], lock["workspace"]) for lock in locks] == [("shop", "dev")]
    done = served.send("DELETE", f"{STACK}/lock")
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["freed"]["pullRequest"] == served.pull and done.get_json()["actor"] == "alice"
    assert served.get("/api/v1/locks").get_json() == {"locks": []}
    log = git(served.sim.bare_path(OWNER, NAME), "log", "-1", "--format=%s", "shipmate-state")
    assert log.startswith("unlock shop/dev by alice: lock of")

    retried = served.send("POST", f"/api/v1/queue/{served.dead_job}/retry")
    assert retried.status_code == 200, retried.get_data(as_text=True)
    new = retried.get_json()["newId"]
    states = {job["id"]: job["state"] for job in served.get("/api/v1/queue").get_json()["jobs"]}
    assert states.get(new) == "pending" and served.dead_job not in states
    assert error_of(served.send("POST", f"/api/v1/queue/{new}/retry"))[0] == 400


def test_a_session_acts_with_its_csrf_token(acting: Served) -> None:
    client = acting.parts.app.test_client()
    started = client.get("/login", query_string={"next": "/ui"})
    assert started.status_code == 302
    at_github = requests.get(started.headers["Location"], params={"login": "alice"}, allow_redirects=False, timeout=10)
    back = {k: v[0] for k, v in parse_qs(urlsplit(at_github.headers["Location"]).query).items()}
    assert client.get("/login/callback", query_string=back).status_code in (302, 303)
    assert [r["repo"] for r in client.get("/api/v1/repos").get_json()["repositories"]] == [REPO]

    refused = client.delete(f"{STACK}/lock")
    assert error_of(refused) == (403, "forbidden") and "CSRF" in refused.get_json()["reason"]
    assert len(client.get("/api/v1/locks").get_json()["locks"]) == 1
    with client.session_transaction() as session:
        token = session.get("csrf") or "a-token-of-this-session"
        session["csrf"] = token
    done = client.delete(f"{STACK}/lock", headers={"X-CSRF-Token": token})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["actor"] == "alice" and client.get("/api/v1/locks").get_json() == {"locks": []}
