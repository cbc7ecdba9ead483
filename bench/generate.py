"""Benchmark: how long Generate takes against the floor of merely parsing the same YAML files.

Two synthetic stacks are built in memory:

- *1,000 apps*: each a `service.Service` workload (one container with env, resources and a
  probe) plus a `network.Network` accessory — 2,001 Kubernetes resources, with Kusion's
  spec-wide kind ordering in `dependsOn`;
- *10,000 resources*: 100 apps with a `terraform.Terraform` accessory of 100 `null_resource`s,
  each referencing the one before it with `$kusion_path`.

For each, "generate" is parse + validate + modules + dependencies + the YAML text of the Spec
(what `shipmate generate` does after reading the files); "parse floor" is parsing every input
file with the same round-trip loader and nothing else. Target: generate <= 3x the floor.

A third case writes the 1,000 apps in KCL (`main.k` importing kam, service and network, as a
Kusion user would) and compares compile + generate with compiling alone (kcl-lib in its
bounded child process, `bot.adapters.kcl`): what Shipmate's own generation adds to a KCL stack,
and the share of the whole that compiling takes. It has no target: the generate step is the
same as the YAML cases', held to theirs.

    python bench/generate.py [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.kcl import LocalKclCompiler  # noqa: E402
from bot.adapters.localfs import LocalConfigReader  # noqa: E402
from bot.app.configrepo import generate_from  # noqa: E402
from bot.core.config.snapshot import ConfigSnapshot  # noqa: E402
from bot.core.generate import generate_stack, render_spec  # noqa: E402
from bot.core.yamlio import load  # noqa: E402

TARGET = 3.0

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
        for path, text in files.items():
            load(path, text)

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best counts)")
    args = parser.parse_args()
    ratios = [
        measure("1,000 apps", apps_stack(1000), args.repeat),
        measure("10,000 resources", resources_stack(100, 100), args.repeat),
    ]
    measure_kcl("1,000 apps in KCL", kcl_apps_stack(1000), args.repeat)
    return 0 if all(r <= TARGET for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
