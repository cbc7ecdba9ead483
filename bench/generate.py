"""Benchmark: how long Generate takes against the floor of merely parsing the same YAML files,
and how generate + preview of a big stack grows with its size.

Two synthetic stacks are built in memory:

- *1,000 apps*: each a `service.Service` workload (one container with env, resources and a
  probe) plus a `network.Network` accessory — 2,001 Kubernetes resources, with Kusion's
  spec-wide kind ordering (the Spec's `kindOrder`);
- *10,000 resources*: 100 apps with a `terraform.Terraform` accessory of 100 `null_resource`s,
  each referencing the one before it with `$kusion_path`.

For each, "generate" is parse + validate + modules + dependencies + the YAML text of the Spec
(what `shipmate generate` does after reading the files); the "parse floor" is parsing every
input file with libyaml's `CSafeLoader` (PyYAML's C loader) and nothing else, the fastest
YAML reader in Python. Target: generate <= 3x the floor.

A third case writes the 1,000 apps in KCL (`main.k` importing kam, service and network, as a
Kusion user would) and compares compile + generate with compiling alone (kcl-lib in its
bounded child process, `bot.adapters.kcl`): what Shipmate's own generation adds to a KCL stack,
and the share of the whole that compiling takes. It has no target: the generate step is the
same as the YAML cases', held to theirs.

The last case is the pull request's path for one big stack: generate + preview (the stack
runner's preview plan: Spec, latest release, three-way preview against the live cluster) of
1,000 and 10,000 lean apps (a container and a port each, 2,001 and 20,001 resources, a 2.3 MB
`main.yaml` for 10,000), against the Kubernetes simulator in its own process at zero latency.
Targets: 10,000 apps in <= 20 s, and 10x the apps in <= 12x the time.

    python bench/generate.py [--repeat N] [--skip-kcl] [--skip-preview]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.adapters.gitstate import SystemClock, local_backend  # noqa: E402
from bot.adapters.kcl import LocalKclCompiler  # noqa: E402
from bot.adapters.localfs import LocalConfigReader  # noqa: E402
from bot.app import builder  # noqa: E402
from bot.app.configrepo import discover_stacks, generate_from  # noqa: E402
from bot.app.runner import StackRunner  # noqa: E402
from bot.app.services import Tree  # noqa: E402
from bot.app.stacks import StackOps  # noqa: E402
from bot.core.config.settings import RepoSettings  # noqa: E402
from bot.core.config.snapshot import ConfigSnapshot  # noqa: E402
from bot.core.generate import generate_stack, render_spec  # noqa: E402
from bot.core.runplan import Operation, Provenance  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.wiring import build_runtime_factory  # noqa: E402
from fixtures.kube_sim import free_port  # noqa: E402

TARGET = 3.0
PREVIEW_SECONDS = 20.0  # 10,000 apps, generate + preview
GROWTH = 12.0  # the time of 10x the apps, at most

WORKSPACE = """\
modules:
  service:
    configs:
      default:
        replicas: 2
        labels: {env: bench}
context:
  environment: bench
"""


def apps_stack(n: int) -> dict[str, str]:
    parts = []
    for i in range(n):
        parts.append(f"""\
app{i:04d}:
  workload:
    _type: service.Service
    containers:
      main:
        image: nginx:1.25
        env:
          APP_INDEX: "{i}"
          LOG_LEVEL: info
        resources:
          cpu: 100m-250m
          memory: 128Mi
        readinessProbe:
          probeHandler:
            _type: service.container.probe.Http
            url: http://localhost:80/healthz
          periodSeconds: 5
  accessories:
    network:
      _type: network.Network
      ports:
        - port: 80
""")
    return _repo("".join(parts))


def resources_stack(apps: int, per_app: int) -> dict[str, str]:
    parts = []
    for a in range(apps):
        lines = [
            f"tf{a:03d}:",
            "  accessories:",
            "    infra:",
            "      _type: terraform.Terraform",
            "      provider: {source: hashicorp/null, version: 2.1.2}",
            "      resources:",
            "        null_resource:",
        ]
        for r in range(per_app):
            lines.append(f"          r{a:03d}-{r:03d}:")
            lines.append("            triggers:")
            lines.append(f"              index: \"{r}\"")
            if r:
                lines.append(f"              previous: $kusion_path.hashicorp:null:null_resource:r{a:03d}-{r - 1:03d}.id")
        parts.append("\n".join(lines) + "\n")
    return _repo("".join(parts))


KCL_MOD = """\
[package]
name = "big"

