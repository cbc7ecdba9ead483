"""Benchmark: reading the latest release and recording one, with 10 vs 10,000 on the branch.

Builds two bare repositories whose state branch already holds N releases of one
project+workspace (`git fast-import`, 100 releases per commit, each commit consistent),
then times, with the median of repeated runs:

- `latest`: read the latest release (index header + one release file);
- `record`: create one release (new revision, index append, one commit, compare-and-swap);
- `flush`:  update the in-progress release's state (what the executor does per resource).

for the repository opened in place (`git:<path>`) and through a URL (`git:file://...`, with
fetch/push). Cost must not grow with history: the ratio 10,000 / 10 should stay <= 1.5.

    python bench/state_branch.py [--releases 10000] [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.adapters.gitstate import git_backend, layout  # noqa: E402
from bot.core.release import Phase, Release, append_index  # noqa: E402
from bot.core.spec import Resource, Spec, State  # noqa: E402

PROJECT, WORKSPACE, STACK = "shop", "prod", "web"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def sample_spec(n: int) -> Spec:
    ns = f"shop-{n % 7}"
    return Spec(
        resources=(
            Resource(f"v1:Namespace:{ns}", "Kubernetes",
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            Resource(f"apps/v1:Deployment:{ns}:web", "Kubernetes", {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": ns, "labels": {"app": "web"}},
                "spec": {"replicas": 1 + n % 3, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                             "containers": [{"name": "web", "image": f"registry/web:{n}",
                                             "ports": [{"containerPort": 8080}]}]}}},
            }, depends_on=(f"v1:Namespace:{ns}",)),
            Resource(f"v1:Service:{ns}:web", "Kubernetes", {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
                "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}},
            }, depends_on=(f"v1:Namespace:{ns}",)),
        )
    )


def sample_release(n: int) -> Release:
    spec = sample_spec(n)
    moment = T0 + timedelta(minutes=n)
    return Release(PROJECT, WORKSPACE, n, STACK, spec, State(spec.resources), Phase.SUCCEEDED,
                   moment, moment, actor="bench", commit=f"{n:040x}")


def build_repo(path: Path, releases: int) -> None:
    """A bare repository whose state branch holds `releases` releases (fast-import)."""
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out = proc.stdin

    def blob(path_in_tree: str, data: bytes) -> None:
        out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path_in_tree.encode(), len(data), data))

    index: str | None = None
    step = 100
    for first in range(1, releases + 1, step):
        last = min(first + step - 1, releases)
        message = f"release {PROJECT}/{WORKSPACE} r{first}..r{last}: imported".encode()
        stamp = int((T0 + timedelta(minutes=last)).timestamp())
        out.write(b"commit refs/heads/%s\n" % layout_branch().encode())
        out.write(b"committer Shipmate <shipmate@localhost> %d +0000\n" % stamp)
        out.write(b"data %d\n%s\n" % (len(message), message))
        if first == 1:
            blob(layout.README, layout.README_TEXT.encode())
        for n in range(first, last + 1):
            blob(layout.release_path(PROJECT, WORKSPACE, n), sample_release(n).to_yaml().encode())
            index = append_index(index, n, STACK)
        assert index is not None
        blob(layout.index_path(PROJECT, WORKSPACE), index.encode())
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


def layout_branch() -> str:
    return "shipmate-state"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm up (persistent cat-file, page cache)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(target: str, runs: int, data_dir: Path) -> dict[str, float]:
    backend = git_backend(target, data_dir=data_dir)
    try:
        latest = backend.latest(PROJECT, WORKSPACE)
        assert latest is not None
        results = {"latest": median_ms(lambda: backend.latest(PROJECT, WORKSPACE), runs)}

        def record() -> None:
            new = Release.start(PROJECT, WORKSPACE, STACK, latest=None, now=T0,
                                spec=sample_spec(0), phase=Phase.SUCCEEDED)
            backend.create(new)

        results["record"] = median_ms(record, runs)
        running = backend.create(Release.start(PROJECT, WORKSPACE, STACK, latest=None, now=T0,
                                               spec=sample_spec(1), phase=Phase.PREVIEWING))
        running = backend.update(running.with_phase(Phase.APPLYING, T0))
        resources = list(sample_spec(1).resources)
        counter = iter(range(1_000_000))

        def flush() -> None:
            nonlocal running
            i = next(counter)
            state = State.of([*resources[: i % 3], ])
            running = backend.update(running.with_state(state, T0))

        results["flush"] = median_ms(flush, runs)
        backend.finish(running.succeeded(T0), None)
        return results
    finally:
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-") as tmp:
        root = Path(tmp)
        sizes = (args.small, args.releases)
        for size in sizes:
            start = time.perf_counter()
            build_repo(root / f"r{size}.git", size)
            print(f"built a state branch with {size:>6} releases in "
                  f"{time.perf_counter() - start:6.2f} s")
        rows = []
        worst = 0.0
        for mode in ("path", "url"):
            numbers = {}
            for size in sizes:
                repo = root / f"r{size}.git"
                target = str(repo) if mode == "path" else f"file://{repo}"
                numbers[size] = measure(target, args.runs, root / f"cache-{mode}-{size}")
            for op in ("latest", "record", "flush"):
                small, large = numbers[sizes[0]][op], numbers[sizes[1]][op]
                ratio = large / small
                worst = max(worst, ratio)
                rows.append((mode, op, small, large, ratio))
        print()
        print(f"{'backend':<8} {'operation':<9} {sizes[0]:>9} rel {sizes[1]:>9} rel  ratio")
        for mode, op, small, large, ratio in rows:
            print(f"{'git:' + mode:<8} {op:<9} {small:10.2f} ms {large:10.2f} ms  {ratio:5.2f}")
        print(f"\nworst ratio {worst:.2f} (target <= 1.5): {'ok' if worst <= 1.5 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
