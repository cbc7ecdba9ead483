"""Config parsing: shipmate.yaml, workspaces (Kusion's rules), project/stack, main.yaml, layout."""

from __future__ import annotations

import pytest

from bot.core.affected import StackRef
from bot.core.config import (
    ConfigSnapshot,
    list_stacks,
    load_stack,
    parse_app_configurations,
    parse_project,
    parse_settings,
    parse_stack,
    parse_workspace,
    resolve_namespace,
)
from bot.core.config.snapshot import normalize
from bot.core.errors import ConfigError
from bot.core.yamlio import dump_yaml, format_path, load


def problems(fn: object, *args: object) -> list[str]:
    with pytest.raises(ConfigError) as err:
        fn(*args)  # type: ignore[operator]
    return str(err.value).splitlines()


# --- shipmate.yaml ---------------------------------------------------------------------------


def test_settings_defaults_when_absent_or_empty() -> None:
    for text in (None, "", "{}\n"):
        s = parse_settings("shipmate.yaml", text)
        assert s.backend.branch == "shipmate-state"
        assert s.apply == "both" and s.apply_on_merge and s.apply_on_comment
        assert s.requirements.apply == ()
        assert (s.permissions.apply, s.permissions.destroy) == ("write", "maintain")
        assert s.drift.schedule is None and s.drift.issues is True and s.drift.pull_requests is True
        assert s.concurrency == 10 and s.draft_previews is False


def test_settings_values_and_secret_context_keys() -> None:
    s = parse_settings("shipmate.yaml", (
        "backend: {branch: state}\napply: on-comment\nrequirements: {apply: [approved, mergeable]}\n"
        "permissions: {apply: maintain, destroy: admin}\ndrift: {schedule: '@daily'}\n"
        "concurrency: 4\ndraftPreviews: true\n"
        "secrets: {contextKeys: [KUBECONFIG_CONTENT]}\n"
    ))
    assert s.backend.branch == "state" and not s.apply_on_merge and s.apply_on_comment
    assert s.rules().requirements == ("approved", "mergeable")
    assert s.rules().apply_permission == "maintain" and s.rules().destroy_permission == "admin"
    assert s.drift.schedule == "@daily"
    assert s.concurrency == 4 and s.draft_previews
    assert parse_settings("shipmate.yaml", "drift: {issues: false}\n").drift.issues is False
    assert parse_settings("shipmate.yaml", "drift: {pullRequests: false}\n").drift.pull_requests is False
    queue = parse_settings("shipmate.yaml", "lockQueue: {merges: false, expiry: 90m}\n").lock_queue
    assert (queue.merges, queue.expiry_seconds) == (False, 5400)
    assert (s.lock_queue.merges, s.lock_queue.expiry_seconds) == (True, 86400)
    assert problems(parse_settings, "shipmate.yaml", "lockQueue:\n  expiry: 200h\n") == [
        "shipmate.yaml:2:11: lockQueue.expiry: expected a duration from 1m to 168h such as 30m or 24h, got '200h'"]
    assert problems(parse_settings, "shipmate.yaml", "drift:\n  pullRequest: no\n") == [
        "shipmate.yaml:2:3: drift.pullRequest: unknown field 'pullRequest' (did you mean 'pullRequests'?); "
        "expected one of: issues, pullRequests, schedule"]
    assert problems(parse_settings, "shipmate.yaml", "drift:\n  issues: maybe\n") == [
        "shipmate.yaml:2:11: drift.issues: expected a boolean (true or false), got a string ('maybe')"]
    for key in ("KUBECONFIG_CONTENT", "GITHUB_TOKEN", "db_password", "AWS_SECRET_ACCESS_KEY", "ACCESS_KEY"):
        assert s.is_secret_context_key(key), key
    for key in ("KUBECONFIG_PATH", "AWS_REGION", "environment"):
        assert not s.is_secret_context_key(key), key


def test_settings_problems_are_collected_with_positions() -> None:
    assert problems(parse_settings, "shipmate.yaml", "backend:\n  branch: 'a b'\n  bogus: 1\npoll: {interval_seconds: 1}\n") == [
        "shipmate.yaml:2:11: backend.branch: expected a git branch name, got 'a b'",
        "shipmate.yaml:3:3: backend.bogus: unknown field 'bogus'; expected one of: branch",
        "shipmate.yaml:4:1: poll: unknown field 'poll'; expected one of: apply, backend, branches, concurrency, "
        "draftPreviews, drift, generate, lockQueue, permissions, requirements, rollout, secrets",
    ]
    assert problems(parse_settings, "shipmate.yaml", "- a\n") == [
        "shipmate.yaml:1:1: expected a mapping, got a list"]


# --- workspaces ------------------------------------------------------------------------------

