"""The `service` and `job` workload modules (Kusion catalog `service.Service`, `job.Job`).

Both turn `containers` into a pod template. `service.Service` gives a Deployment named
`<project>-<stack>-<app>`; `job.Job` gives a Job, or a CronJob when `schedule` is set. The
pod and the workload carry `app.kubernetes.io/part-of: <project>` and
`app.kubernetes.io/name: <app>`, which are also the selector. Platform config (workspace):
`replicas` (used when the app sets none), `labels` and `annotations` (added where the app has
not set the same key).

Containers take the catalog's fields: `image`, `command`, `args`, `env` (a map, written in
order; `secret://<name>/<key>` and `configmap://<name>/<key>` values become references),
`workingDir`, `resources` (`cpu: 500m` is a limit, `cpu: 250m-500m` a request and a limit),
`files` (content mounted from a generated ConfigMap, or `contentFrom: secret://...`), `dirs`
(a secret mounted as a directory), `readinessProbe`/`livenessProbe`/`startupProbe` and
`lifecycle` (`preStop`/`postStart`) with `Http`, `Exec` or `Tcp` handlers.
"""

from __future__ import annotations

import abc
import posixpath
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.core.config.checks import INT32_MAX, INT64_MAX, PORT_MAX, PORT_MIN, TYPE_KEY, Checker
from bot.core.modules.base import ModuleInputError, ModuleRequest, ModuleResult
from bot.core.modules.kube import k8s_resource, metadata, name_problem
from bot.core.spec import EXT_IS_WORKLOAD, Resource

CONTAINER_FIELDS = (
    "image", "command", "args", "env", "workingDir", "resources", "files", "dirs",
    "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
)
PROBE_FIELDS = (
    "probeHandler", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
    "successThreshold", "failureThreshold", "terminationGracePeriod",
)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]i?|Ki)?$")
_MODE = re.compile(r"^[0-7]{3,4}$")
_REF = re.compile(r"^(?:\$\{)?(secret|configmap)://([^/}]+)/([^/}]+)\}?$")
_SECRET_ENV = re.compile(r"^secret://([^/]+)/([^/]+)$")
_HOST_PORT = re.compile(r"^(\[[^\]]*\]|[^:/\[\]]*):([0-9A-Za-z-]+)$")
COLLASET_API = "apps.kusionstack.io/v1alpha1"
WORKLOAD_TYPES = ("Deployment", "CollaSet")
SPREAD_FIELDS = (
    "maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector", "minDomains",
    "nodeAffinityPolicy", "nodeTaintsPolicy", "matchLabelKeys",
)


def _platform(request: ModuleRequest, check_type: bool) -> tuple[int | None, dict[str, str], dict[str, str]]:
    c = Checker()
    platform = dict(request.platform_config)
    replicas = c.get(platform, "replicas", (), "integer")
    if not c.in_range(replicas, ("replicas",), 0, INT32_MAX):
        replicas = None
    labels = c.get(platform, "labels", (), "string-map", {})
    annotations = c.get(platform, "annotations", (), "string-map", {})
    kind = platform.get("type")
    if check_type and kind is not None and kind not in WORKLOAD_TYPES:
        c.add(("type",), f"unsupported Service type {kind!r}: expected one of: {', '.join(WORKLOAD_TYPES)}")
    if not c.ok:
        raise ModuleInputError(c.problems, platform=True)
    return replicas, labels, annotations


def _spread(c: Checker, raw: Any) -> list[dict[str, Any]]:
    """`topologySpreadConstraints` (a map name → constraint, catalog service/job type.go) as the
    pod's list, by name (Kusion walks the Go map, in no fixed order)."""
    out: list[dict[str, Any]] = []
    constraints = c.mapping(raw, ("topologySpreadConstraints",))
    for name in sorted(constraints, key=str):
        path = ("topologySpreadConstraints", name)
        body = c.mapping(constraints[name], path, optional=False)
        c.fields(body, path, SPREAD_FIELDS, required=("maxSkew", "topologyKey", "whenUnsatisfiable"))
        item: dict[str, Any] = {}
        max_skew = c.get(body, "maxSkew", path, "integer")
        if max_skew is not None and c.in_range(max_skew, (*path, "maxSkew"), 1, INT32_MAX):
            item["maxSkew"] = max_skew
        for key in ("topologyKey", "whenUnsatisfiable", "nodeAffinityPolicy", "nodeTaintsPolicy"):
            value = c.get(body, key, path, "string")
            if value is not None:
                item[key] = value
        if "whenUnsatisfiable" in item:
            c.one_of(item["whenUnsatisfiable"], (*path, "whenUnsatisfiable"), ("DoNotSchedule", "ScheduleAnyway"))
        for key in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if key in item:
                c.one_of(item[key], (*path, key), ("Honor", "Ignore"))
        min_domains = c.get(body, "minDomains", path, "integer")
        if min_domains is not None and c.in_range(min_domains, (*path, "minDomains"), 1, INT32_MAX):
            item["minDomains"] = min_domains
        keys = c.get(body, "matchLabelKeys", path, "string-list")
        if keys:
            item["matchLabelKeys"] = keys
        if body.get("labelSelector") is not None:
            item["labelSelector"] = _label_selector(c, body["labelSelector"], (*path, "labelSelector"))
        out.append(item)
    return out