[dependencies]
kam = { git = "https://github.com/KusionStack/kam.git", tag = "0.2.0" }
service = { oci = "oci://ghcr.io/kusionstack/service", tag = "0.2.0" }
network = { oci = "oci://ghcr.io/kusionstack/network", tag = "0.3.0" }
"""


def kcl_apps_stack(n: int) -> dict[str, str]:
    """The `apps_stack` apps written in KCL."""
    parts = ["import kam.v1.app_configuration as ac\nimport service\nimport service.container as c\n"
             "import service.container.probe as p\nimport network as n\n"]
    for i in range(n):
        parts.append(f"""
app{i:04d}: ac.AppConfiguration {{
    workload: service.Service {{
        containers: {{
            main: c.Container {{
                image: "nginx:1.25"
                env: {{APP_INDEX: "{i}", LOG_LEVEL: "info"}}
                resources: {{cpu: "100m-250m", memory: "128Mi"}}
                readinessProbe: p.Probe {{
                    probeHandler: p.Http {{url: "http://localhost:80/healthz"}}
                    periodSeconds: 5
                }}
            }}
        }}
    }}
    accessories: {{"network": n.Network {{ports: [n.Port {{port: 80}}]}}}}
}}
""")
    files = _repo("")
    del files["bench/big/main.yaml"]
    return {**files, "bench/big/main.k": "".join(parts), "bench/big/kcl.mod": KCL_MOD}


def measure_kcl(label: str, files: dict[str, str], repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-") as tmp:
        for rel, text in files.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_text(text)
        reader = LocalConfigReader(Path(tmp))
        kcl = LocalKclCompiler(timeout_seconds=120)

        def compile_only() -> str:
            return kcl.compile(reader, "bench/big")

        def full() -> str:
            return render_spec(generate_from(reader, "bench/big", kcl=kcl))

        text = full()
        resources = text.count("\n- id: ")
        alone, gen = interleaved(compile_only, full, repeat)
    print(f"{label}: {resources} resources from {len(files['bench/big/main.k']) / 1e6:.1f} MB of KCL")
    print(f"  compile     {alone:8.3f} s   compile + generate {gen:8.3f} s   ratio {gen / alone:5.2f}x "
          f"(compiling is {alone / gen:.0%} of the whole)")


def _repo(main: str) -> dict[str, str]:
    return {
        "workspaces/bench.yaml": WORKSPACE,
        "bench/project.yaml": "name: bench\n",
        "bench/big/stack.yaml": "name: big\nworkspace: bench\n",
        "bench/big/main.yaml": main,
    }


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best time of each, measured alternately so that a busy machine slows both alike."""
    times_a, times_b = [], []
    for _ in range(repeat):
        times_a.append(timed(a))
        times_b.append(timed(b))
    return min(times_a), min(times_b)


def measure(label: str, files: dict[str, str], repeat: int) -> float:
    snapshot = ConfigSnapshot(files)

    def floor() -> None:
        for text in files.values():
            yaml.load(text, Loader=yaml.CSafeLoader)

    def full() -> str:
        return render_spec(generate_stack(snapshot, "bench/big"))

    text = full()
    resources = text.count("\n- id: ")
    parse, gen = interleaved(floor, full, repeat)
    ratio = gen / parse
    size = sum(len(t) for t in files.values())
    print(f"{label}: {resources} resources from {size / 1e6:.1f} MB of YAML; "
          f"Spec {len(text) / 1e6:.1f} MB")
    print(f"  parse floor {parse:8.3f} s   generate {gen:8.3f} s   ratio {ratio:5.2f}x "
          f"(target <= {TARGET:.0f}x: {'ok' if ratio <= TARGET else 'MISSED'})")
    return ratio