WS = """\
modules:
  service:
    path: oci://ghcr.io/kusionstack/service
    version: 0.2.0
    configs:
      default: {replicas: 1, labels: {env: dev}}
      big: {replicas: 3, projectSelector: [shop, blog]}
      tagged: {labels: {tier: gold}, projectSelector: [data]}
secretStore:
  provider:
    aws: {region: eu-west-1}
context:
  KUBECONFIG_PATH: /etc/kube
"""


def test_workspace_merge_rule_is_default_overlaid_by_the_selecting_block() -> None:
    ws = parse_workspace("workspaces/dev.yaml", WS, "dev")
    assert ws.name == "dev"
    assert ws.module_configs("shop") == {"service": {"replicas": 3, "labels": {"env": "dev"}}}
    assert ws.module_configs("data") == {"service": {"replicas": 1, "labels": {"tier": "gold"}}}
    assert ws.module_configs("other") == {"service": {"replicas": 1, "labels": {"env": "dev"}}}
    assert ws.modules["service"].path == "oci://ghcr.io/kusionstack/service"
    assert ws.secret_store == {"provider": {"aws": {"region": "eu-west-1"}}}
    assert ws.context == {"KUBECONFIG_PATH": "/etc/kube"}
    assert ws.config_path("service", "shop", "replicas") == ("modules", "service", "configs", "big", "replicas")


def test_workspace_validation_follows_kusion() -> None:
    text = """\
modules:
  svc:
    version: ""
    configs:
      other: null
  web:
  db:
    configs:
      default: {projectSelector: [x]}
      a: {size: 1, projectSelector: []}
secretStore:
  provider: {}
bogus: 1
"""
    assert problems(parse_workspace, "workspaces/w.yaml", text, "w") == [
        "workspaces/w.yaml:3:14: modules.svc.version: expected a non-empty version",
        "workspaces/w.yaml:5:7: modules.svc.configs.other: empty patcher block: expected a mapping with projectSelector and config keys",
        "workspaces/w.yaml:6:3: modules.web: empty module config: expected a mapping with 'configs'",
        "workspaces/w.yaml:9:17: modules.db.configs.default.projectSelector: the default block must not have a projectSelector",
        "workspaces/w.yaml:10:10: modules.db.configs.a: empty projectSelector in patcher block: expected a list of project names",
        "workspaces/w.yaml:12:13: secretStore.provider: invalid secret store: missing provider config; expected one of: aws, vault, azure, alicloud, viettelcloud, fake, onpremises",
        "workspaces/w.yaml:13:1: bogus: unknown field 'bogus'; expected one of: context, modules, secretStore",
    ]


def test_secret_store_provider_requirements() -> None:
    azure = "secretStore:\n  provider:\n    azure: {vaultUrl: https://kv}\n"
    assert problems(parse_workspace, "w.yaml", azure, "w") == [
        "w.yaml:3:12: secretStore.provider.azure: azure secret store needs a non-empty 'tenantId'"]
    unknown = "secretStore:\n  provider:\n    gcp: {}\n"
    assert problems(parse_workspace, "w.yaml", unknown, "w")[0].startswith(
        "w.yaml:3:5: secretStore.provider.gcp: unknown field 'gcp'")


# --- project, stack, main.yaml ---------------------------------------------------------------


def test_project_and_stack_with_namespace_extensions() -> None:
    project = parse_project("shop/project.yaml", (
        "name: shop\nlabels: {team: web}\nextensions:\n  - kind: kubernetesNamespace\n"
        "    kubernetesNamespace: {namespace: shop-ns}\n"), "shop")
    stack = parse_stack("shop/dev/stack.yaml", "name: dev\n", "shop/dev")
    assert stack.workspace == "dev"
    assert resolve_namespace(project, stack) == "shop-ns"
    prod = parse_stack("shop/prod/stack.yaml", (
        "name: prod\nworkspace: production\nextensions:\n  - kind: kubernetesNamespace\n"
        "    kubernetesNamespace: {namespace: shop-prod}\n"), "shop/prod")
    assert prod.workspace == "production"
    assert resolve_namespace(project, prod) == "shop-prod"
    bare = parse_project("p.yaml", "name: blog\n", "blog")
    assert resolve_namespace(bare, stack) == "blog"


def test_project_and_stack_problems() -> None:
    assert problems(parse_project, "p.yaml", "description: x\nextensions:\n  - kind: other\n", "p") == [
        "p.yaml:1:1: missing required field 'name'",
        "p.yaml:3:11: extensions[0].kind: expected one of: kubernetesNamespace, kubernetesMetadata; got a string ('other')",
    ]
    assert problems(parse_stack, "s.yaml", "name: dev\nworkspace: 'a b'\nextensions:\n  - kind: kubernetesNamespace\n    kubernetesNamespace: {namespace: Bad_NS}\n", "s") == [
        "s.yaml:2:12: workspace: expected a workspace name (letters, digits, '-', '_', '.'), got 'a b'",
        "s.yaml:5:38: extensions[0].kubernetesNamespace.namespace: expected a Kubernetes namespace name (lowercase letters, digits and '-'), got 'Bad_NS'",
    ]


