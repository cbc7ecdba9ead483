"""Benchmark: a three-way preview of 5,000 resources (10% changed) against reading its inputs.

The floor is `json.loads` of the three inputs (prior state, planned Spec, live objects) as
JSON text: any preview has to at least read them once. The preview is `preview.preview` over
an in-memory runtime that hands back the live objects and dry-run results already computed
(the runtimes' own cost is theirs, not the engine's). Target: at most 5× the floor.

    python bench/diff.py [--resources N] [--changed FRACTION] [--repeat R]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core import render  # noqa: E402
from bot.core.outcome import StackOutcome  # noqa: E402
from bot.core.preview import changeset_from, preview  # noqa: E402
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec, State  # noqa: E402

JSON = dict[str, Any]


def deployment(i: int, image: str, replicas: int) -> JSON:
    name = f"app-{i:05d}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": name, "tier": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "args": ["--port=8080", f"--name={name}"],
                            "env": [
                                {"name": "MODE", "value": "prod"},
                                {"name": "INDEX", "value": str(i)},
                            ],
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                        },
                        {
                            "name": "proxy",
                            "image": "envoyproxy/envoy:v1.30.1",
                            "ports": [{"containerPort": 9901}],
                        },
                    ]
                },
            },
        },
    }


def served(obj: JSON, i: int) -> JSON:
    out = copy.deepcopy(obj)
    out["metadata"].update(
        {
            "uid": f"00000000-0000-4000-8000-{i:012d}",
            "resourceVersion": str(10_000 + i),
            "generation": 4,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "managedFields": [
                {"manager": "shipmate", "operation": "Apply", "fieldsV1": {"f:spec": {}}}
            ],
        }
    )
    out["status"] = {"replicas": 2, "availableReplicas": 2, "observedGeneration": 4}
    return out


def world(n: int, changed: float) -> tuple[Spec, State, dict[str, JSON | None], dict[str, JSON]]:
    every = max(1, round(1 / changed)) if changed > 0 else n + 1
    prior, planned, live, dry = [], [], {}, {}
    for i in range(n):
        if i % 50 == 49:  # one Terraform resource in fifty
            rid = f"hashicorp:null:null_resource:job-{i:05d}"
            before = {"triggers": {"version": "1", "index": str(i)}}
            after = {"triggers": {"version": "2" if i % every == 0 else "1", "index": str(i)}}
            ext = {
                "provider": "registry.terraform.io/hashicorp/null/2.1.2",
                "resourceType": "null_resource",
            }
            prior.append(Resource(rid, TERRAFORM, before, (), ext))
            planned.append(Resource(rid, TERRAFORM, after, (), ext))
            live[rid] = {"id": str(10**17 + i), **before}
            dry[rid] = {"id": str(10**17 + i), **after}
            continue
        rid = f"apps/v1:Deployment:bench:app-{i:05d}"
        old = deployment(i, "nginx:1.25", 2)
        new = deployment(i, "nginx:1.27", 3) if i % every == 0 else old
        prior.append(Resource(rid, KUBERNETES, old, ("v1:Namespace:bench",)))
        planned.append(Resource(rid, KUBERNETES, new, ("v1:Namespace:bench",)))
        live[rid] = served(old, i)
        dry[rid] = served(new, i)
    return Spec(tuple(planned)), State.of(prior), live, dry


class Replay:
    """A Runtime that answers from precomputed maps."""

    def __init__(self, live: Mapping[str, JSON | None], dry: Mapping[str, JSON]) -> None:
        self.live, self.dry = live, dry

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        return {r.id: self.live[r.id] for r in resources}

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        return {r.id: self.dry[r.id] for r in planned}

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        return {r.id: r for r in planned}

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        return None

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        return None


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=5000)
    parser.add_argument("--changed", type=float, default=0.10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    spec, prior, live, dry = world(args.resources, args.changed)
    texts = [
        json.dumps(prior.to_dict()),
        json.dumps(spec.to_dict()),
        json.dumps(live),
    ]
    runtime = Replay(live, dry)
    runtimes = {KUBERNETES: runtime, TERRAFORM: runtime}

    floor = best(lambda: [json.loads(t) for t in texts], args.repeat)
    engine = best(lambda: preview(spec, prior, runtimes), args.repeat)
    direct = best(lambda: changeset_from(spec, prior, live, dry), args.repeat)
    cs = preview(spec, prior, runtimes, project="bench", stack="dev", workspace="dev")
    counts = cs.counts()
    md = best(lambda: render.markdown([StackOutcome.previewed(cs)]), max(1, args.repeat // 2))

    mb = sum(len(t) for t in texts) / 1e6
    print(
        f"resources: {args.resources}  changed: {counts.update} updated, {counts.unchanged} unchanged"
    )
    print(f"inputs: {mb:.1f} MB of JSON (prior, planned, live)")
    print(f"json.loads floor:        {floor * 1000:8.1f} ms")
    print(
        f"preview (engine+ports):  {engine * 1000:8.1f} ms   ratio {engine / floor:5.2f}x  (target <= 5x)"
    )
    print(f"changeset_from (maps):   {direct * 1000:8.1f} ms   ratio {direct / floor:5.2f}x")
    print(f"markdown comment render: {md * 1000:8.1f} ms   (masking + splitting included)")
    return 0 if engine / floor <= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