LEAN_CONTAINER = """\
        env:
          APP_INDEX: "{i}"
"""


def lean_apps(n: int, container: str = LEAN_CONTAINER) -> str:
    """`n` apps of one container and one port: the preview case's `main.yaml`. `container`
    is the rest of the container's fields (`{i}` is the app's index)."""
    return "".join(f"""\
app{i:05d}:
  workload:
    _type: service.Service
    containers:
      main:
        image: nginx:1.25
{container.replace("{i}", str(i)).rstrip()}
  accessories:
    network:
      _type: network.Network
      ports:
        - port: 80
""" for i in range(n))


def preview_once(apps: int, kubeconfig: Path, main: str | None = None) -> float:
    """Generate + preview of one stack of `apps` lean apps (or the apps of `main`) through the
    stack runner, on a fresh state backend; the seconds it took."""
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-preview-") as tmp:
        root = Path(tmp) / "repo"
        for rel, text in _repo(main if main is not None else lean_apps(apps)).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        env = {**os.environ, "SHIPMATE_CACHE_DIR": f"{tmp}/cache", "KUBECONFIG": str(kubeconfig)}
        ops = StackOps(
            backend=local_backend(Path(tmp) / "state"), clock=SystemClock(), watch=False,
            runtimes=build_runtime_factory(Settings.from_env(env), env, cache_dir=Path(tmp) / "cache", base_dir=root),
        )
        reader = LocalConfigReader(root)
        started = time.perf_counter()
        plan = builder.stacks(Operation.PREVIEW, discover_stacks(reader), Provenance(actor="bench"), "bench")
        runs = StackRunner(ops, Tree("bench/config", "1" * 40, reader), RepoSettings()).run(plan).stacks
        elapsed = time.perf_counter() - started
    changeset = runs[0].changeset if len(runs) == 1 else None
    if changeset is None or changeset.counts().create != 2 * apps + 1:
        raise SystemExit(f"preview of {apps} apps failed: {[r.error for r in runs]}")
    return elapsed


@contextmanager
def kube_sim() -> Iterator[Path]:
    """The Kubernetes simulator in its own process (as a cluster would be), at zero latency;
    yields its kubeconfig."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-kube-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        sim = subprocess.Popen(
            [sys.executable, "-m", "fixtures.kube_sim", "--port", str(port), "--kubeconfig", str(kubeconfig)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not kubeconfig.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            yield kubeconfig
        finally:
            sim.terminate()
            sim.wait(timeout=10)


def measure_preview(repeat: int) -> bool:
    with kube_sim() as kubeconfig:
        small = min(preview_once(1_000, kubeconfig) for _ in range(repeat))
        big = min(preview_once(10_000, kubeconfig) for _ in range(max(1, repeat - 1)))
    growth = big / small
    ok = big <= PREVIEW_SECONDS and growth <= GROWTH
    print(f"generate + preview, lean apps (Kubernetes simulator, zero latency): {len(lean_apps(10_000)) / 1e6:.1f} MB "
          "main.yaml for 10,000")
    print(f"  1,000 apps {small:7.2f} s   10,000 apps {big:7.2f} s (target <= {PREVIEW_SECONDS:.0f} s)   "
          f"growth {growth:5.2f}x for 10x the apps (target <= {GROWTH:.0f}x: {'ok' if ok else 'MISSED'})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best counts)")
    parser.add_argument("--skip-kcl", action="store_true", help="leave out the KCL case")
    parser.add_argument("--skip-preview", action="store_true", help="leave out the generate + preview case")
    args = parser.parse_args()
    ratios = [
        measure("1,000 apps", apps_stack(1000), args.repeat),
        measure("10,000 resources", resources_stack(100, 100), args.repeat),
    ]
    if not args.skip_kcl:
        measure_kcl("1,000 apps in KCL", kcl_apps_stack(1000), args.repeat)
    previewed = args.skip_preview or measure_preview(args.repeat)
    return 0 if all(r <= TARGET for r in ratios) and previewed else 1


if __name__ == "__main__":
    sys.exit(main())
