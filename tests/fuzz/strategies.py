"""Hypothesis strategies for hostile input: YAML texts and JSON bodies that try every limit
(aliases, depth, huge numbers, odd types, tags, random bytes), and well-shaped documents whose
fields have the wrong types."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Values of every YAML/JSON type, including the awkward ones.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**31 - 1, 2**63, 10**30, 65536, 70000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "~", "yes", "no", "on", "0x1F", "0o17", "1_000", "12:30:00", "2001-13-45",
                     "1e400", ".inf", "service.Service", "network.Network", "k8s_manifest.K8sManifest",
                     "secret://db/password", "http://localhost:0/x", "-", "*", "&", "!!int x"]),
)
PLAIN = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)

# Keys Shipmate's config files know, so generated documents reach deep into the parsers.
CONFIG_KEYS = [
    "web", "workload", "accessories", "_type", "containers", "image", "replicas", "labels",
    "annotations", "env", "command", "args", "resources", "files", "dirs", "readinessProbe",
    "probeHandler", "url", "periodSeconds", "lifecycle", "preStop", "network", "ports", "port",
    "targetPort", "protocol", "public", "ingress", "rules", "defaultBackend", "service", "number",
    "paths", "secrets", "type", "data", "schedule", "modules", "configs", "default",
    "projectSelector", "context", "secretStore", "name", "workspace", "extensions",
    "kubernetesNamespace", "kind", "apply", "requirements", "permissions", "drift", "poll",
    "interval_seconds", "concurrency", "backend", "branch", "branches", "draftPreviews",
    "importedResources", "dependsOn", "provider", "providerMeta",
]


def _shaped(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(CONFIG_KEYS), inner, max_size=5),
    )


CONFIG_SHAPED = st.recursive(SCALARS, _shaped, max_leaves=30)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value).replace("inf", ".inf").replace("nan", ".nan")
    return json.dumps(value)


@st.composite
def hostile_yaml(draw: st.DrawFn) -> str:
    """A YAML text built to cross a limit, or to carry an odd value where a field is expected."""
    kind = draw(st.sampled_from([
        "bomb", "deep-flow", "deep-block", "deep-seq-line", "huge-int", "recursive", "many-aliases",
        "tags", "random", "shaped", "shaped-aliased",
    ]))
    if kind == "bomb":
        width, levels = draw(st.integers(2, 12)), draw(st.integers(2, 12))
        lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
        for i in range(1, levels):
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
        return "\n".join(lines) + "\n"
    if kind == "deep-flow":
        depth = draw(st.integers(50, 200_000))
        opener = draw(st.sampled_from(["[", "{a: ", "[{a: "]))
        closer = {"[": "]", "{a: ": "}", "[{a: ": "}]"}[opener]
        return "web: " + opener * depth + "x" + closer * depth * draw(st.sampled_from([0, 1])) + "\n"
    if kind == "deep-block":
        depth = draw(st.integers(50, 3_000))
        return "".join("  " * i + "k:\n" for i in range(depth))
    if kind == "deep-seq-line":
        return "- " * draw(st.integers(50, 100_000)) + "x\n"
    if kind == "huge-int":
        digits = draw(st.integers(90, 20_000))
        prefix = draw(st.sampled_from(["", "-", "0x", "0o", "+"]))
        key = draw(st.sampled_from(["replicas", "port", "concurrency", "web"]))
        return f"{key}: {prefix}{'7' * digits}\n"
    if kind == "recursive":
        return draw(st.sampled_from(["a: &a [*a]\n", "a: &a {b: *a}\n", "&a [1, *a]\n", "web: &w\n  workload: *w\n"]))
    if kind == "many-aliases":
        return "a: &a x\nb: [" + ", ".join(["*a"] * draw(st.integers(1, 20_000))) + "]\n"
    if kind == "tags":
        tag = draw(st.sampled_from(["!!int", "!!float", "!!binary", "!!timestamp", "!!set", "!!omap",
                                    "!!python/object:os.system", "!custom", "!!str", "!!map", "!!seq"]))
        value = draw(st.sampled_from(["abc", "{x: 1}", "[1, 2]", "2001-13-45", "''", "9" * 5000]))
        return f"web: {tag} {value}\n"
    if kind == "random":
        return draw(st.binary(max_size=400)).decode("utf-8", errors="replace")
    value = draw(CONFIG_SHAPED)
    text = json.dumps(value, default=str, allow_nan=True).replace("NaN", ".nan").replace("Infinity", ".inf")
    if kind == "shaped-aliased" and isinstance(value, dict) and value:
        first = next(iter(value))
        text = f"base: &base {text}\n{json.dumps(str(first))}: *base\n"
    return text


# --- JSON bodies -------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


@st.composite
def hostile_json(draw: st.DrawFn) -> bytes:
    """A body that is deep, huge-numbered, not JSON at all, or merely odd."""
    kind = draw(st.sampled_from(["deep", "huge-int", "constant", "random", "value", "truncated"]))
    if kind == "deep":
        depth = draw(st.integers(30, 200_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")]))
        return opener * depth + b"1" + closer * depth * draw(st.sampled_from([0, 1]))
    if kind == "huge-int":
        return b'{"action": "opened", "number": ' + b"9" * draw(st.integers(30, 20_000)) + b"}"
    if kind == "constant":
        return b'{"action": ' + draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e99999", b"-0"])) + b"}"
    if kind == "random":
        return draw(st.binary(max_size=300))
    text = json.dumps(draw(JSON_VALUES)).encode()
    if kind == "truncated":
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    return text


def mutate(document: Any, draw: st.DrawFn, values: st.SearchStrategy[Any] = JSON_VALUES) -> Any:
    """`document` with one value somewhere inside it replaced by a generated one."""
    if not isinstance(document, dict | list) or not document or draw(st.integers(0, 3)) == 0:
        return draw(values)
    if isinstance(document, dict):
        key = draw(st.sampled_from(sorted(document)))
        return {**document, key: mutate(document[key], draw, values)}
    index = draw(st.integers(0, len(document) - 1))
    return [*document[:index], mutate(document[index], draw, values), *document[index + 1:]]
