"""Golden renderings of previews: terminal text, Kusion JSON and the PR comment, per scenario.

Each scenario runs the real engine (`preview.preview`) over an in-test runtime that keeps the
live world in plain dicts. Regenerate with `SHIPMATE_UPDATE_GOLDEN=1 pytest tests/core/test_render_golden.py`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.core import render
from bot.core.outcome import StackOutcome
from bot.core.ports import REPLACE_KEY, SENSITIVE_KEY
from bot.core.preview import Action, ChangeSet, preview
from bot.core.render import split
from bot.core.spec import EXT_IMPORT_ID, KUBERNETES, TERRAFORM, Resource, Spec, State
from tests.golden import assert_golden

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "preview"
PART_BREAK = "\n\n<!-- ✂ ---- next comment ---- ✂ -->\n\n"
WORKSPACE_SECRETS = ("s3cr3t-db-pa55word", "tok_9f8e7d6c5b4a")

JSON = dict[str, Any]


def _merge(live: Any, prior: Any, plan: Any) -> Any:
    """Kusion's three-way merge: plan over live, dropping what prior had and plan no longer has."""
    if not (isinstance(live, dict) and isinstance(plan, dict)):
        return copy.deepcopy(plan)
    prior = prior if isinstance(prior, dict) else {}
    out = copy.deepcopy(live)
    for key in prior:
        if key not in plan:
            out.pop(key, None)
    for key, value in plan.items():
        out[key] = _merge(live.get(key), prior.get(key), value)
    return out


class DictRuntime:
    """A Runtime whose world is a dict of objects by ID; dry-run is a three-way merge."""

    def __init__(self, objects: Mapping[str, JSON], sensitive: Mapping[str, JSON] | None = None,
                 replaces: Mapping[str, list[list[str | int]]] | None = None):
        self.objects = {k: copy.deepcopy(v) for k, v in objects.items()}
        self.sensitive = dict(sensitive or {})
        self.replaces = dict(replaces or {})  # ID → the paths that force its replacement

    def _mark(self, rid: str, obj: JSON) -> JSON:
        if rid in self.sensitive:
            return {**obj, SENSITIVE_KEY: self.sensitive[rid]}
        return obj

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        out: dict[str, JSON | None] = {}
        for r in resources:
            obj = self.objects.get(r.id)
            out[r.id] = None if obj is None else self._mark(r.id, copy.deepcopy(obj))
        return out

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        before = prior.by_id()
        out = {}
        for r in planned:
            old = before[r.id].attributes if r.id in before else {}
            merged = _merge(self.objects.get(r.id, {}), old, dict(r.attributes))
            out[r.id] = self._mark(r.id, merged)
            if r.id in self.replaces:
                out[r.id] = {**out[r.id], REPLACE_KEY: self.replaces[r.id]}
        return out

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        done = {}
        for r, obj in zip(planned, self.dry_run(planned, prior).values(), strict=True):
            self.objects[r.id] = {k: v for k, v in obj.items() if k != SENSITIVE_KEY}
            done[r.id] = r
        return done

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        for r in resources:
            self.objects.pop(r.id, None)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        return None


# --- manifests ------------------------------------------------------------------------------

NS = "v1:Namespace:shop"
DEPLOY = "apps/v1:Deployment:shop:web"
SVC = "v1:Service:shop:web"
CM = "v1:ConfigMap:shop:web-config"
ING = "networking.k8s.io/v1:Ingress:shop:web"
SECRET = "v1:Secret:shop:web-db"
NULL = "hashicorp:null:null_resource:migrate"
PASSWORD = "hashicorp:random:random_password:db"
TF_PROVIDER = "registry.terraform.io/hashicorp/null/2.1.2"


def k8s(rid: str, attrs: JSON, deps: Sequence[str] = ()) -> Resource:
    return Resource(rid, KUBERNETES, attrs, tuple(deps), {"GVK": rid.rsplit(":", 2)[0]})


def kube(rid: str, attrs: JSON, deps: Sequence[str] = ()) -> Resource:
    """A Kubernetes resource with its GVK as Kusion writes it (`apps/v1, Kind=Deployment`)."""
    version = str(attrs.get("apiVersion", ""))
    gvk = f"{version if '/' in version else '/' + version}, Kind={attrs.get('kind', '')}"
    return Resource(rid, KUBERNETES, attrs, tuple(deps), {"GVK": gvk})


