"""Stack dependencies end to end: three stacks chained by `dependsOn` (network -> db -> app)
in one pull request, applied in that order with a failure in the middle (db's Deployment
never becomes ready): network applied and recorded, db failed and recorded, app skipped
naming db; and a cycle refused with its path. Through the simulated GitHub and Kubernetes
with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import Sandbox
from tests.e2e.world import (
    DB_DEPLOYMENT,
    NO_APPROVALS,
    bodies,
    comment,
    manifest_stack,
    open_pr,
    replace,
)

pytestmark = pytest.mark.e2e

SETTINGS = NO_APPROVALS


def configmap(project: str, value: str) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {project}-settings, namespace: {project}}}\n"
            f"data: {{revision: '{value}'}}\n")


FILES = {
    "shipmate.yaml": SETTINGS,
    **manifest_stack("network", "", configmap("network", "1")),
    **manifest_stack("db", "dependsOn: [network/dev]\n", configmap("db", "1") + "---\n" + DB_DEPLOYMENT),
    **manifest_stack("app", "dependsOn: [db/dev, network/dev]\n", configmap("app", "1")),
}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("stackdeps"), files=FILES) as sandbox:
        yield sandbox


def test_a_chain_applies_in_order_and_skips_what_follows_a_failure(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {
        "network/dev/objects.yaml": replace("revision: '1'", "revision: '2'"),
        "db/dev/objects.yaml": replace("nginx:1.25", "nginx:fail"),
        "app/dev/objects.yaml": replace("revision: '1'", "revision: '2'"),
    }, title="A new network, db and app")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert "`/apply -p network -s dev`" in preview

    asked = comment(box, "bob", pr.number, "/apply")
    box.settle()
    [applied] = bodies(box, pr.number, after=asked.id)
    assert "| `app` / `dev` | `dev` | ⛔ not run | — | — |" in applied
    assert "### ⛔ `app` / `dev`\n\n```text\nskipped: db/dev failed\n```" in applied
    assert "`apps/v1:Deployment:db:db`: not ready" in applied or "not ready: progress deadline exceeded" in applied

    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        network, db, app = (backend.latest(p, "dev") for p in ("network", "db", "app"))
    assert network is not None and network.phase == "succeeded"
    assert db is not None and db.phase == "failed"
    assert network.modified_time <= db.create_time  # db began once network had finished
    assert app is None  # never started: no release


def test_a_cycle_is_refused_with_its_path(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {
        "network/dev/stack.yaml": lambda text: text + "dependsOn: [app/dev]\n",
        "network/dev/objects.yaml": replace("revision: '1'", "revision: '3'"),
    }, title="network waits for app")
    box.settle()
    [preview] = bodies(box, pr.number)
    assert "stacks depend on each other in a cycle: app/dev -> db/dev -> network/dev -> app/dev" in preview
    assert "To apply" not in preview
