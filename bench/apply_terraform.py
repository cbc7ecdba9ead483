"""Benchmark: applying N Terraform resources in one working directory vs one directory each.

Both sides preview then apply N independent `null_resource`s from an empty State, with the
real Terraform binary and the offline null provider, through `TerraformRuntime`:

- *one directory* (Shipmate): one `dry_run` + `apply` call for all N resources — one
  `init`, one `plan -out`, one `show -json`, one `apply` of that plan;
- *N directories* (Kusion's way, §6.4 of the Kusion notes): every resource in its own working
  directory with its own `init`, `plan`, `show` and `apply`; run one after the other, and
  with Kusion's default concurrency of 10. This is a lower bound for Kusion, which also runs
  a refresh-only apply and another `show` per resource after applying.

Target: one directory >= 5x faster than N directories. `bench/apply.py` calls `measure()`.

    python bench/apply_terraform.py [--count 30] [--concurrency 10] [--binary PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.terraform import TerraformRuntime  # noqa: E402
from bot.core.spec import TERRAFORM, Resource, State  # noqa: E402

NULL = "registry.terraform.io/hashicorp/null/2.1.2"
TARGET = 5.0


@dataclass(frozen=True, slots=True)
class Result:
    count: int
    concurrency: int
    one_dir: float
    separate_sequential: float
    separate_concurrent: float

    @property
    def ratio_sequential(self) -> float:
        return self.separate_sequential / self.one_dir

    @property
    def ratio_concurrent(self) -> float:
        return self.separate_concurrent / self.one_dir

    def lines(self) -> list[str]:
        n = self.count
        return [
            f"terraform: {n} null_resources, preview + apply from an empty state",
            f"  one working directory           {self.one_dir:7.2f} s",
            f"  {n} directories, sequential      {self.separate_sequential:7.2f} s"
            f"   ratio {self.ratio_sequential:5.1f}x",
            f"  {n} directories, concurrency {self.concurrency:<3d} {self.separate_concurrent:7.2f} s"
            f"   ratio {self.ratio_concurrent:5.1f}x",
            f"  target: one directory >= {TARGET:g}x faster than {n} directories (concurrent): "
            + ("met" if self.ratio_concurrent >= TARGET else "NOT met"),
        ]


def resources(count: int) -> list[Resource]:
    return [
        Resource(
            id=f"hashicorp:null:null_resource:r{i:03d}",
            type=TERRAFORM,
            attributes={"triggers": {"index": str(i)}},
            extensions={"provider": NULL, "resourceType": "null_resource"},
        )
        for i in range(count)
    ]


def _runtime(work_dir: Path, binary: str, cli_config: Path | None) -> TerraformRuntime:
    env = {"PATH": os.environ.get("PATH", os.defpath)}
    return TerraformRuntime(work_dir, binary=binary, cli_config_file=cli_config, env=env)


def _preview_and_apply(runtime: TerraformRuntime, batch: list[Resource]) -> None:
    runtime.dry_run(batch, State())
    applied = runtime.apply(batch, State())
    assert len(applied) == len(batch)


def measure(
    count: int = 30,
    *,
    binary: str,
    cli_config: Path | None,
    concurrency: int = 10,
) -> Result:
    planned = resources(count)
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-tf-") as tmp:
        base = Path(tmp)

        started = time.perf_counter()
        _preview_and_apply(_runtime(base / "one", binary, cli_config), planned)
        one_dir = time.perf_counter() - started

        started = time.perf_counter()
        for r in planned:
            _preview_and_apply(
                _runtime(base / "seq" / r.id.replace(":", "_"), binary, cli_config), [r]
            )
        sequential = time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [
                pool.submit(
                    _preview_and_apply,
                    _runtime(base / "par" / r.id.replace(":", "_"), binary, cli_config),
                    [r],
                )
                for r in planned
            ]
            for future in futures:
                future.result()
        concurrent = time.perf_counter() - started
    return Result(count, concurrency, one_dir, sequential, concurrent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--binary",
        default=os.environ.get("SHIPMATE_TERRAFORM_BIN")
        or str(ROOT / ".tools/terraform/bin/terraform"),
    )
    parser.add_argument(
        "--cli-config",
        default=os.environ.get("TF_CLI_CONFIG_FILE") or str(ROOT / ".tools/terraform/terraformrc"),
    )
    args = parser.parse_args(argv)
    if not Path(args.binary).is_file():
        print(f"terraform binary not found: {args.binary} (run ./scripts/install)", file=sys.stderr)
        return 2
    cli = Path(args.cli_config) if args.cli_config and Path(args.cli_config).is_file() else None
    result = measure(args.count, binary=args.binary, cli_config=cli, concurrency=args.concurrency)
    print(f"binary: {args.binary}")
    print("\n".join(result.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
