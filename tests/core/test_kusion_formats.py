"""The files and documents Kusion reads, checked against the field names of Kusion's Go
structs (KusionStack/kusion 02cc9d8): `pkg/apis/api.kusion.io/v1/types.go` (Release, Spec,
State, Resource), `pkg/engine/release/storages/util.go` (the `.metadata.yml` index) and
`pkg/engine/operation/models/change.go` (`preview -o json`).

Kusion reads releases with gopkg.in/yaml.v3 (`storages/local.go`): struct fields by their
`yaml` tags, unknown keys ignored; `time.Time` from a plain timestamp or, for a quoted one,
through `time.Time.UnmarshalText`, which takes RFC 3339. The release Shipmate writes is
pinned by a golden file.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.core import render
from bot.core.preview.engine import changeset_from
from bot.core.release import Phase, Release, ReleaseMeta, Trigger
from bot.core.spec import Resource, Spec, State
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
# Field names (yaml/json tags) of Kusion's structs at 02cc9d8.
RELEASE = {"project", "workspace", "revision", "stack", "spec", "state", "phase",
           "createTime", "modifiedTime"}
RELEASE_REQUIRED = RELEASE - {"spec"}  # spec is the only omitempty field
SPEC = {"resources", "secretStore", "context"}
STATE = {"resources"}
RESOURCE = {"id", "type", "attributes", "dependsOn", "extensions"}
RESOURCE_REQUIRED = {"id", "type", "attributes"}
INDEX = {"latestRevision", "releaseMetaDatas"}
INDEX_ITEM = {"revision", "stack"}  # yaml.v3's lowercased names of Revision and Stack
CHANGE_ORDER = {"stepKeys", "changeSteps"}
CHANGE_STEP = {"id", "action", "from", "to"}
ACTIONS = {"UnChanged", "Create", "Update", "Delete"}
PHASES = {"generating", "previewing", "applying", "destroying", "succeeded", "failed"}
# What time.Time.UnmarshalText (time.RFC3339) accepts.
GO_RFC3339 = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")
SHIPMATE_EXTRAS = {"trigger", "actor", "commit", "pullRequest", "error"}

T0 = datetime(2025, 1, 10, 0, 0, 0, tzinfo=UTC)
NS = Resource("v1:Namespace:shop", "Kubernetes",
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
WEB = Resource("apps/v1:Deployment:shop:web", "Kubernetes",
               {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2}},
               depends_on=(NS.id,), extensions={"kusion.io/is-workload": True})


def applied() -> Release:
    release = Release.start("shop", "prod", "prod", latest=None, now=T0, trigger=Trigger.PUSH,
                            actor="alice", commit="c" * 40, pull_request=7)
    release = release.with_phase(Phase.PREVIEWING, T0).with_spec(Spec((NS, WEB)), T0)
    release = release.with_phase(Phase.APPLYING, T0).with_state(State((NS, WEB)), T0)
    return release.succeeded(T0 + timedelta(seconds=5))


def resource_fields(resources: list[dict[str, Any]]) -> None:
    for r in resources:
        assert RESOURCE_REQUIRED <= set(r) <= RESOURCE, r


def test_a_release_has_every_field_of_kusions_release_struct() -> None:
    text = applied().to_yaml()
    assert_golden(GOLDEN / "release-kusion-fields.yaml", text)
    doc = yaml.safe_load(text)
    assert RELEASE_REQUIRED <= set(doc) <= RELEASE | SHIPMATE_EXTRAS
    assert set(doc["spec"]) == SPEC and set(doc["state"]) == STATE
    resource_fields(doc["spec"]["resources"])
    resource_fields(doc["state"]["resources"])
    assert doc["phase"] in PHASES and isinstance(doc["revision"], int)
    for key in ("createTime", "modifiedTime"):
        # Quoted, so yaml.v3 hands the text to time.Time.UnmarshalText: RFC 3339 it must be.
        assert re.search(rf"^{key}: '[^']+'$", text, re.M)
        assert GO_RFC3339.match(doc[key]), doc[key]


def test_the_index_has_the_fields_of_kusions_releases_metadata() -> None:
    text = ReleaseMeta().append(1, "prod").append(2, "prod").to_yaml()
    doc = yaml.safe_load(text)
    assert set(doc) == INDEX
    assert all(set(item) == INDEX_ITEM for item in doc["releaseMetaDatas"])
    assert doc == {"latestRevision": 2,
                   "releaseMetaDatas": [{"revision": 1, "stack": "prod"}, {"revision": 2, "stack": "prod"}]}


def test_what_kusions_yaml_v3_writes_is_read() -> None:
    # yaml.v3's own style: four-space indent, plain timestamps in nanoseconds and local offset.
    text = (
        "project: shop\nworkspace: prod\nrevision: 3\nstack: prod\n"
        "spec:\n    resources:\n        - id: v1:Namespace:shop\n          type: Kubernetes\n"
        "          attributes:\n            apiVersion: v1\n            kind: Namespace\n"
        "            metadata:\n                name: shop\n    secretStore: null\n    context: {}\n"
        "state:\n    resources:\n        - id: v1:Namespace:shop\n          type: Kubernetes\n"
        "          attributes:\n            apiVersion: v1\n            kind: Namespace\n"
        "            metadata:\n                name: shop\n"
        "phase: succeeded\ncreateTime: 2025-01-10T08:00:00.123456789+08:00\n"
        "modifiedTime: 2025-01-10T08:00:05.5+08:00\n"
    )
    release = Release.from_yaml(text, "releases/shop/prod/3.yaml")
    assert (release.revision, release.phase, release.trigger) == (3, Phase.SUCCEEDED, Trigger.CLI)
    assert release.create_time == T0 and release.modified_time == T0 + timedelta(seconds=5)
    assert release.state == State((NS,)) and release.spec == Spec((NS,))
    index = ReleaseMeta.from_yaml(
        "latestRevision: 3\nreleaseMetaDatas:\n    - revision: 1\n      stack: prod\n"
        "    - revision: 2\n      stack: prod\n    - revision: 3\n      stack: prod\n"
    )
    assert index.latest_revision == 3


def test_preview_json_has_the_fields_of_kusions_change_order() -> None:
    gone = Resource("v1:ConfigMap:shop:old", "Kubernetes",
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "shop"}})
    changed = {**WEB.attributes, "spec": {"replicas": 3}}
    changeset = changeset_from(
        Spec((NS, Resource(WEB.id, WEB.type, changed, WEB.depends_on, WEB.extensions))),
        State((WEB, gone)),
        {WEB.id: dict(WEB.attributes), gone.id: dict(gone.attributes)},
        {WEB.id: changed},
    )
    doc = json.loads(render.json(changeset))
    assert set(doc) == CHANGE_ORDER
    assert doc["stepKeys"] == [NS.id, WEB.id, gone.id]
    steps = doc["changeSteps"]
    assert all(set(step) == CHANGE_STEP for step in steps.values())
    assert {k: s["action"] for k, s in steps.items()} == {NS.id: "Create", WEB.id: "Update", gone.id: "Delete"}
    assert set(s["action"] for s in steps.values()) <= ACTIONS
    assert steps[NS.id]["from"] is None and steps[gone.id]["to"] is None
    for step in steps.values():
        resource_fields([r for r in (step["from"], step["to"]) if r is not None])