def _label_selector(c: Checker, raw: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    body = c.mapping(raw, path, optional=False)
    c.fields(body, path, ("matchLabels", "matchExpressions"))
    out: dict[str, Any] = {}
    labels = c.get(body, "matchLabels", path, "string-map", {})
    if labels:
        out["matchLabels"] = labels
    expressions = c.get(body, "matchExpressions", path, "list", [])
    exprs: list[dict[str, Any]] = []
    for i, raw_expr in enumerate(expressions):
        epath = (*path, "matchExpressions", i)
        expr = c.mapping(raw_expr, epath, optional=False)
        c.fields(expr, epath, ("key", "operator", "values"), required=("key", "operator"))
        entry: dict[str, Any] = {"key": c.get(expr, "key", epath, "string", ""),
                                 "operator": c.get(expr, "operator", epath, "string", "")}
        if "operator" in expr:
            c.one_of(entry["operator"], (*epath, "operator"), ("In", "NotIn", "Exists", "DoesNotExist"))
        values = c.get(expr, "values", epath, "string-list")
        if values:
            entry["values"] = values
        exprs.append(entry)
    if exprs:
        out["matchExpressions"] = exprs
    return out


def _base(c: Checker, dev: Mapping[str, Any], allowed: tuple[str, ...]) -> tuple[dict[str, Any], int | None, dict[str, str], dict[str, str]]:
    c.fields(dev, (), allowed, required=("containers",))
    containers = c.mapping(dev.get("containers"), ("containers",), optional=False)
    if "containers" in dev and not containers and isinstance(dev.get("containers"), dict):
        c.add(("containers",), "expected at least one container")
    replicas = c.get(dev, "replicas", (), "integer")
    if isinstance(replicas, int) and replicas < 0:
        c.add(("replicas",), f"expected a non-negative integer, got {replicas}")
    else:
        c.in_range(replicas, ("replicas",), 0, INT32_MAX)  # Deployment replicas, Job parallelism: int32
    labels = c.get(dev, "labels", (), "string-map", {})
    annotations = c.get(dev, "annotations", (), "string-map", {})
    return containers, replicas, labels, annotations


def pod_spec(c: Checker, containers: Mapping[str, Any], app_uname: str, namespace: str) -> tuple[dict[str, Any], list[Resource]]:
    """A pod spec from catalog containers, plus the ConfigMaps their `files` need."""
    out: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    config_maps: list[Resource] = []
    for name in sorted(containers, key=str):
        path = ("containers", name)
        spec = c.mapping(containers[name], path, optional=False)
        c.fields(spec, path, CONTAINER_FIELDS, required=("image",))
        problem = name_problem(str(name), "container name")
        if problem or "." in str(name):
            c.add(path, problem or f"container name {name!r} may not contain '.'", at_key=True)
        ctn: dict[str, Any] = {"name": str(name), "image": c.get(spec, "image", path, "string", "")}
        for key in ("command", "args"):
            value = c.get(spec, key, path, "string-list")
            if value is not None:
                ctn[key] = value
        env = _env(c, spec.get("env"), (*path, "env"))
        if env:
            ctn["env"] = env
        working_dir = c.get(spec, "workingDir", path, "string")
        if working_dir:
            ctn["workingDir"] = working_dir
        resources = _resources(c, spec.get("resources"), (*path, "resources"))
        if resources:
            ctn["resources"] = resources
        for key in ("livenessProbe", "readinessProbe", "startupProbe"):
            if spec.get(key) is not None:
                ctn[key] = _probe(c, spec[key], (*path, key))
        if spec.get("lifecycle") is not None:
            ctn["lifecycle"] = _lifecycle(c, spec["lifecycle"], (*path, "lifecycle"))
        mounts: list[dict[str, Any]] = []
        files = c.mapping(spec.get("files"), (*path, "files"))
        for index, file_path in enumerate(sorted(files, key=str)):
            _file(c, str(file_path), files[file_path], (*path, "files", file_path), index,
                  f"{app_uname}-{name}-{index}", namespace, mounts, volumes, config_maps)
        dirs = c.get(spec, "dirs", path, "string-map", {})
        for mount_path in sorted(dirs):
            ref = _REF.match(dirs[mount_path])
            if not ref or ref.group(1) != "secret":
                c.add((*path, "dirs", mount_path), f"expected secret://<name>/<key>, got {dirs[mount_path]!r}")
                continue
            volumes.append({"name": ref.group(2), "secret": {"secretName": ref.group(2)}})
            mounts.append({"name": ref.group(2), "mountPath": posixpath.join("/", mount_path)})
        if mounts:
            ctn["volumeMounts"] = mounts
        out.append(ctn)
    pod: dict[str, Any] = {"containers": out}
    if volumes:
        pod["volumes"] = volumes
    return pod, config_maps


def _env(c: Checker, raw: Any, path: tuple[Any, ...]) -> list[dict[str, Any]]:
    env = c.mapping(raw, path)
    out: list[dict[str, Any]] = []
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            c.add((*path, key), "a valid environment variable name must consist of letters, digits, "
                  "'_', '-' or '.', and must not start with a digit", at_key=True)
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            c.wrong_type((*path, key), "a string", value)
            continue
        text = str(value)
        ref = _SECRET_ENV.match(text)
        if ref:
            out.append({"name": key, "valueFrom": {"secretKeyRef": {"name": ref.group(1), "key": ref.group(2)}}})
        else:  # configmap://... too: Kusion's MagicEnvVar knows only secret:// (magic_env_var.go)
            out.append({"name": key, "value": text})
    return out


def _resources(c: Checker, raw: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    for key, value in sorted(c.mapping(raw, path).items(), key=lambda kv: str(kv[0])):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            c.wrong_type((*path, key), "a quantity such as 500m or 250m-500m", value)
            continue
        parts = str(value).split("-")
        if len(parts) > 2 or not all(_QUANTITY.match(p) for p in parts):
            c.add((*path, key), f"expected a quantity such as 500m, 1Gi or 250m-500m (request-limit), got {value!r}")
            continue
        if len(parts) == 2:
            requests[str(key)] = parts[0]
        limits[str(key)] = parts[-1]
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _handler(c: Checker, raw: Any, path: tuple[Any, ...], allow_tcp: bool = True) -> dict[str, Any]:
    body = c.mapping(raw, path, optional=False)
    type_ = str(body.get(TYPE_KEY, ""))
    kind = type_.rsplit(".", 1)[-1] if type_ else ("Exec" if "command" in body else "Http")
    url_text = str(body.get("url", ""))
    if kind == "Tcp" or (not type_ and "command" not in body and (url_text.startswith("tcp://") or (url_text and "://" not in url_text))):
        kind = "Tcp"
    choices = ("Http", "Exec", "Tcp") if allow_tcp else ("Http", "Exec")
    if kind not in choices:
        c.add((*path, TYPE_KEY), f"expected a handler of type {', '.join(choices)}, got {type_!r}")
        return {}
    if kind == "Exec":
        c.fields(body, path, ("command",), required=("command",))
        command = c.get(body, "command", path, "string-list", [])
        if "command" in body and not command:
            c.add((*path, "command"), "command must be specified")
        return {"exec": {"command": command}}
    fields = ("url", "headers") if kind == "Http" else ("url",)
    c.fields(body, path, fields, required=("url",))
    url = c.get(body, "url", path, "string", "")
    if kind == "Tcp" and isinstance(url, str) and not url.startswith("tcp://"):
        return _tcp(c, url, (*path, "url"))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        c.add((*path, "url"), f"expected a URL such as http://localhost:80/healthz, got {url!r}")
        return {}
    if "url" in body and (port is None or not parts.hostname):
        c.add((*path, "url"), f"expected a URL with a host and a port, got {url!r}")
        return {}
    if port is not None and not PORT_MIN <= port <= PORT_MAX:
        c.add((*path, "url"), f"expected a port from {PORT_MIN} to {PORT_MAX} in the URL, got {port}")
        return {}
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1"):
        host = ""
    if kind == "Tcp":
        action: dict[str, Any] = {"port": port}
        if host:
            action["host"] = host
        return {"tcpSocket": action}
    action = {"port": port, "scheme": (parts.scheme or "http").upper()}
    if parts.path:  # kept as written: Kusion's httpGetAction takes u.Path, empty when absent
        action["path"] = parts.path
    if host:
        action["host"] = host
    headers = c.get(body, "headers", path, "string-map", {})
    if headers:
        action["httpHeaders"] = [{"name": k, "value": v} for k, v in sorted(headers.items())]
    return {"httpGet": action}


def _tcp(c: Checker, url: str, path: tuple[Any, ...]) -> dict[str, Any]:
    """A TCP handler's `host:port` (Kusion's tcpSocketAction: net.ParseHostPort, host kept)."""
    match = _HOST_PORT.match(url)
    if not match:
        c.add(path, f"expected host:port (e.g. localhost:8080), got {url!r}")
        return {}
    host, port_text = match.group(1).strip("[]"), match.group(2)
    port: int | str = int(port_text) if port_text.isdigit() else port_text
    if isinstance(port, int) and not PORT_MIN <= port <= PORT_MAX:
        c.add(path, f"expected a port from {PORT_MIN} to {PORT_MAX}, got {port}")
        return {}
    action: dict[str, Any] = {"port": port}
    if host:
        action["host"] = host
    return {"tcpSocket": action}


def _probe(c: Checker, raw: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    body = c.mapping(raw, path, optional=False)
    c.fields(body, path, PROBE_FIELDS, required=("probeHandler",))
    out = _handler(c, body.get("probeHandler"), (*path, "probeHandler")) if "probeHandler" in body else {}
    for key in PROBE_FIELDS[1:]:
        value = c.get(body, key, path, "integer")
        if value is None:
            continue
        if value < 0:
            c.add((*path, key), f"{key} must be greater than or equal to 0")
        elif key == "terminationGracePeriod":
            c.in_range(value, (*path, key), 0, INT64_MAX)  # terminationGracePeriodSeconds: int64
        else:
            c.in_range(value, (*path, key), 0, INT32_MAX)  # the other probe fields: int32
        out["terminationGracePeriodSeconds" if key == "terminationGracePeriod" else key] = value
    return out


def _lifecycle(c: Checker, raw: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    body = c.mapping(raw, path, optional=False)
    c.fields(body, path, ("preStop", "postStart"))
    out: dict[str, Any] = {}
    for key in ("postStart", "preStop"):
        if body.get(key) is not None:
            out[key] = _handler(c, body[key], (*path, key), allow_tcp=False)
    return out


def _file(c: Checker, file_path: str, raw: Any, path: tuple[Any, ...], index: int, cm_name: str,
          namespace: str, mounts: list[dict[str, Any]], volumes: list[dict[str, Any]],
          config_maps: list[Resource]) -> None:
    body = c.mapping(raw, path, optional=False)
    c.fields(body, path, ("content", "contentFrom", "mode"))
    content = c.get(body, "content", path, "string")
    content_from = c.get(body, "contentFrom", path, "string")
    mode_text = c.get(body, "mode", path, "string", "0644")
    if content and content_from:
        c.add(path, "content and contentFrom are mutually exclusive")
    if not isinstance(mode_text, str) or not _MODE.match(mode_text):
        c.add((*path, "mode"), "valid mode must be between 0000 and 0777, both inclusive")
        return
    base = posixpath.basename(file_path)
    if base in ("", ".", "/"):
        c.add(path, "the declared file path needs to include the file name", at_key=True)
        return
    mode = int(mode_text, 8)
    if content_from:
        ref = _REF.match(content_from)
        if not ref or ref.group(1) != "secret":
            c.add((*path, "contentFrom"), f"expected secret://<name>/<key>, got {content_from!r}")
            return
        volumes.append({"name": ref.group(2), "secret": {"secretName": ref.group(2), "defaultMode": mode}})
        mounts.append({"name": ref.group(2), "mountPath": posixpath.join("/", file_path), "subPath": ref.group(3)})
    elif content:
        attributes = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(cm_name, namespace),
            "data": {base: content},
        }
        config_maps.append(k8s_resource(attributes))
        volumes.append({"name": cm_name, "configMap": {"name": cm_name, "defaultMode": mode}})
        mounts.append({"name": cm_name, "mountPath": posixpath.dirname(file_path) or "/"})


def _merge_fill(primary: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    out = dict(primary)
    for k, v in defaults.items():
        out.setdefault(k, v)
    return out


class _WorkloadModule(abc.ABC):
    """Shared generation for `service` and `job`."""

    name: str = ""
    schemas: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        c = Checker()
        dev = dict(request.dev_config)
        containers, replicas, labels, annotations = _base(c, dev, self.fields)
        if request.accessory is not None:
            c.add(("_type",), f"{self.name}.{schema} is a workload; use it as the app's workload, not an accessory")
        uname = request.unique_app_name
        problem = name_problem(uname, "workload name")
        if problem:
            c.add((), f"{problem} (made from project, stack and app names)")
        pod, config_maps = pod_spec(c, containers, uname, request.namespace)
        if "topologySpreadConstraints" in self.fields:
            spread = _spread(c, dev.get("topologySpreadConstraints"))
            if spread:
                pod = {"topologySpreadConstraints": spread, **pod}
        schedule = self._extra(c, dev)
        if not c.ok:
            raise ModuleInputError(c.problems)
        p_replicas, p_labels, p_annotations = _platform(request, check_type=self.name == "service")
        labels = _merge_fill({**request.app_labels_kusion, **labels}, p_labels)
        annotations = _merge_fill(annotations, p_annotations)
        if replicas is None:
            replicas = p_replicas
        selector = request.app_labels_kusion
        template = {"metadata": {"labels": dict(labels)}, "spec": pod}
        if annotations:
            template["metadata"]["annotations"] = dict(annotations)
        workload = self._manifest(request, uname, labels, annotations, selector, template, replicas, schedule)
        resources = (*config_maps, k8s_resource(workload, {EXT_IS_WORKLOAD: True}))
        return ModuleResult(resources=resources)

    def _extra(self, c: Checker, dev: Mapping[str, Any]) -> str | None:
        return None

    @abc.abstractmethod
    def _manifest(self, request: ModuleRequest, name: str, labels: dict[str, str], annotations: dict[str, str],
                  selector: dict[str, str], template: dict[str, Any], replicas: int | None,
                  schedule: str | None) -> dict[str, Any]:
        """The workload manifest around the pod template."""


class ServiceModule(_WorkloadModule):
    """`service.Service` → Deployment."""

    name: str = "service"
    schemas: tuple[str, ...] = ("Service",)
    fields = ("containers", "secrets", "replicas", "labels", "annotations", "type",
              "topologySpreadConstraints")

    def _extra(self, c: Checker, dev: Mapping[str, Any]) -> str | None:
        kind = dev.get("type")
        if kind is not None and kind not in WORKLOAD_TYPES:
            c.add(("type",), f"unsupported Service type {kind!r}: expected one of: {', '.join(WORKLOAD_TYPES)}")
            return None
        return kind if isinstance(kind, str) else None

    def _manifest(self, request: ModuleRequest, name: str, labels: dict[str, str], annotations: dict[str, str],
                  selector: dict[str, str], template: dict[str, Any], replicas: int | None,
                  schedule: str | None) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if replicas is not None:
            spec["replicas"] = replicas
        spec["selector"] = {"matchLabels": dict(selector)}
        spec["template"] = template
        kind = schedule or str(request.platform_config.get("type") or "Deployment")
        return {
            "apiVersion": COLLASET_API if kind == "CollaSet" else "apps/v1",
            "kind": kind,
            "metadata": metadata(name, request.namespace, labels, annotations),
            "spec": spec,
        }


class JobModule(_WorkloadModule):
    """`job.Job` → Job, or CronJob when `schedule` is set."""

    name: str = "job"
    schemas: tuple[str, ...] = ("Job",)
    fields = ("containers", "secrets", "replicas", "labels", "annotations", "schedule")

    def _extra(self, c: Checker, dev: Mapping[str, Any]) -> str | None:
        schedule = c.get(dev, "schedule", (), "string")
        if schedule and len(schedule.split()) != 5 and not schedule.startswith("@"):
            c.add(("schedule",), f"expected a cron schedule with 5 fields, got {schedule!r}")
        return schedule if isinstance(schedule, str) else None

    def _manifest(self, request: ModuleRequest, name: str, labels: dict[str, str], annotations: dict[str, str],
                  selector: dict[str, str], template: dict[str, Any], replicas: int | None,
                  schedule: str | None) -> dict[str, Any]:
        # catalog job.go: replicas set nothing on a Job, and the CronJob's jobTemplate has no metadata
        template["spec"]["restartPolicy"] = "Never"
        job_spec: dict[str, Any] = {"template": template}
        meta = metadata(name, request.namespace, labels, annotations)
        if schedule:  # an empty schedule is a plain Job, as in job.go
            return {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": meta,
                "spec": {"schedule": schedule, "jobTemplate": {"spec": job_spec}},
            }
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job_spec}
