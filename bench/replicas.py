"""Benchmark: preview throughput of one `shipmate serve` replica vs three sharing a Redis queue.

The sandbox's GitHub simulator holds the acme config repository plus `--pulls` Terraform
projects (each one stack of two `null_resource`s, applied first onto the state branch, so each
preview reads its recorded state and plans with the real Terraform binary and the offline
null provider: `init`, `plan`, `show`). A pull request per project changes one trigger (a
Replace). Their `opened` webhooks are then posted at once to the fleet, round robin, and the
clock stops when the Redis queue has finished them all and every pull request carries its
preview comment:

- *1 replica*: one `shipmate serve` (gunicorn, as deployed) with `--workers` job workers;
- *3 replicas*: three of them, each with as many workers, sharing the Redis queue.

Each replica previews in its own cache directory, so every preview starts a cold Terraform
working directory on both sides. Printed: seconds and previews per second of each, and the
ratio 3 replicas / 1 (the ideal is 3 when nothing is shared; Terraform's plan and provider
use CPU, so the cores bound it).

    python bench/replicas.py [--pulls 12] [--workers 2] [--replicas 3]   (redis-server on PATH)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SHIPMATE_TERRAFORM_BIN", str(ROOT / ".tools/terraform/bin/terraform"))
if (ROOT / ".tools/terraform/terraformrc").is_file():
    os.environ.setdefault("TF_CLI_CONFIG_FILE", str(ROOT / ".tools/terraform/terraformrc"))

import redis  # noqa: E402

from bot.adapters.gitstate import SystemClock, git_backend  # noqa: E402
from bot.adapters.localfs import LocalConfigReader  # noqa: E402
from bot.adapters.queue.redis import RedisQueue  # noqa: E402
from bot.app import builder  # noqa: E402
from bot.app.configrepo import discover_stacks  # noqa: E402
from bot.app.runner import StackRunner  # noqa: E402
from bot.app.services import Tree  # noqa: E402
from bot.app.stacks import StackOps  # noqa: E402
from bot.cli.sandbox import BOT, REPO, SECRET, USERS, Sandbox, git  # noqa: E402
from bot.core.config.settings import RepoSettings  # noqa: E402
from bot.core.runplan import Operation, Provenance  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.wiring import build_runtime_factory  # noqa: E402
from fixtures.fleet import Fleet  # noqa: E402


def stack_files(pulls: int, value: str) -> dict[str, str]:
    """`pulls` Terraform-only projects t01.. with one stack `bench` (workspace dev) each."""
    files = {}
    for i in range(1, pulls + 1):
        files[f"t{i:02d}/project.yaml"] = f"name: t{i:02d}\n"
        files[f"t{i:02d}/bench/stack.yaml"] = "name: bench\nworkspace: dev\n"
        files[f"t{i:02d}/bench/main.yaml"] = stack_text(i, value)
    return files


def stack_text(i: int, value: str) -> str:
    return (
        "marker:\n"
        "  accessories:\n"
        "    things:\n"
        "      _type: terraform.Terraform\n"
        "      provider: {source: hashicorp/null, version: 2.1.2}\n"
        "      resources:\n"
        "        null_resource:\n"
        f"          first: {{triggers: {{n: '{i}', v: '{value}'}}}}\n"
        f"          second: {{triggers: {{n: '{i}'}}}}\n"
    )


def apply_all(box: Sandbox, work: Path) -> float:
    """Apply the bench stacks of the default branch onto the repository's state branch."""
    checkout = box.clone("alice", work / "applied")
    reader = LocalConfigReader(checkout)
    refs = [ref for ref in discover_stacks(reader) if ref.project.startswith("t")]
    env = {**box.env, "SHIPMATE_CACHE_DIR": str(work / "cache")}
    with git_backend(box.state_url(), "shipmate-state", data_dir=work / "state") as backend:
        ops = StackOps(backend=backend, clock=SystemClock(), watch=False,
                       runtimes=build_runtime_factory(Settings.from_env(env), env, cache_dir=work / "cache",
                                                      base_dir=checkout))
        started = time.perf_counter()
        plan = builder.stacks(Operation.APPLY, refs, Provenance(actor="bench"), "bench")
        runs = StackRunner(ops, Tree(REPO, git("rev-parse", "HEAD", cwd=checkout), reader), RepoSettings()).run(plan)
        elapsed = time.perf_counter() - started
    if not all(run.ok for run in runs.stacks) or len(runs.stacks) != len(refs):
        raise SystemExit(f"apply failed: {[run.error for run in runs.stacks if not run.ok][:3]}")
    return elapsed


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if not binary:
        raise SystemExit("redis-server is not installed (./scripts/install installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def open_pulls(box: Sandbox, work: Path, pulls: int) -> list[int]:
    """One pull request per bench project, changing its first trigger; their numbers."""
    clone = box.clone("bob", work / "bob")
    numbers = []
    for i in range(1, pulls + 1):
        git("checkout", "-q", "-B", f"bench-{i:02d}", "origin/main", cwd=clone)
        (clone / f"t{i:02d}" / "bench" / "main.yaml").write_text(stack_text(i, "b"))
        git("commit", "-qam", f"t{i:02d}: another trigger", cwd=clone)
        git("push", "-q", "origin", f"bench-{i:02d}", cwd=clone)
        pull = box.repo("bob").create_pull(title=f"t{i:02d}", body="", head=f"bench-{i:02d}", base="main")
        numbers.append(pull.number)
    return numbers


def check_previews(box: Sandbox, numbers: list[int]) -> None:
    """Each pull request has one preview comment, and it plans its stack's Replace."""
    for number in numbers:
        mine = [c["body"] for c in box.github.comments("acme", "config", number) if c["user"]["login"] == BOT]
        if len(mine) != 1 or "Replace" not in mine[0]:
            raise SystemExit(f"#{number}: expected one preview comment with a Replace, got {mine!r}"[:2000])


def measure(box: Sandbox, url: str, work: Path, burst: list[tuple[dict[str, str], bytes]], replicas: int,
            workers: int) -> float:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    env = {**box.env, "SHIPMATE_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": USERS[BOT][0],
           "GITHUB_API_URL": box.github.api_url, "SHIPMATE_GITHUB_THROTTLE": "false",
           "SHIPMATE_REPOSITORIES": REPO, "SHIPMATE_QUEUE": url, "SHIPMATE_WORKERS": str(workers),
           "SHIPMATE_LOG_LEVEL": "WARNING"}
    queue = RedisQueue.from_url(url)
    try:
        with Fleet.start(work / f"fleet-{replicas}", env, replicas) as fleet:
            started = time.perf_counter()
            for headers, body in burst:
                fleet.post(headers, body)
            while (stats := queue.stats()).done + stats.failed + stats.dead < len(burst):
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            if stats.failed or stats.dead:
                raise SystemExit(f"{stats.failed + stats.dead} previews failed; see {work}/fleet-{replicas}/*/serve.log")
    finally:
        queue.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulls", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2, help="job workers per replica")
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-replicas-") as tmp:
        base = Path(tmp)
        with Sandbox.start(base / "world", serve=False, files=stack_files(args.pulls, "a")) as box, \
                redis_server(base) as url:
            applied = apply_all(box, base / "apply")
            before = len(box.recorder.received)
            pulls = open_pulls(box, base, args.pulls)
            box.github.wait_idle(60)
            burst = [(dict(item.headers), item.body) for item in box.recorder.received[before:]
                     if item.headers["X-GitHub-Event"] == "pull_request"]
            assert len(burst) == len(pulls)
            one = measure(box, url, base, burst, 1, args.workers)
            check_previews(box, pulls)
            many = measure(box, url, base, burst, args.replicas, args.workers)
            check_previews(box, pulls)
    cores = os.cpu_count() or 1
    print(f"{args.pulls} pull requests, each previewing one Terraform stack (2 null_resources: init, plan, show), "
          f"{args.workers} job workers per replica, {cores} cores; stacks applied first ({applied:.1f} s)")
    print(f"  1 replica               {one:7.2f} s  {args.pulls / one:6.2f} previews/s")
    print(f"  {args.replicas} replicas (one Redis)  {many:7.2f} s  {args.pulls / many:6.2f} previews/s")
    print(f"  ratio {args.replicas} replicas / 1      {one / many:7.2f}x  (ideal {args.replicas}x without shared cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
