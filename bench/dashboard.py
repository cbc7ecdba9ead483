"""Benchmark: the read API and the dashboard's pages with 10,000 releases on the state branch,
against the 200 ms goal.

Starts the GitHub simulator with one repository, `acme/config`, whose state branch holds
10,000 releases: 100 stacks (10 projects x 10 workspaces) x 100 revisions, written by
`git fast-import` as the files the git state backend writes (each release's YAML as
`Release.to_yaml` gives it, the index as `append_index` grows it, 100 releases per commit),
plus a lock on every tenth stack, a drift record on every fifth, and 10 open pull requests
with their preview records; three Kubernetes resources per release. The bot serves it as `shipmate serve` would (`bot.wiring.build_server`,
the state branch reached over the simulator's smart HTTP, as from GitHub), its Flask app
in-process, and a viewer signed in with a personal token (`Authorization: Bearer`, checked
against the simulator's `/user`) asks each endpoint `--runs` times after one warm-up (the
first answer after the branch moves reads the stacks; later ones are served from the cache
until the branch's commit changes, and then only the stacks whose files changed are read
again). Printed: each endpoint's median and p95 in ms against the 200 ms goal, the server's
first (cold) answer, the overview right after a write to one stack, and what asking GitHub
for the open pull requests costs (the pulls answer does so once per 15 s).

    python bench/dashboard.py [--runs 30] [--stacks 100] [--revisions 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core import statelayout as layout  # noqa: E402
from bot.core.lock import Lock, LockSlot  # noqa: E402
from bot.core.release import Phase, Release, Trigger, append_index  # noqa: E402
from bot.core.spec import Resource, Spec, State  # noqa: E402
from bot.core.yamlio import dump_data  # noqa: E402

OWNER, NAME = "acme", "config"
REPO = f"{OWNER}/{NAME}"
TOKEN = "bench-viewer-token"
BOT_TOKEN = "bench-bot-token"
BRANCH = "shipmate-state"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
GOAL_MS = 200.0
PULLS = 10


def stacks(count: int) -> list[tuple[str, str]]:
    """`count` (project, workspace) pairs: 10 workspaces per project."""
    return [(f"project-{i // 10:02d}", f"ws-{i % 10}") for i in range(count)]


def release(project: str, workspace: str, n: int) -> Release:
    ns = f"{project}-{workspace}"
    spec = Spec(resources=(
        Resource(f"v1:Namespace:{ns}", "Kubernetes", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        Resource(f"apps/v1:Deployment:{ns}:web", "Kubernetes", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 1 + n % 3, "template": {"spec": {"containers": [
                {"name": "web", "image": f"registry/web:{n}", "ports": [{"containerPort": 8080}]}]}}},
        }, depends_on=(f"v1:Namespace:{ns}",)),
        Resource(f"v1:Service:{ns}:web", "Kubernetes", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
        }, depends_on=(f"v1:Namespace:{ns}",)),
    ))
    moment = T0 + timedelta(minutes=n)
    return Release(project, workspace, n, workspace, spec, State(spec.resources), Phase.SUCCEEDED, moment, moment,
                   trigger=Trigger.PUSH, actor="bench", commit=f"{n:040x}", pull_request=n)


def seed(bare: Path, count: int, revisions: int) -> int:
    """Write the state branch into the bare repository `bare`; how many releases it holds."""
    proc = subprocess.Popen(["git", "fast-import", "--quiet", "--force"], cwd=bare, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out = proc.stdin

    def blob(path: str, data: bytes) -> None:
        out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    pairs = stacks(count)
    indexes: dict[tuple[str, str], str | None] = dict.fromkeys(pairs)
    written, n = 0, 0
    for revision in range(1, revisions + 1):
        for project, workspace in pairs:
            if written % 100 == 0:
                message = f"release batch {written // 100 + 1}: imported".encode()
                out.write(b"commit refs/heads/%s\n" % BRANCH.encode())
                out.write(b"committer Shipmate <shipmate@localhost> %d +0000\n" % int(T0.timestamp() + written))
                out.write(b"data %d\n%s\n" % (len(message), message))
                if written == 0:
                    blob(layout.README, layout.README_TEXT.encode())
            blob(layout.release_path(project, workspace, revision), release(project, workspace, revision).to_yaml().encode())
            indexes[(project, workspace)] = append_index(indexes[(project, workspace)], revision, workspace)
            blob(layout.index_path(project, workspace), (indexes[(project, workspace)] or "").encode())
            written += 1
            n += 1
    far = T0 + timedelta(days=3650)
    for i, (project, workspace) in enumerate(pairs):
        if i % 10 == 0:
            lock = Lock(project, workspace, f"pr:{REPO}#{i}", 7, T0, far, pull_request=i)
            blob(layout.lock_path(project, workspace), LockSlot(project, workspace, 7, lock).to_yaml().encode())
        if i % 5 == 0:
            report = {"checkTime": "2024-01-02T00:00:00Z", "commit": "a" * 40, "stack": workspace, "drifted": i % 10 == 0,
                      "counts": {"create": 0, "update": 1, "delete": 0, "unchanged": 2},
                      "changes": [{"id": f"apps/v1:Deployment:{project}-{workspace}:web", "action": "Update"}]}
            blob(layout.drift_path(project, workspace), dump_data(report).encode())
    for number in range(1, PULLS + 1):
        record = {"pullRequest": number, "commit": "b" * 40, "previewTime": "2024-01-02T00:00:00Z",
                  "stacks": [{"project": p, "workspace": w, "stack": w, "status": "changes",
                              "counts": {"create": 0, "update": 1, "delete": 0, "unchanged": 2}}
                             for p, w in pairs[number:number + 3]]}
        blob(layout.previews_path(number), dump_data(record).encode())
    for number in range(1, PULLS + 1):  # the pull requests' branches, one commit on main each
        message = f"change {number}".encode()
        out.write(b"commit refs/heads/change-%d\n" % number)
        out.write(b"committer Alice <alice@example.com> %d +0000\n" % int(T0.timestamp() + number))
        out.write(b"data %d\n%s\nfrom refs/heads/main\n" % (len(message), message))
        blob(f"change-{number}.txt", message)
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    return n


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(client: Any, path: str, runs: int) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    first = client.get(path, headers=headers)
    if first.status_code != 200:
        raise SystemExit(f"GET {path}: {first.status_code} {first.get_data(as_text=True)[:300]}")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = client.get(path, headers=headers)
        times.append((time.perf_counter() - start) * 1e3)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(times), percentile(times, 0.95), len(first.get_data())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--revisions", type=int, default=100)
    args = parser.parse_args()

    from bot.settings import Settings
    from bot.wiring import build_server
    from fixtures.github_sim import GitHubSim, SimUser

    with tempfile.TemporaryDirectory(prefix="shipmate-bench-dashboard-") as tmp:
        root = Path(tmp)
        with GitHubSim.start(root / "sim", users=[SimUser("shipmate-bot", BOT_TOKEN, "admin"),
                                                   SimUser("alice", TOKEN, "maintain")]) as sim:
            sim.create_repo(OWNER, NAME, auto_init=True)
            began = time.perf_counter()
            total = seed(sim.bare_path(OWNER, NAME), args.stacks, args.revisions)
            seeded = time.perf_counter() - began
            github = sim.client(TOKEN).get_repo(REPO)
            for number in range(1, PULLS + 1):
                github.create_pull(title=f"Change {number}", body="", head=f"change-{number}", base="main")
            data = root / "data"
            data.mkdir()
            (data / "repositories.json").write_text(f'{{"{REPO}": null}}\n')
            env = {**os.environ, "GITHUB_TOKEN": BOT_TOKEN, "GITHUB_API_URL": sim.api_url,
                   "SHIPMATE_DATA_DIR": str(data), "SHIPMATE_WEBHOOK_SECRET": "bench",
                   "SHIPMATE_SESSION_SECRET": "bench-session-secret-of-enough-length-0123456789",
                   "SHIPMATE_OAUTH_CLIENT_ID": "bench-client", "SHIPMATE_OAUTH_CLIENT_SECRET": "bench-client-secret"}
            settings = Settings.from_env(env)
            parts = build_server(settings, env, scheduler=False)
            client = parts.app.test_client()
            rev = args.revisions
            base = f"/api/v1/repos/{REPO}/stacks/project-00/ws-0"
            paths = [
                "/api/v1/repos",
                f"/api/v1/repos/{REPO}/stacks",
                f"{base}/releases",
                f"{base}/releases/{rev}",
                f"{base}/compare?a={max(1, rev - 3)}&b={rev}",
                "/api/v1/locks",
                "/api/v1/queue",
                "/api/v1/drift",
                "/api/v1/pulls",
                # the pages (bot.web.pages) over the same read model
                "/ui",
                f"/ui/{REPO}/project-00/ws-0",
                f"/ui/{REPO}/project-00/ws-0/{rev}",
                f"/ui/{REPO}/project-00/ws-0/compare?a={max(1, rev - 3)}&b={rev}",
                "/ui/locks",
                "/ui/queue",
                "/ui/drift",
                "/ui/pulls",
            ]
            headers = {"Authorization": f"Bearer {TOKEN}"}
            start = time.perf_counter()
            cold = client.get(f"/api/v1/repos/{REPO}/stacks", headers=headers)
            cold_ms = (time.perf_counter() - start) * 1e3
            assert cold.status_code == 200, cold.get_data(as_text=True)[:300]
            print(f"read API: {total:,} releases ({args.stacks} stacks x {args.revisions} revisions) on {BRANCH} "
                  f"of {REPO} over the simulator's smart HTTP (seeded in {seeded:.1f} s); "
                  f"{args.runs} runs per endpoint after one warm-up; goal <= {GOAL_MS:.0f} ms")
            print(f"{'endpoint':64}{'median ms':>11}{'p95 ms':>9}{'bytes':>9}  goal")
            worst = 0.0
            for path in paths:
                median, p95, size = measure(client, path, args.runs)
                worst = max(worst, p95)
                shown = path if len(path) <= 62 else path[:61] + "…"
                print(f"{shown:64}{median:11.1f}{p95:9.1f}{size:9d}  {'ok' if p95 <= GOAL_MS else 'OVER'}")
            print(f"cold overview of the repository (the server's first read: clone of the state branch, "
                  f"shipmate.yaml, every stack): {cold_ms:.0f} ms")
            moved = []
            backend = parts.bot.services.access(REPO, None).backends(REPO, BRANCH) if parts.bot and parts.bot.services else None
            for i in range(min(args.runs, 10) if backend else 0):
                lock = backend.acquire_lock("project-05", "ws-5", f"bench-{i}", 60)  # the branch moves
                backend.release_lock(lock)
                start = time.perf_counter()
                assert client.get("/api/v1/repos", headers=headers).status_code == 200
                moved.append((time.perf_counter() - start) * 1e3)
            if moved:
                print(f"overview after a write to one stack (re-reads that stack): median {statistics.median(moved):.1f} ms, "
                      f"max {max(moved):.1f} ms")
            if parts.bot and parts.bot.services:
                host = parts.bot.services.access(REPO, None).host
                start = time.perf_counter()
                host.open_pull_requests(REPO)
                print(f"open pull requests asked of GitHub (the pulls answer does so once per 15 s): "
                      f"{(time.perf_counter() - start) * 1e3:.0f} ms")
            print(f"worst p95 {worst:.1f} ms vs the {GOAL_MS:.0f} ms goal: {worst / GOAL_MS:.2f}x")
            parts.stop(5)


if __name__ == "__main__":
    main()
