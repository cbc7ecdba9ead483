"""Benchmark: applying a DAG of Kubernetes resources, and Terraform in one directory vs many.

Part 1: 500 ConfigMaps in a DAG of depth 5 (five layers of 100; each resource depends on one
in the layer above) applied by the executor through the Kubernetes runtime to the simulator,
which runs in its own process (as a cluster would) and adds 20 ms to every request. The
requests are counted once by an in-process simulator without latency. The ideal wall time is

    (critical path requests + total requests / concurrency) x latency

with the requests counted by the simulator. Target: wall / ideal <= 1.3.

Part 2: 30 Terraform resources in one working directory vs one directory each (Kusion's
way), from `bench/apply_terraform.py`. Target: >= 5x faster.

    python bench/apply.py [--resources 500] [--depth 5] [--latency-ms 20] [--concurrency 10]
                          [--skip-terraform]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.kubernetes.runtime import KubernetesRuntime  # noqa: E402
from bot.app.executor import Executor  # noqa: E402
from bot.core import plan  # noqa: E402
from bot.core.runtimes import StackRuntimes  # noqa: E402
from bot.core.spec import KUBERNETES, Resource, State  # noqa: E402
from fixtures.kube_sim import KubeSim, free_port  # noqa: E402

TARGET = 1.3
NAMESPACE = "bench"


def resources(count: int, depth: int) -> list[Resource]:
    per_layer = count // depth
    out: list[Resource] = []
    for layer in range(depth):
        for i in range(per_layer):
            name = f"cm-{layer}-{i}"
            parent = (f"v1:ConfigMap:{NAMESPACE}:cm-{layer - 1}-{i}",) if layer else ()
            out.append(Resource(
                f"v1:ConfigMap:{NAMESPACE}:{name}", KUBERNETES,
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": name, "namespace": NAMESPACE}, "data": {"layer": str(layer)}},
                parent,
            ))
    return out


def _apply_all(kubeconfig: Path, count: int, depth: int, concurrency: int) -> float:
    """Apply the DAG through the executor; the wall time of the walk alone."""
    runtime = KubernetesRuntime.from_context({"KUBECONFIG_PATH": str(kubeconfig)}, concurrency=concurrency)
    ns = Resource(f"v1:Namespace:{NAMESPACE}", KUBERNETES,
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    runtime.apply([ns], State())  # discovery and the namespace, outside the measurement
    ops = [plan.Operation(r.id, plan.CREATE, r) for r in resources(count, depth)]
    executor = Executor(StackRuntimes.of({KUBERNETES: runtime}), concurrency=concurrency, watch=False)
    started = time.perf_counter()
    outcome = executor.run(ops, State())
    wall = time.perf_counter() - started
    runtime.close()
    if not outcome.ok:
        raise SystemExit(f"apply failed: {outcome.summary()}: {dict(list(outcome.failed.items())[:3])}")
    return wall


def count_requests(count: int, depth: int, concurrency: int) -> int:
    """Requests the walk makes, counted by an in-process simulator without latency."""
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-apply-") as tmp, KubeSim.start() as sim:
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig")
        runtime = KubernetesRuntime.from_context({"KUBECONFIG_PATH": str(kubeconfig)}, concurrency=concurrency)
        runtime.apply([Resource(f"v1:Namespace:{NAMESPACE}", KUBERNETES, {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})], State())
        runtime.close()
        before = sim.requests_served
        _apply_all(kubeconfig, count, depth, concurrency)
        # _apply_all applies the namespace again first (one request): not part of the walk.
        return sim.requests_served - before - 1


def measure_kubernetes(count: int, depth: int, latency_ms: float, concurrency: int) -> dict[str, float]:
    """The walk against a simulator in its own process (as a cluster would be), with latency."""
    total = count_requests(count, depth, concurrency)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-apply-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        sim = subprocess.Popen(
            [sys.executable, "-m", "fixtures.kube_sim", "--port", str(port), "--kubeconfig", str(kubeconfig),
             "--latency-ms", str(latency_ms)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not kubeconfig.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            wall = _apply_all(kubeconfig, count, depth, concurrency)
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    per_op = total / count
    ideal = (depth * per_op + total / concurrency) * latency_ms / 1000
    return {"resources": count, "requests": total, "wall": wall, "ideal": ideal, "ratio": wall / ideal}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--skip-terraform", action="store_true")
    args = parser.parse_args(argv)

    k = measure_kubernetes(args.resources, args.depth, args.latency_ms, args.concurrency)
    print(f"kubernetes: {k['resources']:.0f} resources, depth {args.depth}, {args.latency_ms:.0f} ms/request, "
          f"concurrency {args.concurrency}")
    print(f"  requests {k['requests']:.0f}; wall {k['wall']:.2f} s; ideal {k['ideal']:.2f} s; "
          f"ratio {k['ratio']:.2f} (target <= {TARGET}) {'OK' if k['ratio'] <= TARGET else 'MISSED'}")

    if not args.skip_terraform:
        import apply_terraform  # bench/apply_terraform.py beside this file

        binary = os.environ.get("SHIPMATE_TERRAFORM_BIN") or str(ROOT / ".tools/terraform/bin/terraform")
        cli = os.environ.get("TF_CLI_CONFIG_FILE") or str(ROOT / ".tools/terraform/terraformrc")
        result = apply_terraform.measure(30, binary=binary, cli_config=Path(cli) if Path(cli).is_file() else None)
        print("terraform:")
        print("\n".join("  " + line for line in result.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
