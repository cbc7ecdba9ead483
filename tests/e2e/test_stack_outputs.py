"""Outputs between stacks end to end: app/dev reads a value network/dev recorded
(`$kusion_stack.network/dev.<resource id>.data.revision`) in a chain network -> db -> app.
With db failing, network applies and app is skipped; fixed, all three apply in order and
app's live object holds the value network recorded in the same run. The preview shows it as
known after apply, and the approval pinned to that preview still holds when it is filled in.
Through the simulated GitHub and Kubernetes with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import Sandbox
from tests.e2e.world import (
    DB_DEPLOYMENT,
    approve_and_apply,
    bodies,
    manifest_stack,
    open_pr,
    replace,
)

pytestmark = pytest.mark.e2e

SETTINGS = """\
backend: {branch: shipmate-state}
requirements: {apply: [approved]}
permissions: {apply: write}
generate: {namespace: extension, terraformOnlyNamespace: false, appMetadata: apply}
"""
NETWORK_REVISION = "$kusion_stack.network/dev.v1:ConfigMap:network:network-settings.data.revision"


def configmap(project: str, data: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {project}-settings, namespace: {project}}}\ndata: {data}\n"


FILES = {
    "shipmate.yaml": SETTINGS,
    **manifest_stack("network", "", configmap("network", "{revision: '1'}")),
    **manifest_stack("db", "dependsOn: [network/dev]\n", configmap("db", "{revision: '1'}") + "---\n" + DB_DEPLOYMENT),
    **manifest_stack("app", "dependsOn: [db/dev, network/dev]\n", configmap("app", "{revision: '1'}")),
}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("outputs"), files=FILES) as sandbox:
        yield sandbox


def live_app_settings(box: Sandbox) -> dict[str, str]:
    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        return dict(client.CoreV1Api(api).read_namespaced_config_map("app-settings", "app").data)
    finally:
        api.close()


def test_an_output_passes_down_a_chain_and_a_failure_stops_it(box: Sandbox, tmp_path: Path) -> None:
    reads_network = replace("{revision: '1'}", f"{{revision: '1', network: '{NETWORK_REVISION}'}}")
    pr = open_pr(box, "bob", {
        "network/dev/objects.yaml": replace("revision: '1'", "revision: '2'"),
        "db/dev/objects.yaml": replace("nginx:1.25", "nginx:fail"),
        "app/dev/objects.yaml": reads_network,
    }, title="app reads network's revision; db breaks")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert "(known after apply)" in preview  # network changes in the same pull request
    asked = approve_and_apply(box, pr.number)
    [applied] = bodies(box, pr.number, after=asked.id)
    assert "### ⛔ `app` / `dev`\n\n```text\nskipped: db/dev failed\n```" in applied
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "first") as backend:
        network, db, app = (backend.latest(p, "dev") for p in ("network", "db", "app"))
    assert network is not None and network.phase == "succeeded"
    assert db is not None and db.phase == "failed"
    assert app is None
    box.repo("bob").get_pull(pr.number).edit(state="closed")  # its locks go
    box.settle()

    # Fixed: network moves on again, db is healthy, and app reads what network records now.
    fixed = open_pr(box, "bob", {
        "network/dev/objects.yaml": replace("revision: '1'", "revision: '3'"),
        # A new Deployment (the broken one goes): no condition of the failed rollout lingers.
        "db/dev/objects.yaml": lambda text: text.replace("revision: '1'", "revision: '2'").replace(
            "progressDeadlineSeconds: 1", "progressDeadlineSeconds: 60").replace("name: db,", "name: db-v2,"),
        "app/dev/objects.yaml": reads_network,
    }, title="app reads network's revision")
    box.settle()
    [preview] = bodies(box, fixed.number)
    assert "(known after apply)" in preview
    asked = approve_and_apply(box, fixed.number)
    [applied] = bodies(box, fixed.number, after=asked.id)
    assert "✅ 3 succeeded" in applied, applied
    assert live_app_settings(box) == {"revision": "1", "network": "3"}
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "second") as backend:
        app = backend.latest("app", "dev")
        assert app is not None and app.phase == "succeeded"
        [configmap_spec] = [r for r in app.spec.resources if r.id == "v1:ConfigMap:app:app-settings"]
        assert configmap_spec.attributes["data"]["network"] == "3"  # the release records the value applied
    box.repo("bob").get_pull(fixed.number).edit(state="closed")
    box.settle()


def test_reading_a_stack_not_in_depends_on_is_an_error(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {
        "network/dev/objects.yaml": replace(
            "revision:", "app: '$kusion_stack.app/dev.v1:ConfigMap:app:app-settings.data.revision', revision:"),
    }, title="network reads app without depending on it")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert ("unresolved reference $kusion_stack.app/dev.v1:ConfigMap:app:app-settings.data.revision: "
            "it names no stack this stack's dependsOn lists (none)") in preview
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.settle()
