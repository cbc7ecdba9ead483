"""The fast reader (libyaml + YAML 1.2's core schema) reads exactly what the located reader
(ruamel.yaml's round trip) reads, or gives up and lets it decide: the same data, the same
errors at the same places, the same limits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml as pyyaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import yamlio
from bot.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# Plain scalars on every border between YAML 1.1, YAML 1.2 and strings.
TOKENS = [
    "yes", "no", "on", "off", "y", "n", "Yes", "NO", "true", "True", "TRUE", "false", "False",
    "null", "Null", "NULL", "~", "", "nil", "0", "-0", "+1", "12", "012", "0o17", "0x1F", "0b101",
    "1_000", "1,000", "1:20", "1:20.5", "1.5", "1.", ".5", "-.5", "1e3", "1E-3", "1.0e+3", "+.inf",
    "-.Inf", ".NaN", ".nan", "inf", "nan", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5", "<<", "=", "100m-250m", "128Mi", "nginx:1.25", "a b", "'q'",
    "\"d\"", "3.3.3", "1e", "e3", "-", "+", ".", "0.", "00", "08", "1__0", "0x", "12:30", "v1",
    "9" * 120, "f" * 120, "é", "ü: x",
]


def read(reader: Any, text: str, single: bool = True) -> Any:
    """The data a reader gives, or the error it raises, as comparable values."""
    try:
        docs = reader(text, single)
    except ConfigError as exc:
        return ("error", str(exc))
    return ("data", [normal(d.data) for d in docs])


def fast_reader(text: str, single: bool) -> list[yamlio.Document]:
    return [yamlio.load("f.yaml", text)] if single else yamlio.load_all("f.yaml", text)


def located_reader(text: str, single: bool) -> list[yamlio.Document]:
    return yamlio.load_located("f.yaml", text, single=single)


def normal(data: Any) -> Any:
    """NaN is not equal to itself; everything else compares as it is (types included)."""
    if isinstance(data, dict):
        return {(type(k), k): normal(v) for k, v in data.items()}
    if isinstance(data, list):
        return [normal(v) for v in data]
    if isinstance(data, float) and math.isnan(data):
        return "NaN"
    return (type(data), data)


def assert_alike(text: str) -> None:
    for single in (True, False):
        assert read(fast_reader, text, single) == read(located_reader, text, single), text


def test_the_projects_yaml_files_read_alike() -> None:
    files = [p for p in (ROOT / "fixtures").rglob("*.y*ml")
             if p.is_file() and not p.is_symlink() and p.stat().st_size < 1_000_000]
    assert len(files) > 50
    for path in files:
        assert_alike(path.read_text(errors="replace"))


def test_plain_files_take_the_fast_path_and_locate_lazily() -> None:
    text = "app:\n  workload:\n    replicas: 2\n    image: nginx:1.25\n"
    assert yamlio._fast(text, yamlio.CONFIG_LIMITS, single=True) == [
        {"app": {"workload": {"replicas": 2, "image": "nginx:1.25"}}}
    ]
    doc = yamlio.load("main.yaml", text)
    assert doc.locate(("app", "workload", "image")) == (4, 12)
    assert doc.problem(("app", "workload", "replicas"), "too many").line == 3


def test_what_the_fast_reader_leaves_to_the_located_one() -> None:
    for text in (
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "a: 1\na: 2\n",  # duplicate keys
        "<<: {a: 1}\n",  # merge keys
        "a: 0x1F\n", "a: 012\n", "a: 1_000\n",  # numbers YAML 1.1 reads otherwise
        "a: 2001-12-14\n",  # timestamps
        "%YAML 1.1\n---\na: yes\n",  # directives
        "? [a]\n: 1\n",  # complex keys
        "a: [1\n",  # syntax errors
        "a: " + "9" * 120 + "\n",  # number literals over the limit
    ):
        assert yamlio._fast(text, yamlio.CONFIG_LIMITS, single=True) is None, text
        assert_alike(text)


def test_limits_stay_the_located_readers() -> None:
    limits = yamlio.Limits(max_depth=10, max_nodes=100, max_number_chars=10)
    for text, refusal in (
        ("a: " + "[" * 12 + "]" * 12 + "\n", "nested deeper than 10 levels"),
        ("[" + "1," * 101 + "]\n", "more than 100 nodes"),
        ("a: 12345678901\n", "a number literal longer than 10 characters"),
    ):
        assert yamlio._fast(text, limits, single=True) is None
        for reader in (yamlio.load, yamlio.load_all):
            try:
                reader("f.yaml", text, limits)
            except ConfigError as exc:
                assert refusal in str(exc)
            else:
                raise AssertionError(f"{text!r} was read within {limits}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(TOKENS), st.sampled_from(TOKENS), st.sampled_from(["", "'", '"'])),
                min_size=1, max_size=6))
def test_plain_and_quoted_scalars_read_alike(pairs: list[tuple[str, str, str]]) -> None:
    lines = []
    for i, (key, value, quote) in enumerate(pairs):
        lines.append(f"k{i}{key.replace(':', '')}: {quote}{value}{quote}")
        lines.append(f"- {value}" if i % 2 else f"s{i}: [{value}, x]")
    assert_alike("\n".join(lines[::2]) + "\n")
    assert_alike("\n".join(f"- {v}" for _, v, _ in pairs) + "\n")
    assert_alike("\n---\n".join(f"{v}" for v, _, _ in pairs) + "\n")


keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.sampled_from(TOKENS))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                    st.sampled_from(TOKENS))
plain_data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plain_data, st.sampled_from(["ours", "block", "flow"]))
def test_dumped_data_reads_alike(data: Any, style: str) -> None:
    if style == "ours":
        text = yamlio.dump_yaml(data)
    else:
        text = pyyaml.safe_dump(data, default_flow_style=style == "flow", allow_unicode=True)
    assert_alike(text)