def tf(rid: str, attrs: JSON, deps: Sequence[str] = (), provider: str = TF_PROVIDER) -> Resource:
    rtype = rid.split(":")[2]
    return Resource(
        rid, TERRAFORM, attrs, tuple(deps), {"provider": provider, "resourceType": rtype}
    )


def namespace() -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def deployment(image: str = "nginx:1.25", replicas: int = 2, env: Sequence[JSON] = ()) -> JSON:
    app = {
        "name": "app",
        "image": image,
        "args": ["--port=8080", "--log-level=info"],
        "env": [{"name": "MODE", "value": "prod"}, *env],
        "ports": [
            {"containerPort": 8080, "protocol": "TCP"},
            {"containerPort": 9090, "protocol": "TCP"},
        ],
    }
    sidecar = {
        "name": "proxy",
        "image": "envoyproxy/envoy:v1.30.1",
        "ports": [{"containerPort": 9901}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [app, sidecar]},
            },
        },
    }


def service(ports: Sequence[JSON] | None = None) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"app": "web"},
            "ports": list(
                ports
                or [
                    {"name": "http", "port": 80, "targetPort": 8080},
                    {"name": "metrics", "port": 9090},
                ]
            ),
        },
    }


def configmap(data: JSON) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "shop"},
        "data": dict(data),
    }


def ingress() -> JSON:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }


def secret(data: JSON) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "web-db", "namespace": "shop"},
        "type": "Opaque",
        "data": dict(data),
    }


