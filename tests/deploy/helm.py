"""Helm itself, for the chart's tests: `helm lint` and `helm install` of Helm v4's own Go library.

The `helm` binary is on no package registry this project can use, but PyPI's `helm-sdkpy`
ships Helm v4's library built for linux-amd64 behind a cffi interface (scripts/install puts it
in the virtualenv). Its install renders the chart with Helm's template engine, its Sprig
functions and its checks (`required`, `fail`, kubeVersion, values), then creates the objects in
the cluster: here the project's Kubernetes simulator, which checks them against the API's
schemas. The rendered manifest comes back with the release, as `helm template` would print it.

Helm runs in a child process (`python -m tests.deploy.helm`, a JSON request on stdin, a JSON
answer on stdout), so its Go runtime never shares the test process, with releases kept in
memory (`HELM_DRIVER=memory`: the simulator speaks JSON only, and Helm writes its release
Secrets as protobuf) and its homes in a scratch directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """What `helm lint` said (each message's severity and path) and the rendered manifest."""

    lint: tuple[tuple[int, str], ...]
    manifest: str


class HelmFailed(Exception):
    """Helm refused: lint errors, a template's `fail`, or an object the cluster rejected."""


def install(chart: Path, kubeconfig: Path, scratch: Path, *, release: str, namespace: str,
            values: dict[str, Any] | None = None) -> Installed:
    """Lint `chart`, then install it as `release` into `namespace` (created) of the cluster."""
    scratch.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "HELM_DRIVER": "memory",
        "HELM_CACHE_HOME": str(scratch / "cache"),
        "HELM_CONFIG_HOME": str(scratch / "config"),
        "HELM_DATA_HOME": str(scratch / "data"),
    }
    request = {"chart": str(chart), "kubeconfig": str(kubeconfig), "release": release,
               "namespace": namespace, "values": values or {}}
    done = subprocess.run([sys.executable, "-m", "tests.deploy.helm"], input=json.dumps(request),
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    if "No module named 'helm_sdkpy'" in done.stderr:
        raise RuntimeError("helm-sdkpy is not installed: run ./scripts/install")
    if done.returncode != 0:
        raise HelmFailed(done.stderr.strip() or done.stdout.strip())
    answer = json.loads(done.stdout)
    return Installed(tuple((m["Severity"], m["Path"]) for m in answer["lint"]["Messages"] or ()),
                     answer["manifest"])


def _main() -> int:
    import helm_sdkpy  # the child process alone loads Helm's Go runtime

    request = json.loads(sys.stdin.read())
    config = helm_sdkpy.Configuration(namespace=request["namespace"], kubeconfig=request["kubeconfig"])
    try:
        lint = asyncio.run(helm_sdkpy.Lint(config).run(request["chart"]))
        if lint.get("Errors"):
            print(f"helm lint: {lint['Errors']}", file=sys.stderr)
            return 1
        release = asyncio.run(helm_sdkpy.Install(config).run(
            request["release"], request["chart"], values=request["values"], create_namespace=True,
            wait=False))
    except helm_sdkpy.HelmError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps({"lint": lint, "manifest": release["manifest"]}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
