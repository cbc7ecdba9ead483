"""A runtime from outside Shipmate declaring `api-objects` gets what Kubernetes gets: the
fields its server fills in and the order of keyed lists are no change, and a Secret's values
are masked in the preview and in the release; the same runtime declaring nothing has its
objects compared and shown as it returns them.

`tests/localruntime/objects.py` is installed the way a package would be (a distribution on
`sys.path` whose `entry_points.txt` names the `LocalObject` runtime and the `localobject`
module), once as the plug-in declaring `api-objects` and once as the one declaring nothing;
the stack is driven through the `shipmate` command with a directory state backend.
"""

from __future__ import annotations

import base64
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.app.test_outside_runtime import Stack
from tests.localruntime.objects import object_file

PASSWORD = base64.b64encode(b"c0rrect-h0rse-battery").decode()
DB, WEB = "local:object:web-db", "local:object:web-deploy"
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
          "data": {"password": PASSWORD}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:1"},
                                                            {"name": "proxy", "image": "envoy:1"}]}}}}


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin: str) -> None:
    dist = tmp_path / "site" / "shipmate_objects-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shipmate-objects\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[shipmate.runtimes]\nLocalObject = tests.localruntime.objects:{plugin}\n\n"
        "[shipmate.modules]\nlocalobject = tests.localruntime.objects:LocalObjectModule\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()


class ObjectStack(Stack):
    """Stack shop/dev whose app `web` has LocalObject accessories."""

    def objects(self, **manifests: dict[str, Any]) -> None:
        apps = {"web": {"accessories": {
            name: {"_type": "localobject.Object", "manifest": manifest} for name, manifest in manifests.items()
        }}}
        self.write("shop/dev/main.yaml", yaml.safe_dump(apps))

    def live(self, resource_id: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(object_file(self.files, resource_id).read_text())
        return loaded

    def relive(self, resource_id: str, obj: dict[str, Any]) -> None:
        object_file(self.files, resource_id).write_text(json.dumps(obj))


@pytest.mark.parametrize("declared", [True, False], ids=["api-objects", "nothing"])
def test_what_declaring_api_objects_changes_for_an_outside_runtime(
    declared: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(tmp_path, monkeypatch, "PLUGIN" if declared else "PLAIN")
    stack = ObjectStack(tmp_path, capsys)
    stack.objects(db=SECRET, deploy=DEPLOYMENT)
    assert stack.actions() == {DB: "Create", WEB: "Create"}
    for output in ("text", "json", "markdown"):
        code, out = stack.run("preview", "-o", output)
        assert code == 0, out
        assert (PASSWORD in out) is not declared, out

    code, out = stack.run("apply", "--yes")
    assert code == 0, out
    assert (PASSWORD in out) is not declared, out
    assert stack.live(DB)["data"] == {"password": PASSWORD}
    assert stack.live(WEB)["metadata"]["resourceVersion"] == "1"

    # The server bumps resourceVersion on every write: no change to an API object, a change
    # to anything else.
    unchanged = {DB: "UnChanged", WEB: "UnChanged"}
    assert stack.actions() == (unchanged if declared else {DB: "Update", WEB: "Update"})
    code, out = stack.run("preview", "-o", "json")  # the live and dry-run objects in full
    assert code == 0 and (PASSWORD in out) is not declared, out

    # The server lists the containers in another order: the same set, keyed by name.
    live = stack.live(WEB)
    live["spec"]["template"]["spec"]["containers"].reverse()
    stack.relive(WEB, live)
    code, out = stack.run("preview")
    assert code == 0, out
    if declared:
        assert stack.actions() == unchanged
        assert "containers" not in out
    else:
        assert "@@ spec.template.spec.containers[0].image @@" in out  # compared by position

    code, out = stack.run("release", "show", "-o", "json")
    assert code == 0, out
    release = json.loads(out)
    assert {r["id"] for r in release["state"]["resources"]} == {DB, WEB}
    if declared:  # a Secret's values are never stored (the state branch is readable by many)
        assert PASSWORD not in out
        stored = {r["id"]: r for r in release["state"]["resources"]}
        assert stored[DB]["attributes"]["data"] == {"password": "(sensitive value)"}
