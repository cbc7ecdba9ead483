"""Benchmark: what policy as code adds to a preview.

One stack of 500 apps (a Deployment with a pinned image, requests and limits, and a Service
each, plus the Namespace: 1,001 Kubernetes resources, all within the policies) is previewed through the stack runner against the Kubernetes simulator
(zero latency), as a pull request's preview runs; then the four example policies of
`docs/examples/policies` (pinned images, limits, no public load balancer in prod, Terraform
allowlist) are evaluated on that stack's input document (`bot.core.policy_code`) with regopy
(`bot.adapters.rego`), as the preview would. Target: the evaluation adds <= 20 % to the
preview.

    python bench/policy.py [--apps 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate import _repo, kube_sim, lean_apps, preview_once  # noqa: E402

from bot.adapters.localfs import LocalConfigReader  # noqa: E402
from bot.adapters.rego import RegoEngine  # noqa: E402
from bot.app.configrepo import generate_from  # noqa: E402
from bot.core.policy_code import PolicyFile, decide, policy_input, queries  # noqa: E402

TARGET = 0.20
EXAMPLES = ROOT / "docs" / "examples" / "policies"


def apps(n: int) -> str:
    """`n` apps that keep the example policies: the stack a team usually sends."""
    return lean_apps(n, "        resources:\n          cpu: 100m-250m\n          memory: 128Mi-256Mi\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=500, help="apps in the stack (2 resources each, + 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best counts)")
    args = parser.parse_args(argv)
    files = tuple(PolicyFile(f"policies/{p.name}", p.read_text()) for p in sorted(EXAMPLES.glob("*.rego")))
    with kube_sim() as kubeconfig:
        preview = min(preview_once(args.apps, kubeconfig, apps(args.apps)) for _ in range(args.repeat))
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-policy-") as tmp:
        root = Path(tmp) / "repo"
        for rel, text in _repo(apps(args.apps)).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        spec = generate_from(LocalConfigReader(root), "bench/big")
    document = policy_input(spec, None, project="bench", stack="big", workspace="prod")
    engine = RegoEngine()
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        result = decide(engine.evaluate(files, queries(files), document))
        timings.append(time.perf_counter() - started)
    evaluation = min(timings)
    share = evaluation / preview
    print(f"{len(spec.resources)} resources: preview {preview:.3f} s, {len(files)} policies evaluated in "
          f"{evaluation:.3f} s ({len(result.failures)} failures, {len(result.warnings)} warnings): "
          f"+{share:.0%} (target <= {TARGET:.0%}: {'ok' if share <= TARGET else 'MISSED'})")
    return 0 if share <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
