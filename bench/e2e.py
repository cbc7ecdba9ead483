"""Benchmark: pull request opened → preview comment, end to end, at realistic latencies; and a
burst of pull requests against GitHub's secondary rate limit.

Everything runs as in production, on loopback: `shipmate serve` (its webhook intake, queue and
workers) in the sandbox (`bot.cli.sandbox`), the GitHub simulator answering every request
100 ms late and the Kubernetes simulator 20 ms late. A person pushes a branch and opens a pull
request; the clock runs from the request that opens it until the bot's preview comment and
its final status are both on the pull request (polled every 20 ms). Printed with the GitHub
API calls the bot made (by the simulator's count) and the ratio to the goal:

- *one stack of 100 resources* (50 apps, each a Deployment and a Service, plus the
  Namespace): goal <= 2 s;
- *a pull request touching 50 stacks* (one app each, previewed `concurrency` at a time):
  goal <= 10 s;
- *one stack of 10,000 apps* (20,001 resources, a 2.3 MB `main.yaml`; its preview comment is
  split into as many comments as GitHub's size limit needs): goal <= 20 s.

`--burst N` (default 100) opens N pull requests at once, each touching one small stack, with
the simulator enforcing GitHub's secondary rate limit (80 content-creating requests a minute,
500 an hour: a 403 with Retry-After beyond it) and Shipmate's write budget on (the
defaults, `SHIPMATE_GITHUB_WRITES_PER_MINUTE` 80). Printed: requests GitHub refused (goal 0),
the most content-creating requests in any sliding minute, how long until every pull request
had its preview comment and final status, and the writes per pull request.

    python bench/e2e.py [--github-ms 100] [--kube-ms 20] [--burst 100] [--skip-burst]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SHIPMATE_TERRAFORM_BIN", str(ROOT / ".tools/terraform/bin/terraform"))
if (ROOT / ".tools/terraform/terraformrc").is_file():
    os.environ.setdefault("TF_CLI_CONFIG_FILE", str(ROOT / ".tools/terraform/terraformrc"))

from bot.cli.sandbox import BOT, REPO_NAME, REPO_OWNER, Sandbox  # noqa: E402
from fixtures.github_sim.traffic import total  # noqa: E402
from tests.e2e.world import push_branch  # noqa: E402

GOAL_ONE = 2.0
GOAL_MANY = 10.0
GOAL_HUGE = 20.0
STACKS = 50
HUGE_APPS = 10_000


def app(name: str) -> str:
    return f"""\
{name}:
  workload:
    _type: service.Service
    containers:
      main:
        image: nginx:1.25
  accessories:
    network:
      _type: network.Network
      ports:
        - port: 80
"""


def files() -> dict[str, str]:
    """The example repository plus a 100-resource stack (`big/dev`), 50 one-app stacks and a
    10,000-app stack (`huge/dev`)."""
    out = {"big/project.yaml": "name: big\n", "big/dev/stack.yaml": "name: dev\n",
           "big/dev/main.yaml": "".join(app(f"app{i:02d}") for i in range(50)),
           "huge/project.yaml": "name: huge\n", "huge/dev/stack.yaml": "name: dev\n",
           "huge/dev/main.yaml": "".join(app(f"app{i:05d}") for i in range(HUGE_APPS))}
    for n in range(1, STACKS + 1):
        out[f"s{n:02d}/project.yaml"] = f"name: s{n:02d}\n"
        out[f"s{n:02d}/dev/stack.yaml"] = "name: dev\n"
        out[f"s{n:02d}/dev/main.yaml"] = app("web")
    return out


def touch(paths: list[str], mark: str) -> dict[str, Any]:
    return {path: (lambda text, m=mark: text + f"# {m}\n") for path in paths}


def previewed(box: Sandbox, number: int, sha: str) -> bool:
    """The bot's preview comment and a final preview status are on the pull request."""
    commented = any(c["user"]["login"] == BOT and "Shipmate preview" in c["body"]
                    for c in box.github.comments(REPO_OWNER, REPO_NAME, number))
    return commented and any(s["context"] == "shipmate/preview" and s["state"] != "pending"
                             for s in box.github.statuses(REPO_OWNER, REPO_NAME, sha))


def one_pull_request(box: Sandbox, paths: list[str], mark: str) -> tuple[float, dict[str, int]]:
    branch = push_branch(box, "bob", touch(paths, mark), message=mark)
    box.settle()
    box.github.traffic.reset()
    started = time.perf_counter()
    pr = box.repo("bob").create_pull(title=mark, body="", head=branch, base="main")
    while not previewed(box, pr.number, pr.head.sha):
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    box.settle()
    return elapsed, box.github.traffic.counts(BOT)


