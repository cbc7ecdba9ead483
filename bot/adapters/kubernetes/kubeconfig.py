"""Where the Kubernetes credentials come from: workspace context, KUBECONFIG, in-cluster.

Resolution order (Kusion's, with in-cluster config for the bot running as a pod):

1. `context.KUBECONFIG_CONTENT`: a kubeconfig as a YAML string (or an already parsed mapping);
2. `context.KUBECONFIG_PATH`: a kubeconfig file; `~` and `$HOME` are expanded to the
   settings' home, relative paths are taken from `base_dir` (the config repository);
3. `KUBECONFIG` (a `:`-separated list of files, merged as kubectl does);
4. in-cluster config when `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` are set;
5. `$HOME/.kube/config` when it exists.

`context.kubeContext` (or `KUBECONFIG_CONTEXT`) selects a context other than the file's
`current-context`. Nothing here reads the environment: `KUBECONFIG`, the in-cluster service
and `HOME` come from Shipmate's settings (`bot.settings.KubernetesOptions`, read once by
`Settings.from_env`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)
from kubernetes.config.kube_config import load_kube_config, load_kube_config_from_dict

from bot.core.errors import ConfigError, Problem, RuntimeFailed
from bot.core.yamlio import load_data
from bot.settings import KubernetesOptions

CONTENT_KEY = "KUBECONFIG_CONTENT"
PATH_KEY = "KUBECONFIG_PATH"
CONTEXT_KEYS = ("kubeContext", "KUBECONFIG_CONTEXT")


@dataclass(frozen=True, slots=True)
class Source:
    """Which kubeconfig was used, for messages and logs (never the credentials themselves)."""

    kind: str  # "context-content" | "context-path" | "env" | "in-cluster" | "home"
    where: str
    context_name: str | None = None

    def __str__(self) -> str:
        name = f" (context {self.context_name})" if self.context_name else ""
        return f"{self.where}{name}"


def _bad(field: str, message: str) -> ConfigError:
    return ConfigError([Problem("", 0, 0, f"context.{field}", message)])


def _expand(path: str, home: str, base_dir: Path | None) -> Path:
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    path = re.sub(r"\$\{HOME\}|\$HOME\b", lambda _m: home, path)
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p


def _context_name(context: Mapping[str, Any]) -> str | None:
    for key in CONTEXT_KEYS:
        value = context.get(key)
        if value:
            return str(value)
    return None


def load(
    context: Mapping[str, Any],
    options: KubernetesOptions,
    *,
    base_dir: Path | None = None,
    temp_dir: Path | None = None,
) -> tuple[Configuration, Source]:
    """A fresh client `Configuration` for the workspace, and where it came from."""
    cfg: Configuration = type.__call__(Configuration)
    name = _context_name(context)
    temp = str(temp_dir) if temp_dir is not None else None

    content = context.get(CONTENT_KEY)
    if content:
        if isinstance(content, str):
            try:
                parsed = load_data("", content, invalid="not valid YAML")
            except ConfigError as exc:
                first = exc.problems[0]
                raise _bad(CONTENT_KEY, f"{first.message} (line {first.line}, column {first.column})") from None
        else:
            parsed = content
        if not isinstance(parsed, Mapping):
            raise _bad(CONTENT_KEY, "must be a kubeconfig document (a YAML mapping)")
        source = Source("context-content", f"context.{CONTENT_KEY}", name)
        try:
            load_kube_config_from_dict(
                dict(parsed), context=name, client_configuration=cfg,
                persist_config=False, temp_file_path=temp,
            )
        except (ConfigException, KeyError, TypeError, ValueError) as exc:
            raise _bad(CONTENT_KEY, f"invalid kubeconfig: {exc}") from None
        return cfg, source

    raw_path = context.get(PATH_KEY)
    if raw_path:
        path = _expand(str(raw_path), options.home or "", base_dir)
        if not path.is_file():
            raise _bad(PATH_KEY, f"kubeconfig file {path} does not exist")
        source = Source("context-path", str(path), name)
        _load_file(cfg, str(path), name, temp, field=PATH_KEY)
        return cfg, source

    env_path = options.kubeconfig or ""
    if env_path.strip():
        source = Source("env", f"KUBECONFIG={env_path}", name)
        _load_file(cfg, env_path, name, temp, field=None)
        return cfg, source

    if options.service_host and options.service_port:
        service = {"KUBERNETES_SERVICE_HOST": options.service_host, "KUBERNETES_SERVICE_PORT": options.service_port}
        try:
            InClusterConfigLoader(
                token_filename=SERVICE_TOKEN_FILENAME,
                cert_filename=SERVICE_CERT_FILENAME,
                environ=service,
            ).load_and_set(cfg)
        except ConfigException as exc:
            raise RuntimeFailed(f"in-cluster Kubernetes config: {exc}") from None
        return cfg, Source("in-cluster", "in-cluster service account")

    home = options.home
    if home and (Path(home) / ".kube" / "config").is_file():
        home_config = str(Path(home) / ".kube" / "config")
        _load_file(cfg, home_config, name, temp, field=None)
        return cfg, Source("home", home_config, name)

    raise RuntimeFailed(
        "no Kubernetes credentials: set KUBECONFIG_PATH or KUBECONFIG_CONTENT in the workspace "
        "context, set KUBECONFIG, or run inside a cluster"
    )


def _load_file(
    cfg: Configuration, path: str, name: str | None, temp: str | None, *, field: str | None
) -> None:
    try:
        if field:  # named by a workspace, maybe a file in the checkout: the client's own
            load_data(path, Path(path).read_text(encoding="utf-8"))  # parse has no limits
        load_kube_config(
            config_file=path, context=name, client_configuration=cfg,
            persist_config=False, temp_file_path=temp,
        )
    except (ConfigException, ConfigError, OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        message = f"invalid kubeconfig {path}: {exc}"
        if field:
            raise _bad(field, message) from None
        raise RuntimeFailed(message) from None
