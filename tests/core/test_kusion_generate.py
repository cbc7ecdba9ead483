"""Generate against Kusion: its own examples, rendered as Kusion renders them, give the Spec
Kusion's generators give (golden Specs under fixtures/golden/specs/kusion)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import graph
from bot.core.config.checks import Checker
from bot.core.config.repo import load_stack
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.generate import generate_stack, render_spec
from bot.core.modules.builtins.workload import _handler
from tests.core.test_generate import small_repo, snapshot_of
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
KUSION = ROOT / "fixtures" / "configs" / "kusion"
GOLDEN = ROOT / "fixtures" / "golden" / "specs" / "kusion"
STACKS = ("quickstart/default", "quickstart/prod", "catalog/dev")


@pytest.mark.parametrize("stack", STACKS)
def test_kusion_shaped_stacks_match_golden_specs(stack: str) -> None:
    spec = generate_stack(snapshot_of(KUSION), stack)
    assert_golden(GOLDEN / f"{stack.replace('/', '-')}.yaml", render_spec(spec))


def test_raw_kcl_render_with_type_paths_everywhere_is_accepted() -> None:
    spec = generate_stack(snapshot_of(KUSION), "quickstart/default").by_id()
    deployment = spec["apps/v1:Deployment:quickstart:quickstart-default-quickstart"].attributes
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"] == {"exec": {"command": ["/bin/sh", "-c", "sleep 5"]}}
    assert "_type" not in render_spec(generate_stack(snapshot_of(KUSION), "quickstart/default"))
    assert "v1:Secret:quickstart:db" in spec


def test_namespaces_labels_and_terraform_only_apps_follow_kusion_by_default() -> None:
    ids = set(generate_stack(snapshot_of(KUSION), "quickstart/prod").by_id())
    assert {
        "v1:Namespace:quickstart-prod",  # the Namespace and the Secrets follow the extension
        "v1:Secret:quickstart-prod:db",
        "apps/v1:Deployment:quickstart:quickstart-prod-quickstart",  # modules use the project name
        "v1:Service:quickstart:quickstart-prod-quickstart-private",
        "hashicorp:null:null_resource:release",
    } == ids
    spec = generate_stack(snapshot_of(KUSION), "quickstart/prod").by_id()
    labels = spec["apps/v1:Deployment:quickstart:quickstart-prod-quickstart"].attributes["metadata"]["labels"]
    assert "team" not in labels


def with_settings(text: str) -> ConfigSnapshot:
    files = {p.relative_to(KUSION).as_posix(): p.read_text() for p in KUSION.rglob("*") if p.is_file()}
    return ConfigSnapshot({**files, "shipmate.yaml": text})


def test_shipmate_choices_put_everything_in_the_extension_namespace_and_apply_app_metadata() -> None:
    settings = "generate: {namespace: extension, terraformOnlyNamespace: false, appMetadata: apply}\n"
    spec = generate_stack(with_settings(settings), "quickstart/prod").by_id()
    deployment = spec["apps/v1:Deployment:quickstart-prod:quickstart-prod-quickstart"].attributes
    assert deployment["metadata"]["labels"]["team"] == "quickstart"
    assert deployment["metadata"]["annotations"] == {"owner": "platform"}
    assert "v1:Service:quickstart-prod:quickstart-prod-quickstart-private" in spec
    only_terraform = with_settings(settings)
    files = dict(only_terraform.files)
    main = files["quickstart/prod/main.yaml"]
    files["quickstart/prod/main.yaml"] = main[main.index("marker:"):]
    assert [r.id for r in generate_stack(ConfigSnapshot(files), "quickstart/prod").resources] == [
        "hashicorp:null:null_resource:release"
    ]


def test_generate_settings_are_checked() -> None:
    with pytest.raises(ConfigError) as err:
        generate_stack(with_settings("generate: {namespace: project, appMetadata: yes}\n"), "quickstart/prod")
    assert str(err.value).splitlines() == [
        "shipmate.yaml:1:23: generate.namespace: expected one of: kusion, extension; got a string ('project')",
        "shipmate.yaml:1:45: generate.appMetadata: expected one of: ignore, apply; got a string ('yes')",
    ]


def test_manifest_paths_from_neither_place_or_a_missing_workspace_path_are_located() -> None:
    main = "web:\n  accessories:\n    manifests: {_type: k8s_manifest.K8sManifest}\n"
    with pytest.raises(ConfigError) as err:
        generate_stack(small_repo(main), "shop/dev")
    assert str(err.value) == ("shop/dev/main.yaml:3:16: web.accessories.manifests: paths must be specified, "
                              "here or in the workspace's k8s_manifest config")
    workspace = "modules:\n  k8s_manifest:\n    configs:\n      default:\n        paths: [a.yaml, nowhere]\n"
    repo = small_repo(main, workspace)
    with pytest.raises(ConfigError) as err:
        generate_stack(ConfigSnapshot({**repo.files, "shop/dev/a.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                       "metadata: {name: a, namespace: shop}\n"}), "shop/dev")
    assert str(err.value) == ("workspaces/dev.yaml:5:25: modules.k8s_manifest.configs.default.paths[1]: "
                              "no such file or directory: 'nowhere' (looked for shop/dev/nowhere)")


def test_unknown_project_and_stack_keys_are_ignored_with_located_warnings() -> None:
    files = {
        **small_repo("app: {}\n").files,
        "shop/project.yaml": "name: shop\ngenerator:\n  type: AppConfiguration\n",
        "shop/dev/stack.yaml": "name: dev\npath: shop/dev\n",
    }
    config = load_stack(ConfigSnapshot(files), "shop/dev")
    assert [str(w) for w in config.warnings] == [
        "shop/project.yaml:2:1: generator: ignored unknown field 'generator'; "
        "expected one of: description, extensions, labels, name",
        "shop/dev/stack.yaml:2:1: path: ignored unknown field 'path'; "
        "expected one of: backend, dependsOn, description, extensions, labels, name, workspace",
    ]
    assert load_stack(snapshot_of(KUSION), "quickstart/prod").warnings == ()


def test_two_accessories_of_one_module_each_generate() -> None:
    main = ("web:\n  workload:\n    _type: service.Service\n    containers: {web: {image: nginx}}\n"
            "  accessories:\n"
            "    api: {_type: network.Network, ports: [{port: 80}]}\n"
            "    admin: {_type: network.Network, ports: [{port: 9090, public: true}]}\n")
    ids = [r.id for r in generate_stack(small_repo(main), "shop/dev").resources]
    assert "v1:Service:shop:shop-dev-web-private" in ids and "v1:Service:shop:shop-dev-web-public" in ids


@given(st.sets(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), max_size=6),
       st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[A-Za-z][A-Za-z0-9_]{0,8}){1,4}", fullmatch=True))
def test_property_type_paths_are_known_wherever_fields_are_checked(allowed: set[str], type_path: str) -> None:
    data = {**{key: 1 for key in allowed}, "_type": type_path}
    kcl = Checker()
    kcl.fields(data, ("x",), sorted(allowed))
    assert kcl.ok
    strict = Checker(type_paths=False)
    strict.fields(data, ("x",), sorted(allowed))
    assert [p.path for p in strict.problems] == [("x", "_type")]
    assert "_type" not in strict.problems[0].message.split("expected one of:")[1]


@given(st.from_regex(r"([a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2})?", fullmatch=True),
       st.integers(min_value=1, max_value=65535))
def test_property_tcp_handlers_written_host_port_keep_host_and_port(host: str, port: int) -> None:
    c = Checker()
    handler = {"_type": "service.container.probe.Tcp", "url": f"{host}:{port}"}
    got = _handler(c, handler, ("probeHandler",))
    assert c.ok
    assert got == {"tcpSocket": {"port": port, **({"host": host} if host else {})}}


EXACT = ROOT / "fixtures" / "golden" / "specs" / "kusion-exact"


@pytest.mark.parametrize(("repo", "stack"), [
    ("acme", "shop/dev"), ("acme", "data/prod"),
    ("kusion", "catalog/dev"), ("kusion", "quickstart/default"), ("kusion", "quickstart/prod"),
])
def test_kusion_exact_prints_kusions_literal_depends_on_lists(repo: str, stack: str) -> None:
    """`--kusion-exact` prints every Kubernetes resource's kind-order edges in its dependsOn, as
    Kusion does; the golden files are what generate printed before the Spec said `kindOrder`."""
    spec = generate_stack(snapshot_of(ROOT / "fixtures" / "configs" / repo), stack, kusion_exact=True)
    assert_golden(EXACT / f"{repo}-{stack.replace('/', '-')}.yaml", render_spec(spec))
    assert spec.kind_order == ()


@pytest.mark.parametrize(("repo", "stack"), [("acme", "shop/dev"), ("kusion", "catalog/dev"), ("kusion", "quickstart/prod")])
def test_kind_order_in_linear_form_is_the_partial_order_of_kusions_lists(repo: str, stack: str) -> None:
    """The Spec's `kindOrder` and its short dependsOn lists say exactly what Kusion's literal
    lists say: expanded, each resource depends on the same resources."""
    snapshot = snapshot_of(ROOT / "fixtures" / "configs" / repo)
    linear = generate_stack(snapshot, stack)
    exact = generate_stack(snapshot, stack, kusion_exact=True)
    assert [r.id for r in linear.resources] == [r.id for r in exact.resources]
    edges = graph.expanded(graph.resource_edges(linear.resources, linear.kind_order))
    assert {i: set(d) for i, d in edges.items()} == {r.id: set(r.depends_on) for r in exact.resources}
    assert sum(map(len, (r.depends_on for r in linear.resources))) < sum(map(len, (r.depends_on for r in exact.resources)))
