"""The GitHub Action previews a KCL stack as the server and the CLI do: a pull request adding
konfig's `nginx` example (`main.k` and a Kusion `kcl.mod` naming kam, service and network) is
compiled on the runner with the schemas Shipmate ships, previewed against the cluster and
reported on the pull request and in the step's outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.__main__ import main
from bot.cli.sandbox import REPO, USERS, Sandbox
from tests.conftest import ROOT
from tests.e2e.world import bodies, open_pr, statuses

pytestmark = pytest.mark.e2e

NGINX = ROOT / "fixtures" / "configs" / "konfig" / "nginx"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("action-kcl"), serve=False) as sandbox:
        yield sandbox


def test_the_action_previews_a_kcl_stack(box: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = len(box.recorder.received)
    files = {f"nginx/{rel}": (NGINX / rel).read_text() for rel in ("project.yaml", "dev/stack.yaml", "dev/main.k",
                                                                    "dev/kcl.mod")}
    pr = open_pr(box, "bob", files, title="nginx in KCL")
    box.skip()
    [item] = [r for r in box.recorder.received[before:] if r.headers["X-GitHub-Event"] == "pull_request"]
    event = tmp_path / "event.json"
    event.write_bytes(item.body)
    outputs = tmp_path / "outputs"
    env = {
        **{k: v for k, v in box.env.items() if k.startswith(("SHIPMATE_TERRAFORM", "TF_", "KUBECONFIG"))},
        "INPUT_COMMAND": "preview", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": USERS["shipmate"][0], "GITHUB_API_URL": box.github.api_url, "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": "78", "RUNNER_TEMP": str(tmp_path / "runner"), "GITHUB_OUTPUT": str(outputs),
    }
    code = main(env)
    out = capsys.readouterr().out
    assert code == 0, out
    [preview] = [b for b in bodies(box, pr.number) if "## Shipmate preview" in b]
    assert "### `nginx` / `dev`" in preview, preview
    assert "apps/v1:Deployment:nginx:nginx-dev-nginx" in preview, preview
    assert statuses(box, pr.head.sha)["shipmate/preview"][0] == "success"
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert json.loads(written["changed-stacks"]) == ["nginx/dev"]
    assert int(written["creates"]) >= 3  # the Namespace, the Deployment, the Service