def test_app_configurations_sorted_with_workload_optional() -> None:
    apps = parse_app_configurations("main.yaml", (
        "web:\n  workload: {_type: service.Service, containers: {}}\n  labels: {a: b}\n"
        "infra:\n  accessories:\n    z: {_type: terraform.Terraform}\n    a: {_type: network.Network}\n"
        "  _type: app_configuration.AppConfiguration\n")).apps
    assert [a.name for a in apps] == ["infra", "web"]
    assert apps[0].workload is None
    assert [b.name for b in apps[0].blocks()] == ["a", "z"]
    assert apps[1].blocks()[0].module == "service" and apps[1].blocks()[0].schema == "Service"
    assert apps[1].labels == {"a": "b"}


# --- repository layout ---------------------------------------------------------------------


def repo(**files: str) -> ConfigSnapshot:
    return ConfigSnapshot({k.replace("__", "/"): v for k, v in files.items()})


def test_load_stack_finds_project_above_and_reports_problems_of_several_files() -> None:
    snap = repo(**{
        "workspaces__dev.yaml": "modules: {}\n",
        "shop__project.yaml": "name: shop\n",
        "shop__apps__dev__stack.yaml": "name: dev\n",
        "shop__apps__dev__main.yaml": "{}\n",
    })
    cfg = load_stack(snap, "shop/apps/dev")
    assert cfg.project.name == "shop" and cfg.project.path == "shop"
    assert cfg.workspace.name == "dev" and cfg.apps.apps == ()
    broken = snap.merged({"shipmate.yaml": "apply: never\n", "shop/apps/dev/main.yaml": "web: [\n"})
    assert problems(load_stack, broken, "shop/apps/dev") == [
        "shipmate.yaml:1:8: apply: expected one of: both, on-merge, on-comment; got a string ('never')",
        "shop/apps/dev/main.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>' while parsing a flow node",
    ]
    assert problems(load_stack, snap, "shop") == ["shop: not a stack directory: expected stack.yaml here"]


def test_list_stacks_for_affected_mapping() -> None:
    snap = repo(**{
        "shop__project.yaml": "name: shop\n",
        "shop__dev__stack.yaml": "name: dev\n",
        "shop__prod__stack.yaml": "name: prod\nworkspace: production\n",
        "blog__project.yaml": "name: blog\n",
        "blog__dev__stack.yaml": "name: [\n",
        "stray__stack.yaml": "name: x\n",
    })
    assert list_stacks(snap) == (
        StackRef("blog/dev", "blog", "dev", "dev"),
        StackRef("shop/dev", "shop", "dev", "dev"),
        StackRef("shop/prod", "shop", "prod", "production"),
    )


def test_snapshot_paths_stay_inside_the_repository() -> None:
    assert normalize("./a/../b/") == "b" and normalize("/x/y") == "x/y" and normalize(".") == ""
    with pytest.raises(ValueError):
        normalize("../etc/passwd")
    snap = ConfigSnapshot({"a/b.yaml": "x", "a/c/d.yaml": "y"})
    assert snap.is_dir("a") and snap.under("a/c") == ["a/c/d.yaml"] and snap.read("./a/b.yaml") == "x"


# --- yamlio ----------------------------------------------------------------------------------


def test_dump_yaml_quotes_only_what_needs_quoting_and_round_trips() -> None:
    data = {
        "plain": "nginx:1.25", "id": "v1:Namespace:shop", "ref": "$kusion_path.a:b.c", "num": "8080",
        "bool": "yes", "null": "null", "colon": "a: b", "hash": "a #b", "dash": "-c", "empty": "",
        "multi": "line1\nline2", "float": 1.5, "exp": 1e-07, "int": 3, "t": True, "n": None,
        "list": [{"a": 1, "b": [1, 2]}, [3, 4], []], "map": {}, "unicode": "grüße", 5: "int key",
    }
    text = dump_yaml(data)
    assert "plain: nginx:1.25\n" in text and "id: v1:Namespace:shop\n" in text
    assert 'num: "8080"\n' in text and 'bool: "yes"\n' in text and 'dash: "-c"\n' in text
    assert load("x.yaml", text).data == {**data, "exp": 1e-07}
    import yaml

    assert yaml.safe_load(text) == data


def test_format_path_quotes_odd_keys() -> None:
    assert format_path(("a", 0, "app.kubernetes.io/name", "b c")) == 'a[0]["app.kubernetes.io/name"]["b c"]'