def served(obj: JSON, n: int) -> JSON:
    """`obj` as the API server returns it: uid, resourceVersion, managedFields, status, ..."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta.update(
        {
            "uid": f"00000000-0000-4000-8000-{n:012d}",
            "resourceVersion": str(1000 + n),
            "generation": 3,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "managedFields": [{"manager": "shipmate", "operation": "Apply"}],
        }
    )
    out["status"] = {"observedGeneration": 3}
    return out


# --- scenarios ------------------------------------------------------------------------------


def _stack(cs: ChangeSet) -> list[StackOutcome]:
    return [StackOutcome.previewed(cs)]


def scenario_create_only() -> tuple[ChangeSet, list[StackOutcome]]:
    spec = Spec(
        (
            k8s(NS, namespace()),
            k8s(DEPLOY, deployment(), [NS]),
            k8s(SVC, service(), [NS, DEPLOY]),
            tf(NULL, {"triggers": {"version": "1"}}),
        )
    )
    runtimes = {KUBERNETES: DictRuntime({}), TERRAFORM: DictRuntime({})}
    cs = preview(spec, State(), runtimes, project="shop", stack="dev", workspace="dev")
    return cs, _stack(cs)


def _mixed_world() -> tuple[Spec, State, dict[str, Any]]:
    prior = State.of(
        [
            k8s(NS, namespace()),
            k8s(DEPLOY, deployment(), [NS]),
            k8s(SVC, service(), [NS, DEPLOY]),
            k8s(CM, configmap({"LEGACY": "1"}), [NS]),
            tf(NULL, {"triggers": {"version": "1"}}),
        ]
    )
    live_svc = service()
    live_svc["spec"]["ports"].reverse()  # a set-like list in another order is no change
    live_deploy = served(deployment(replicas=5), 2)  # someone scaled it by hand
    live_deploy["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "7"}
    k8s_live = {
        NS: served(namespace(), 1),
        DEPLOY: live_deploy,
        SVC: served(live_svc, 3),
        CM: served(configmap({"LEGACY": "1"}), 4),
    }
    tf_live = {NULL: {"id": "4471529212371240219", "triggers": {"version": "1"}}}
    spec = Spec(
        (
            k8s(NS, namespace()),
            k8s(DEPLOY, deployment("nginx:1.27", 3, [{"name": "FEATURE_X", "value": "on"}]), [NS]),
            k8s(SVC, service(), [NS, DEPLOY]),
            k8s(ING, ingress(), [NS, SVC]),
            tf(NULL, {"triggers": {"version": "2"}}),
        )
    )
    return spec, prior, {"k8s": k8s_live, "tf": tf_live}


def scenario_mixed() -> tuple[ChangeSet, list[StackOutcome]]:
    spec, prior, live = _mixed_world()
    runtimes = {KUBERNETES: DictRuntime(live["k8s"]), TERRAFORM: DictRuntime(live["tf"])}
    cs = preview(
        spec,
        prior,
        runtimes,
        ignore_fields=["metadata.annotations.deployment\\.kubernetes\\.io/revision"],
        project="shop",
        stack="dev",
        workspace="dev",
    )
    failed = StackOutcome.refused(
        "shop",
        "prod",
        "prod",
        "workspaces/prod.yaml:12:5: modules.service.configs.default.replicas: expected an integer, got 'three'",
    )
    return cs, [StackOutcome.previewed(cs), failed]


def scenario_delete() -> tuple[ChangeSet, list[StackOutcome]]:
    imported = Resource(
        "v1:ConfigMap:shop:shared",
        KUBERNETES,
        configmap({"REGION": "eu"}) | {"metadata": {"name": "shared", "namespace": "shop"}},
        (NS,),
        {EXT_IMPORT_ID: "shop/shared"},
    )
    prior = State.of(
        [
            k8s(NS, namespace()),
            k8s(DEPLOY, deployment(), [NS]),
            k8s(SVC, service(), [NS, DEPLOY]),
            imported,
        ]
    )
    live = {
        NS: served(namespace(), 1),
        DEPLOY: served(deployment(), 2),
        imported.id: served(dict(imported.attributes), 5),
    }  # the Service is already gone
    cs = preview(
        Spec(), prior, {KUBERNETES: DictRuntime(live)}, project="shop", stack="dev", workspace="dev"
    )
    return cs, _stack(cs)


def scenario_unchanged() -> tuple[ChangeSet, list[StackOutcome]]:
    spec, prior, live = _mixed_world()
    spec = Spec(tuple(r for r in prior.resources if r.id != CM))
    k8s_live = {k: v for k, v in live["k8s"].items() if k != CM}
    k8s_live[DEPLOY] = served(deployment(), 2)
    runtimes = {KUBERNETES: DictRuntime(k8s_live), TERRAFORM: DictRuntime(live["tf"])}
    prior = State.of([r for r in prior.resources if r.id != CM])
    cs = preview(spec, prior, runtimes, project="shop", stack="dev", workspace="dev")
    return cs, _stack(cs)


def scenario_secrets() -> tuple[ChangeSet, list[StackOutcome]]:
    old_data = {"username": "YWRtaW4=", "password": "b2xkLXBhc3N3b3Jk"}
    new_data = {
        "username": "YWRtaW4=",
        "password": "bmV3LXBhc3N3b3Jk",
        "api-key": "dG9rXzlmOGU3ZDZjNWI0YQ==",
    }
    prior = State.of(
        [
            k8s(SECRET, secret(old_data)),
            k8s(CM, configmap({"DATABASE_URL": "postgres://app:s3cr3t-db-pa55word@db:5432/shop"})),
            tf(
                PASSWORD,
                {"length": 16, "special": True},
                provider="registry.terraform.io/hashicorp/random/3.6.0",
            ),
        ]
    )
    live_secret = served(secret(old_data), 1)
    live_secret["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"b2xkLXBhc3N3b3Jk"}}'
    }
    k8s_live = {
        SECRET: live_secret,
        CM: served(
            configmap({"DATABASE_URL": "postgres://app:s3cr3t-db-pa55word@db:5432/shop"}), 2
        ),
    }
    tf_live = {
        PASSWORD: {"id": "none", "length": 16, "special": True, "result": "Xq3!vT9#pL2@wR7z"}
    }
    spec = Spec(
        (
            k8s(SECRET, secret(new_data)),
            k8s(
                CM,
                configmap(
                    {
                        "DATABASE_URL": "postgres://app:s3cr3t-db-pa55word@db-2:5432/shop",
                        "API_TOKEN": "tok_9f8e7d6c5b4a",
                    }
                ),
            ),
            tf(
                PASSWORD,
                {"length": 24, "special": True},
                provider="registry.terraform.io/hashicorp/random/3.6.0",
            ),
        )
    )
    tf_runtime = DictRuntime(tf_live, sensitive={PASSWORD: {"result": True}})
    runtimes = {KUBERNETES: DictRuntime(k8s_live), TERRAFORM: tf_runtime}
    cs = preview(spec, prior, runtimes, project="shop", stack="dev", workspace="dev")
    return cs, _stack(cs)


def scenario_huge() -> tuple[ChangeSet, list[StackOutcome]]:
    old = {f"key-{i:04d}": f"value {i} " + "x" * 40 for i in range(400)}
    new = {k: (v.replace("x", "y") if i % 3 == 0 else v) for i, (k, v) in enumerate(old.items())}
    new.update({f"extra-{i:04d}": "z" * 60 for i in range(600)})
    services = [
        k8s(
            f"v1:Service:shop:svc-{i:03d}",
            service() | {"metadata": {"name": f"svc-{i:03d}", "namespace": "shop"}},
            [NS],
        )
        for i in range(40)
    ]
    prior = State.of([k8s(NS, namespace()), k8s(CM, configmap(old), [NS])])
    live = {NS: served(namespace(), 1), CM: served(configmap(old), 2)}
    spec = Spec((k8s(NS, namespace()), k8s(CM, configmap(new), [NS]), *services))
    cs = preview(
        spec, prior, {KUBERNETES: DictRuntime(live)}, project="shop", stack="dev", workspace="dev"
    )
    return cs, _stack(cs)


def scenario_replace() -> tuple[ChangeSet, list[StackOutcome]]:
    """A Terraform change that cannot be made in place (Terraform's -/+), beside an update."""
    spec, prior, live = _mixed_world()
    seed = "hashicorp:null:null_resource:seed"
    prior = State.of([*prior.resources, tf(seed, {"triggers": {"build": "41"}})])
    tf_live = {**live["tf"], seed: {"id": "3305913211812470105", "triggers": {"build": "41"}}}
    spec = Spec((*(r for r in spec.resources if r.id != ING), tf(seed, {"triggers": {"build": "41"}}),
                 k8s(CM, configmap({"LEGACY": "1"}), [NS])))
    runtimes = {
        KUBERNETES: DictRuntime(live["k8s"]),
        # A tainted seed is replaced though nothing of it changed: no attribute forces it.
        TERRAFORM: DictRuntime(tf_live, replaces={NULL: [["triggers"]], seed: []}),
    }
    cs = preview(spec, prior, runtimes, ignore_fields=["metadata.annotations.deployment\\.kubernetes\\.io/revision"],
                 project="shop", stack="dev", workspace="dev")
    return cs, _stack(cs)


def _services(n: int, changed: Sequence[int] = ()) -> tuple[list[Resource], dict[str, JSON]]:
    """`n` Services of a large stack (and their live objects); those in `changed` get a new port."""
    spec, live = [], {}
    for i in range(n):
        rid = f"v1:Service:shop:svc-{i:03d}"
        obj = service() | {"metadata": {"name": f"svc-{i:03d}", "namespace": "shop"}}
        live[rid] = served(obj, i + 10)
        if i in changed:
            obj = obj | {"spec": {**obj["spec"], "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}}
        spec.append(kube(rid, obj, [NS]))
    return spec, live


def scenario_compact() -> tuple[ChangeSet, list[StackOutcome]]:
    """A stack of hundreds of resources with a few changes: counts per kind, changes only."""
    services, live = _services(240, changed=(7, 150))
    maps = [kube(f"v1:ConfigMap:shop:cfg-{i:02d}", configmap({"N": str(i)}) | {"metadata": {
        "name": f"cfg-{i:02d}", "namespace": "shop"}}, [NS]) for i in range(40)]
    live.update({m.id: served(dict(m.attributes), 300 + i) for i, m in enumerate(maps)})
    live[NS] = served(namespace(), 1)
    gone = kube(CM, configmap({"LEGACY": "1"}), [NS])
    live[CM] = served(configmap({"LEGACY": "1"}), 2)
    spec = Spec((kube(NS, namespace()), *services, *maps, kube(ING, ingress(), [NS])))
    prior = State.of([*(r for r in spec.resources if r.id != ING), gone])
    cs = preview(spec, prior, {KUBERNETES: DictRuntime(live)}, project="shop", stack="dev", workspace="dev")
    return cs, _stack(cs)


def scenario_large() -> tuple[ChangeSet, list[StackOutcome]]:
    """A large stack whose diffs alone are longer than a comment: they are left out, so the
    preview stays one comment."""
    services, live = _services(200, changed=range(0, 200, 2))
    old = {f"key-{i:02d}": "x" * 50 for i in range(30)}
    big = [kube(f"v1:ConfigMap:shop:big-{i:02d}", configmap({k: v.replace("x", "y") for k, v in old.items()}) | {
        "metadata": {"name": f"big-{i:02d}", "namespace": "shop"}}, [NS]) for i in range(40)]
    live.update({b.id: served(configmap(old) | {"metadata": {"name": b.id.rsplit(":", 1)[1], "namespace": "shop"}},
                               400 + i) for i, b in enumerate(big)})
    live[NS] = served(namespace(), 1)
    spec = Spec((kube(NS, namespace()), *services, *big))
    cs = preview(spec, State.of(spec.resources), {KUBERNETES: DictRuntime(live)},
                 project="shop", stack="dev", workspace="dev")
    return cs, _stack(cs)


SCENARIOS: dict[str, Callable[[], tuple[ChangeSet, list[StackOutcome]]]] = {
    "create-only": scenario_create_only,
    "mixed": scenario_mixed,
    "delete": scenario_delete,
    "unchanged": scenario_unchanged,
    "secrets": scenario_secrets,
    "huge": scenario_huge,
    "replace": scenario_replace,
}
# Large stacks: only their comment has a golden file (their Kusion JSON and terminal text are
# those of any stack, only longer).
LARGE: dict[str, Callable[[], tuple[ChangeSet, list[StackOutcome]]]] = {
    "compact": scenario_compact,
    "large": scenario_large,
}


def renderings(name: str) -> dict[str, str]:
    cs, stacks = {**SCENARIOS, **LARGE}[name]()
    parts = render.markdown(stacks, key="pr-42", meta={"sha": "0123abc"}, commit="0123abc4567", secrets=WORKSPACE_SECRETS)
    return {
        "txt": render.text(cs, secrets=WORKSPACE_SECRETS),
        "json": render.json(cs, secrets=WORKSPACE_SECRETS),
        "md": PART_BREAK.join(parts) + "\n",
    }


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden(name: str) -> None:
    for ext, text in renderings(name).items():
        assert_golden(GOLDEN / f"{name}.{ext}", text)


@pytest.mark.parametrize("name", sorted(LARGE))
def test_golden_large_stack_comment(name: str) -> None:
    assert_golden(GOLDEN / f"{name}.md", renderings(name)["md"])


def test_scenarios_show_what_they_claim() -> None:
    actions = {name: {s.id: s.action for s in fn()[0].steps} for name, fn in SCENARIOS.items()}
    assert set(actions["create-only"].values()) == {Action.CREATE}
    assert actions["mixed"] == {
        NS: Action.UNCHANGED,
        DEPLOY: Action.UPDATE,
        SVC: Action.UNCHANGED,  # live ports in another order
        ING: Action.CREATE,
        NULL: Action.UPDATE,
        CM: Action.DELETE,
    }
    assert actions["delete"][SVC] is Action.DELETE  # gone live, still removed from state
    assert actions["delete"]["v1:ConfigMap:shop:shared"] is Action.UNCHANGED  # imported
    assert set(actions["unchanged"].values()) == {Action.UNCHANGED}
    assert set(actions["secrets"].values()) == {Action.UPDATE}


def test_huge_comment_is_split_within_githubs_limit() -> None:
    cs, stacks = scenario_huge()
    parts = render.markdown(stacks, key="pr-42")
    assert len(parts) >= 2
    for i, part in enumerate(parts, 1):
        assert len(part) <= split.GITHUB_LIMIT
        marker = render.parse_marker(part)
        assert marker is not None and marker.get("key") == "pr-42"
        assert marker.get("part") == f"{i}/{len(parts)}"
        assert f"**Part {i} of {len(parts)}**" in part
        assert part.count("<details") == part.count("</details>")


def test_secrets_never_appear_in_any_rendering() -> None:
    clear = [
        "b2xkLXBhc3N3b3Jk",
        "bmV3LXBhc3N3b3Jk",
        "dG9rXzlmOGU3ZDZjNWI0YQ==",
        "Xq3!vT9#pL2@wR7z",
        *WORKSPACE_SECRETS,
    ]
    for ext, text in renderings("secrets").items():
        for value in clear:
            assert value not in text, f"{value!r} leaked into the {ext} rendering"
    text = renderings("secrets")["txt"]
    assert "(sensitive value, changed)" in text  # the password changed: shown, not revealed
    assert "@@ data.username @@" not in text  # unchanged secret values are no change


def test_colour_only_when_asked() -> None:
    cs, _ = scenario_mixed()
    plain = render.text(cs)
    coloured = render.text(cs, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[32mCreate\x1b[0m" in coloured and "\x1b[31m- " in coloured
    assert coloured.replace("\x1b[0m", "").count("\x1b[") > 10


def test_summary_only_without_detail() -> None:
    cs, _ = scenario_mixed()
    short = render.text(cs, detail=False)
    assert "@@" not in short and "ID: " not in short
    assert "1 to create, 2 to update, 1 to delete, 2 unchanged" in short
