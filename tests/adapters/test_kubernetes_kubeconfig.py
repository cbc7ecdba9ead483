"""Where the Kubernetes runtime takes its credentials from: context content/path, KUBECONFIG, in-cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.kubernetes import KubernetesRuntime, kubeconfig
from bot.core.errors import ConfigError, RuntimeFailed
from bot.settings import KubernetesOptions, Settings


def opts(env: dict[str, str]) -> KubernetesOptions:
    """What `Settings` reads from `env` for the Kubernetes runtime (KUBECONFIG, in-cluster, HOME)."""
    return Settings.from_env(env).kubernetes


def kubeconfig_doc(*servers: tuple[str, str], current: str | None = None) -> dict[str, Any]:
    """A kubeconfig with one cluster/context/user per (name, server)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current or servers[0][0],
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers],
        "users": [{"name": n, "user": {"token": f"token-{n}"}} for n, _ in servers],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n, _ in servers],
    }


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_content_from_context_as_string_and_mapping(tmp_path: Path) -> None:
    doc = kubeconfig_doc(("a", "http://127.0.0.1:7001"))
    cfg, source = kubeconfig.load({"KUBECONFIG_CONTENT": yaml.safe_dump(doc)}, opts({}))
    assert cfg.host == "http://127.0.0.1:7001"
    assert cfg.api_key == {"BearerToken": "Bearer token-a"}
    assert source.kind == "context-content"
    cfg, _ = kubeconfig.load({"KUBECONFIG_CONTENT": doc}, opts({}))
    assert cfg.host == "http://127.0.0.1:7001"


def test_content_wins_over_path_and_env(tmp_path: Path) -> None:
    path = write(tmp_path / "kc.yaml", kubeconfig_doc(("p", "http://127.0.0.1:7002")))
    env_file = write(tmp_path / "env.yaml", kubeconfig_doc(("e", "http://127.0.0.1:7003")))
    content = yaml.safe_dump(kubeconfig_doc(("c", "http://127.0.0.1:7001")))
    env = {"KUBECONFIG": str(env_file)}
    both = {"KUBECONFIG_CONTENT": content, "KUBECONFIG_PATH": str(path)}
    assert kubeconfig.load(both, opts(env))[0].host == "http://127.0.0.1:7001"
    assert kubeconfig.load({"KUBECONFIG_PATH": str(path)}, opts(env))[0].host == "http://127.0.0.1:7002"
    cfg, source = kubeconfig.load({}, opts(env))
    assert cfg.host == "http://127.0.0.1:7003" and source.kind == "env"


def test_path_expands_home_from_env_and_relative_to_base_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / "kube" / "dev.yaml", kubeconfig_doc(("d", "http://127.0.0.1:7004")))
    for raw in ("~/kube/dev.yaml", "$HOME/kube/dev.yaml", "${HOME}/kube/dev.yaml"):
        cfg, source = kubeconfig.load({"KUBECONFIG_PATH": raw}, opts({"HOME": str(home)}))
        assert cfg.host == "http://127.0.0.1:7004"
        assert source.where == str(home / "kube" / "dev.yaml")
    repo = tmp_path / "repo"
    write(repo / "clusters" / "dev.yaml", kubeconfig_doc(("r", "http://127.0.0.1:7005")))
    cfg, _ = kubeconfig.load({"KUBECONFIG_PATH": "clusters/dev.yaml"}, opts({}), base_dir=repo)
    assert cfg.host == "http://127.0.0.1:7005"


def test_kube_context_selects_a_context(tmp_path: Path) -> None:
    doc = kubeconfig_doc(("one", "http://127.0.0.1:7001"), ("two", "http://127.0.0.1:7002"))
    path = write(tmp_path / "kc.yaml", doc)
    assert kubeconfig.load({"KUBECONFIG_PATH": str(path)}, opts({}))[0].host.endswith(":7001")
    cfg, source = kubeconfig.load({"KUBECONFIG_PATH": str(path), "kubeContext": "two"}, opts({}))
    assert cfg.host.endswith(":7002") and source.context_name == "two"
    cfg, _ = kubeconfig.load({"KUBECONFIG_CONTENT": doc, "KUBECONFIG_CONTEXT": "two"}, opts({}))
    assert cfg.host.endswith(":7002")
    with pytest.raises(ConfigError, match="context.KUBECONFIG_PATH.*three"):
        kubeconfig.load({"KUBECONFIG_PATH": str(path), "kubeContext": "three"}, opts({}))


def test_env_kubeconfig_list_is_merged(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", kubeconfig_doc(("a", "http://127.0.0.1:7001")))
    second = write(tmp_path / "b.yaml", kubeconfig_doc(("b", "http://127.0.0.1:7002"), current="b"))
    cfg, _ = kubeconfig.load({"kubeContext": "b"}, opts({"KUBECONFIG": f"{first}:{second}"}))
    assert cfg.host == "http://127.0.0.1:7002"


def test_home_kube_config_is_the_last_resort(tmp_path: Path) -> None:
    write(tmp_path / ".kube" / "config", kubeconfig_doc(("h", "http://127.0.0.1:7006")))
    cfg, source = kubeconfig.load({}, opts({"HOME": str(tmp_path)}))
    assert cfg.host == "http://127.0.0.1:7006" and source.kind == "home"


def test_no_credentials_at_all(tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailed, match="no Kubernetes credentials"):
        kubeconfig.load({}, opts({"HOME": str(tmp_path)}))


def test_in_cluster_is_tried_when_the_service_env_is_set(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443",
           "HOME": str(tmp_path)}
    # No service account token is mounted on this machine: a clear error, not a traceback.
    with pytest.raises(RuntimeFailed, match="in-cluster Kubernetes config: .*token"):
        kubeconfig.load({}, opts(env))


def test_bad_input_names_the_context_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="context.KUBECONFIG_CONTENT: not valid YAML"):
        kubeconfig.load({"KUBECONFIG_CONTENT": "a: [b"}, opts({}))
    with pytest.raises(ConfigError, match="context.KUBECONFIG_CONTENT: must be a kubeconfig"):
        kubeconfig.load({"KUBECONFIG_CONTENT": "just a string"}, opts({}))
    with pytest.raises(ConfigError, match=r"context.KUBECONFIG_PATH: kubeconfig file .*nope.yaml does not exist"):
        kubeconfig.load({"KUBECONFIG_PATH": str(tmp_path / "nope.yaml")}, opts({}))


def test_from_context_builds_a_runtime_without_touching_the_network(tmp_path: Path) -> None:
    path = write(tmp_path / "kc.yaml", kubeconfig_doc(("a", "http://127.0.0.1:9")))
    runtime = KubernetesRuntime.from_context(
        {"KUBECONFIG_PATH": str(path)}, opts({}), concurrency=7, scratch_dir=tmp_path / "scratch"
    )
    with runtime:
        assert runtime.host == "http://127.0.0.1:9"
        assert runtime.source == str(path)
        assert runtime.concurrency == 7
    # The scratch dir was given by the caller, so it stays.
    assert (tmp_path / "scratch").is_dir()
