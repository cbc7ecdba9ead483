"""Benchmark: a pull request touching 20 stacks, previewed one stack at a time vs in parallel.

A generated config repository holds 20 projects, each with one stack of two Terraform
`null_resource`s (one `init` + `plan` + `show` per stack: Terraform batches a stack into one
plan). Both sides preview every stack with the real Terraform binary and
the offline null provider, through the same code the bot runs for a pull request
(`bot.app.runner.StackRunner` on a preview plan, runtimes from `bot.wiring.build_runtime_factory`), on a fresh
directory state backend:

- *sequential*: `SHIPMATE_STACK_CONCURRENCY=1`, the stacks one after the other;
- *parallel*: the default, `SHIPMATE_STACK_CONCURRENCY=4` (or `--parallel N`).

The stacks are applied first, then one attribute of each is changed, so every preview
reads the recorded state and plans a change, a Replace as the trigger forces it (a stack with nothing live is a Create
without a plan). Both sides preview the same applied stacks from the same working
directories, the best of `--rounds` runs each. Target: parallel at least 0.75x the ideal
speed-up, min(parallel, cores): Terraform's plan and its provider are CPU-bound, so the cores
bound the gain (1.5x on 2 cores).

    python bench/stacks.py [--stacks 20] [--parallel 4] [--rounds 2]   (SHIPMATE_TERRAFORM_BIN, TF_CLI_CONFIG_FILE)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The project's Terraform and its offline provider mirror, unless the caller names others.
os.environ.setdefault("SHIPMATE_TERRAFORM_BIN", str(ROOT / ".tools/terraform/bin/terraform"))
if (ROOT / ".tools/terraform/terraformrc").is_file():
    os.environ.setdefault("TF_CLI_CONFIG_FILE", str(ROOT / ".tools/terraform/terraformrc"))

from bot.adapters.gitstate import SystemClock, local_backend  # noqa: E402
from bot.adapters.localfs import LocalConfigReader  # noqa: E402
from bot.app import builder  # noqa: E402
from bot.app.configrepo import discover_stacks  # noqa: E402
from bot.app.runner import StackRunner  # noqa: E402
from bot.app.services import Tree  # noqa: E402
from bot.app.stacks import StackOps  # noqa: E402
from bot.core.config.settings import RepoSettings  # noqa: E402
from bot.core.runplan import Operation, Provenance  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.wiring import build_runtime_factory  # noqa: E402

EFFICIENCY = 0.75  # of the ideal speed-up, min(parallel, cores)


def write_repo(root: Path, stacks: int, value: str) -> None:
    (root / "workspaces").mkdir(parents=True, exist_ok=True)
    (root / "workspaces" / "bench.yaml").write_text("modules: {}\ncontext:\n  environment: bench\n")
    # Terraform only, no cluster: without this, Kusion's rule gives every app a Namespace.
    (root / "shipmate.yaml").write_text("generate: {terraformOnlyNamespace: false}\n")
    for i in range(1, stacks + 1):
        project = root / f"p{i:02d}"
        (project / "bench").mkdir(parents=True, exist_ok=True)
        (project / "project.yaml").write_text(f"name: p{i:02d}\n")
        (project / "bench" / "stack.yaml").write_text("name: bench\nworkspace: bench\n")
        (project / "bench" / "main.yaml").write_text(
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


def stack_ops(root: Path, work: Path, parallel: int) -> StackOps:
    env = {**os.environ, "SHIPMATE_CACHE_DIR": str(work / "cache")}
    return replace(StackOps(
        backend=local_backend(work / "state"),
        runtimes=build_runtime_factory(Settings.from_env(env), env, cache_dir=work / "cache", base_dir=root),
        clock=SystemClock(),
        watch=False,
    ), parallel=parallel)


def apply_all(root: Path, work: Path, parallel: int) -> float:
    """Apply every stack of `root` (the state the previews compare against)."""
    reader = LocalConfigReader(root)
    ops = stack_ops(root, work, parallel)
    started = time.perf_counter()
    plan = builder.stacks(Operation.APPLY, discover_stacks(reader), Provenance(actor="bench"), "bench")
    runs = StackRunner(ops, Tree("bench/config", "0" * 40, reader), RepoSettings()).run(plan).stacks
    elapsed = time.perf_counter() - started
    if not all(run.ok for run in runs):
        raise SystemExit(f"apply failed: {[run.error for run in runs if not run.ok][:3]}")
    return elapsed


def preview_all(root: Path, work: Path, parallel: int) -> float:
    reader = LocalConfigReader(root)
    refs = discover_stacks(reader)
    ops = stack_ops(root, work, parallel)
    started = time.perf_counter()
    plan = builder.stacks(Operation.PREVIEW, refs, Provenance(actor="bench"), "bench")
    previewed = StackRunner(ops, Tree("bench/config", "1" * 40, reader), RepoSettings()).run(plan).stacks
    elapsed = time.perf_counter() - started
    failed = [r for r in previewed if r.error or r.changeset is None]
    if failed or len(previewed) != len(refs):
        raise SystemExit(f"preview failed: {[(r.project, r.error) for r in failed][:3]}")
    # A changed trigger forces the null_resource's replacement: one change per stack.
    changed = sum(r.changeset.counts().changes for r in previewed if r.changeset is not None)
    if changed != len(refs):
        raise SystemExit(f"expected {len(refs)} changes, got {changed}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="previews per side; the best is kept")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-stacks-") as tmp:
        base = Path(tmp)
        applied, changed, work = base / "applied", base / "changed", base / "work"
        write_repo(applied, args.stacks, "a")
        write_repo(changed, args.stacks, "b")  # one attribute of each stack changed: an Update each
        apply_seconds = apply_all(applied, work, args.parallel)
        times = {}
        for name, parallel in (("sequential", 1), ("parallel", args.parallel)):
            times[name] = min(preview_all(changed, work, parallel) for _ in range(max(1, args.rounds)))
    ratio = times["sequential"] / times["parallel"]
    cores = os.cpu_count() or 1
    target = EFFICIENCY * min(args.parallel, cores)
    print(f"pull request of {args.stacks} stacks (2 null_resources each, one Terraform plan per stack), "
          f"{cores} cores; applied first ({apply_seconds:.1f} s, {args.parallel} at a time)")
    print(f"  preview, sequential (1 stack at a time)   {times['sequential']:7.2f} s")
    print(f"  preview, parallel ({args.parallel} stacks at a time)   {times['parallel']:7.2f} s")
    print(f"  ratio sequential / parallel               {ratio:7.2f}x  (target >= {target:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