def latency(github_ms: float, kube_ms: float, rounds: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-e2e-") as tmp, \
            Sandbox.start(Path(tmp) / "box", files=files(), workers=4) as box:
        box.settle()
        box.services.access(f"{REPO_OWNER}/{REPO_NAME}").host.bot_login()  # read once per process
        box.github.traffic.configure(latency_ms=github_ms)
        box.kube.latency = kube_ms / 1000
        ok = True
        for label, paths, goal in (
            ("one stack of 100 resources", ["big/dev/main.yaml"], GOAL_ONE),
            (f"a pull request touching {STACKS} stacks",
             [f"s{n:02d}/dev/main.yaml" for n in range(1, STACKS + 1)], GOAL_MANY),
            (f"one stack of {HUGE_APPS:,} apps", ["huge/dev/main.yaml"], GOAL_HUGE),
        ):
            runs = [one_pull_request(box, paths, f"{label} {r}") for r in range(rounds)]
            best, calls = min(runs, key=lambda run: run[0])
            ok = ok and best <= goal
            print(f"{label}: opened -> preview comment {best:6.2f} s (goal <= {goal:.0f} s, "
                  f"{best / goal:4.2f}x of it: {'ok' if best <= goal else 'MISSED'}); "
                  f"{total(calls)} GitHub API calls ({total(calls, writes_only=True)} writes), "
                  f"{calls.get('git', 0)} git transfers")
    return ok


def burst(count: int, github_ms: float) -> bool:
    env = {**os.environ, "SHIPMATE_GITHUB_THROTTLE": "true"}
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-burst-") as tmp, \
            Sandbox.start(Path(tmp) / "box", files=files(), workers=4, env=env) as box:
        box.settle()
        branches = [push_branch(box, "bob", touch([f"s{n % STACKS + 1:02d}/dev/main.yaml"], f"burst {n}"),
                                message=f"burst {n}") for n in range(count)]
        box.settle()
        box.github.traffic.reset()
        box.github.traffic.configure(latency_ms=github_ms, per_minute=80, per_hour=500)
        peak = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                peak[0] = max(peak[0], box.github.traffic.writes_within(60, BOT))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Opened by several people, as a burst is: each has a secondary rate limit of their own.
        people = [box.github.add_user(f"dev{k}", f"tok-dev{k}", "write")["login"] for k in range(count // 40 + 1)]
        repos = [box.github.client(f"tok-{login}").get_repo(f"{REPO_OWNER}/{REPO_NAME}") for login in people]
        started = time.perf_counter()
        pulls = [repos[n % len(repos)].create_pull(title=f"burst {n}", body="", head=b, base="main")
                 for n, b in enumerate(branches)]
        opened = time.perf_counter() - started
        waiting = {pr.number: pr.head.sha for pr in pulls}
        deadline = time.monotonic() + 600
        while waiting and time.monotonic() < deadline:
            for number, sha in list(waiting.items()):
                if previewed(box, number, sha):
                    del waiting[number]
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        done.set()
        watcher.join()
        calls = box.github.traffic.counts(BOT)
        refused = box.github.traffic.refused
    writes = total(calls, writes_only=True)
    ok = not waiting and refused == 0 and peak[0] <= 80
    print(f"burst of {count} pull requests (GitHub: 80 writes a minute, 500 an hour): "
          f"{count - len(waiting)}/{count} previewed in {elapsed:.0f} s (opening them took {opened:.0f} s); "
          f"refused by GitHub {refused} (goal 0); at most {peak[0]} writes in a minute (limit 80); "
          f"{writes} writes, {writes / count:.1f} a pull request; {total(calls)} API calls: "
          f"{'ok' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--github-ms", type=float, default=100.0, help="GitHub simulator latency per request")
    parser.add_argument("--kube-ms", type=float, default=20.0, help="Kubernetes simulator latency per request")
    parser.add_argument("--rounds", type=int, default=2, help="pull requests per case (the best counts)")
    parser.add_argument("--burst", type=int, default=100, help="pull requests in the burst")
    parser.add_argument("--skip-burst", action="store_true", help="leave out the burst")
    args = parser.parse_args(argv)
    ok = latency(args.github_ms, args.kube_ms, args.rounds)
    if not args.skip_burst:
        ok = burst(args.burst, args.github_ms) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
