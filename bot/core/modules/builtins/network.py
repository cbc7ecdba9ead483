"""The `network` accessory (Kusion catalog `network.Network`): ports → Services, ingress → Ingress.

Private ports go to a ClusterIP Service `<project>-<stack>-<app>-private`, public ones to a
LoadBalancer Service `...-public`; both select the app's pods by Kusion's app labels and carry
the workload's labels and annotations. Each port is `{port, targetPort, protocol, public}`
(defaults: port 80, targetPort = port, TCP, private). `ingress` takes the catalog's fields
(`rules`, `defaultBackend`, `tls`, `ingressClassName`, `labels`, `annotations`) and gives an
Ingress `...-ingress`; a backend service without a name is the Service exposing its port.
Platform config `port: {labels, annotations}` is added to the public Service. `ingressClass`
(`controller`, `parameters`, `labels`, `annotations`) gives a cluster-scoped IngressClass
`...-ingressclass`, as the catalog's network module does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.config.checks import PORT_MAX, PORT_MIN, Checker
from bot.core.modules.base import ModuleInputError, ModuleRequest, ModuleResult
from bot.core.modules.kube import k8s_resource, metadata

PORT_FIELDS = ("port", "targetPort", "protocol", "public")
INGRESS_FIELDS = ("defaultBackend", "ingressClassName", "rules", "tls", "labels", "annotations")
PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


class NetworkModule:
    name: str = "network"
    schemas: tuple[str, ...] = ("Network",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        c = Checker()
        dev = dict(request.dev_config)
        c.fields(dev, (), ("ports", "ingress", "ingressClass"))
        ports = self._ports(c, dev.get("ports"))
        if ports and request.workload is None:
            c.add(("ports",), "ports need a workload to route to; this app has none")
        uname = request.unique_app_name
        ingress = None
        if dev.get("ingress") is not None:
            ingress = self._ingress(c, dev["ingress"], ports, uname, request.namespace)
        ingress_class = None
        if dev.get("ingressClass") is not None:
            ingress_class = _ingress_class(c, dev["ingressClass"], uname)
        if not c.ok:
            raise ModuleInputError(c.problems)
        platform = Checker()
        port_cfg = platform.mapping(request.platform_config.get("port"), ("port",))
        public_labels = platform.get(port_cfg, "labels", ("port",), "string-map", {})
        public_annotations = platform.get(port_cfg, "annotations", ("port",), "string-map", {})
        if not platform.ok:
            raise ModuleInputError(platform.problems, platform=True)

        workload = request.workload or {}
        w_labels: dict[str, str] = _string_map(workload.get("labels"))
        w_annotations: dict[str, str] = _string_map(workload.get("annotations"))
        selector = request.app_labels_kusion
        resources = []
        for public in (False, True):
            group = [p for p in ports if p["public"] is public]
            if not group:
                continue
            name = f"{uname}-{'public' if public else 'private'}"
            labels = {**selector, **w_labels}
            annotations = dict(w_annotations)
            if public:
                labels.update(public_labels)
                annotations.update(public_annotations)
            attributes = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(name, request.namespace, labels, annotations),
                "spec": {
                    "ports": [
                        {
                            "name": f"{name}-{p['port']}-{p['protocol'].lower()}",
                            "port": p["port"],
                            "protocol": p["protocol"],
                            "targetPort": p["targetPort"],
                        }
                        for p in group
                    ],
                    "selector": dict(selector),
                    "type": "LoadBalancer" if public else "ClusterIP",
                },
            }
            resources.append(k8s_resource(attributes))
        if ingress is not None:
            resources.append(k8s_resource(ingress))
        if ingress_class is not None:
            resources.append(k8s_resource(ingress_class))
        return ModuleResult(resources=tuple(resources))

    def _ports(self, c: Checker, raw: Any) -> list[dict[str, Any]]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            c.wrong_type(("ports",), "a list of ports", raw)
            return []
        out: list[dict[str, Any]] = []
        seen: set[tuple[int, str]] = set()
        for i, item in enumerate(raw):
            path = ("ports", i)
            body = c.mapping(item, path, optional=False)
            c.fields(body, path, PORT_FIELDS)
            port = c.get(body, "port", path, "integer", 80)
            target = c.get(body, "targetPort", path, "integer", None)
            protocol = c.get(body, "protocol", path, "string", "TCP")
            public = c.get(body, "public", path, "boolean", False)
            if isinstance(port, int) and not 1 <= port <= 65535:
                c.add((*path, "port"), f"port must be between 1 and 65535, inclusive; got {port}")
            if isinstance(target, int) and not 1 <= target <= 65535:
                c.add((*path, "targetPort"), f"targetPort must be between 1 and 65535, inclusive; got {target}")
            if "protocol" in body and not c.one_of(protocol, (*path, "protocol"), ("TCP", "UDP")):
                continue
            if (port, protocol) in seen:
                c.add(path, f"port {port}/{protocol} is listed twice")
            seen.add((port, protocol))
            out.append({"port": port, "targetPort": target or port, "protocol": protocol, "public": public})
        return out

    def _ingress(self, c: Checker, raw: Any, ports: list[dict[str, Any]], uname: str, namespace: str) -> dict[str, Any]:
        path = ("ingress",)
        body = c.mapping(raw, path, optional=False)
        c.fields(body, path, INGRESS_FIELDS)
        spec: dict[str, Any] = {}
        class_name = c.get(body, "ingressClassName", path, "string")
        if class_name:
            spec["ingressClassName"] = class_name
        if body.get("defaultBackend") is not None:
            spec["defaultBackend"] = self._backend(c, body["defaultBackend"], (*path, "defaultBackend"), ports, uname)
        rules = []
        for i, rule in enumerate(c.get(body, "rules", path, "list", [])):
            rpath = (*path, "rules", i)
            rbody = c.mapping(rule, rpath, optional=False)
            c.fields(rbody, rpath, ("host", "http"))
            out: dict[str, Any] = {}
            host = c.get(rbody, "host", rpath, "string")
            if host:
                out["host"] = host
            if rbody.get("http") is not None:
                hpath = (*rpath, "http")
                http = c.mapping(rbody["http"], hpath, optional=False)
                c.fields(http, hpath, ("paths",), required=("paths",))
                paths = []
                for j, item in enumerate(c.get(http, "paths", hpath, "list", [])):
                    ppath = (*hpath, "paths", j)
                    pbody = c.mapping(item, ppath, optional=False)
                    c.fields(pbody, ppath, ("path", "pathType", "backend"), required=("backend",))
                    entry: dict[str, Any] = {}
                    p = c.get(pbody, "path", ppath, "string")
                    if p:
                        entry["path"] = p
                    path_type = c.get(pbody, "pathType", ppath, "string", "Prefix")
                    if "pathType" in pbody:
                        c.one_of(path_type, (*ppath, "pathType"), PATH_TYPES)
                    entry["pathType"] = path_type
                    if "backend" in pbody:
                        entry["backend"] = self._backend(c, pbody["backend"], (*ppath, "backend"), ports, uname)
                    paths.append(entry)
                out["http"] = {"paths": paths}
            rules.append(out)
        if rules:
            spec["rules"] = rules
        tls = []
        for i, item in enumerate(c.get(body, "tls", path, "list", [])):
            tpath = (*path, "tls", i)
            tbody = c.mapping(item, tpath, optional=False)
            c.fields(tbody, tpath, ("hosts", "secretName"))
            entry = {}
            hosts = c.get(tbody, "hosts", tpath, "string-list")
            if hosts:
                entry["hosts"] = hosts
            secret = c.get(tbody, "secretName", tpath, "string")
            if secret:
                entry["secretName"] = secret
            tls.append(entry)
        if tls:
            spec["tls"] = tls
        if not rules and "defaultBackend" not in spec:
            c.add(path, "an ingress needs rules or a defaultBackend")
        labels = c.get(body, "labels", path, "string-map", {})
        annotations = c.get(body, "annotations", path, "string-map", {})
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": metadata(f"{uname}-ingress", namespace, labels, annotations),
            "spec": spec,
        }

    def _backend(self, c: Checker, raw: Any, path: tuple[Any, ...], ports: list[dict[str, Any]], uname: str) -> dict[str, Any]:
        body = c.mapping(raw, path, optional=False)
        c.fields(body, path, ("service", "resource"))
        out: dict[str, Any] = {}
        if body.get("service") is not None:
            spath = (*path, "service")
            svc = c.mapping(body["service"], spath, optional=False)
            c.fields(svc, spath, ("name", "port"), required=("port",))
            port_body: Mapping[str, Any] = c.mapping(svc.get("port"), (*spath, "port"), optional=False)
            c.fields(port_body, (*spath, "port"), ("name", "number"))
            number = c.get(port_body, "number", (*spath, "port"), "integer")
            if isinstance(number, int) and not PORT_MIN <= number <= PORT_MAX:
                c.add((*spath, "port", "number"), f"port must be between {PORT_MIN} and {PORT_MAX}, inclusive; got {number}")
            port_name = c.get(port_body, "name", (*spath, "port"), "string")
            name = c.get(svc, "name", spath, "string")
            if not name:
                match = [p for p in ports if p["port"] == number]
                if not match:
                    c.add(spath, f"no port {number} in this network's ports; give the service name or a listed port")
                    name = ""
                else:
                    name = f"{uname}-{'public' if match[0]['public'] else 'private'}"
            port_out: dict[str, Any] = {}
            if port_name:
                port_out["name"] = port_name
            if number is not None:
                port_out["number"] = number
            out["service"] = {"name": name, "port": port_out}
        if body.get("resource") is not None:
            rpath = (*path, "resource")
            res = c.mapping(body["resource"], rpath, optional=False)
            c.fields(res, rpath, ("apiGroup", "kind", "name"), required=("kind", "name"))
            out["resource"] = {k: c.get(res, k, rpath, "string") for k in ("apiGroup", "kind", "name") if k in res}
        if not out:
            c.add(path, "a backend needs a service or a resource")
        return out


def _string_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _ingress_class(c: Checker, raw: Any, uname: str) -> dict[str, Any]:
    """`ingressClass` → a cluster-scoped IngressClass `<project>-<stack>-<app>-ingressclass`
    (catalog modules/network/src/network.go generateIngressClass)."""
    path = ("ingressClass",)
    body = c.mapping(raw, path, optional=False)
    c.fields(body, path, ("labels", "annotations", "controller", "parameters"))
    labels = c.get(body, "labels", path, "string-map", {})
    annotations = c.get(body, "annotations", path, "string-map", {})
    spec: dict[str, Any] = {}
    controller = c.get(body, "controller", path, "string")
    if controller:
        spec["controller"] = controller
    if body.get("parameters") is not None:
        ppath = (*path, "parameters")
        params = c.mapping(body["parameters"], ppath, optional=False)
        c.fields(params, ppath, ("apiGroup", "kind", "name", "scope", "namespace"), required=("kind", "name"))
        ref: dict[str, Any] = {}
        for key in ("apiGroup", "kind", "name", "scope", "namespace"):
            value = c.get(params, key, ppath, "string")
            if value is not None:
                ref[key] = value
        if "scope" in ref:
            c.one_of(ref["scope"], (*ppath, "scope"), ("Cluster", "Namespace"))
        spec["parameters"] = ref
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": metadata(f"{uname}-ingressclass", None, labels, annotations),
        "spec": spec,
    }
