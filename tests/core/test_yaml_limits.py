"""Hostile YAML: every reader refuses alias bombs, deep nesting, huge numbers and oversized
texts with a `file:line:col` error, before anything is expanded, in bounded memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.kubernetes import kubeconfig
from bot.core.config.appconfig import parse_app_configurations
from bot.core.config.settings import parse_settings
from bot.core.errors import ConfigError
from bot.core.release import Release
from bot.core.yamlio import CONFIG_LIMITS, Limits, load, load_all, load_data
from bot.settings import KubernetesOptions, Settings

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "fixtures" / "configs" / "bad"
BOMB = (BAD / "yaml-alias-bomb" / "shop" / "dev" / "main.yaml").read_text()


def bomb(levels: int = 9) -> str:
    """The classic: each level is nine aliases of the one before (9**levels strings)."""
    text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text


HOSTILE = {
    "alias bomb": bomb(),
    "deep flow sequence": "[" * 100_000 + "]" * 100_000,
    "deep flow mapping": "{a: " * 5_000 + "b" + "}" * 5_000,
    "deep block sequence": "".join(" " * i + "- \n" for i in range(2_000)),
    "deep block mapping": "".join("  " * i + "k:\n" for i in range(1_000)),
    "deep sequence, one line": "- " * 100_000 + "x\n",
    "5,000-digit integer": "a: " + "9" * 5_000 + "\n",
    "5,000-digit hexadecimal": "a: 0x" + "f" * 5_000 + "\n",
    "recursive alias": "a: &a [b, *a]\n",
    "many aliases": "a: &a x\nb: [" + ", ".join(["*a"] * 6_000) + "]\n",
    "month 13": "a: 1\nb: 2001-13-45\n",
    "explicit int tag": "a: !!int nope\n",
    "a set tag on a scalar": "a: !!set abc\n",
    "a python tag": "a: !!python/object/apply:os.system [ls]\n",
}


@pytest.fixture
def peak_memory() -> Iterator[Callable[[], int]]:
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize(
    "reader",
    [
        lambda text: load("x.yaml", text),
        lambda text: load_all("x.yaml", text),
        lambda text: load_data("x.yaml", text),
    ],
    ids=["load", "load_all", "load_data"],
)
def test_hostile_yaml_is_refused_at_a_position_in_bounded_memory(
    name: str, reader: Callable[[str], Any], peak_memory: Callable[[], int]
) -> None:
    text = HOSTILE[name]
    with pytest.raises(ConfigError) as caught:
        reader(text)
    (problem,) = caught.value.problems
    assert problem.file == "x.yaml" and problem.line >= 1 and problem.column >= 1
    assert problem.message.startswith(("YAML refused: ", "invalid YAML: "))
    # The largest input is 200 kB of text; nothing is expanded or built past the limit.
    assert peak_memory() < 4 * 1024 * 1024, f"{name}: peak {peak_memory()} bytes"


def test_the_alias_bomb_fixture_is_refused_where_it_crosses_the_limit(peak_memory: Callable[[], int]) -> None:
    assert len(BOMB.encode()) < 600
    with pytest.raises(ConfigError) as caught:
        load("main.yaml", BOMB)
    assert str(caught.value) == "main.yaml:13:36: YAML refused: more than 500000 nodes with aliases expanded"
    assert peak_memory() < 1024 * 1024


def test_the_pinned_messages() -> None:
    def error(text: str, limits: Limits = CONFIG_LIMITS) -> str:
        with pytest.raises(ConfigError) as caught:
            load("f.yaml", text, limits)
        return str(caught.value)

    assert error(HOSTILE["deep block mapping"]) == "f.yaml:101:201: YAML refused: nested deeper than 100 levels"
    assert error(HOSTILE["deep flow sequence"]).endswith(": YAML refused: nested deeper than 100 levels")
    assert error(HOSTILE["5,000-digit integer"]) == "f.yaml:1:4: YAML refused: a number literal longer than 100 characters"
    assert error(HOSTILE["recursive alias"]) == "f.yaml:1:11: YAML refused: alias *a refers to a node that contains it"
    assert error(HOSTILE["many aliases"]) == "f.yaml:2:20005: YAML refused: more than 5000 aliases"
    assert error(HOSTILE["month 13"]) == "f.yaml:2:4: invalid YAML: cannot read this value: month must be in 1..12"
    assert error("a: b\n" * 10, Limits(max_chars=20)) == "f.yaml:1:1: YAML refused: longer than 20 characters"
    assert error("a: [1, 2, 3]\n", Limits(max_nodes=4)) == "f.yaml:1:8: YAML refused: more than 4 nodes with aliases expanded"
    # Syntax errors keep the round-trip parser's words.
    assert error("a: {b: c\nd: e\n") == "f.yaml:2:2: invalid YAML: expected ',' or '}', but got ':' while parsing a flow mapping"


def test_ordinary_yaml_within_the_limits_still_loads() -> None:
    deep = "".join("  " * i + "k:\n" for i in range(99)) + "  " * 99 + "k: leaf\n"
    assert load("f.yaml", deep).data["k"]["k"]["k"] is not None
    merged = load("f.yaml", "base: &base {image: nginx, port: 80}\nweb:\n  <<: *base\n  port: 8080\n").data
    assert merged["web"] == {"image": "nginx", "port": 8080}
    assert load("f.yaml", "n: " + "9" * 100 + "\n").data["n"] == int("9" * 100)
    assert load("f.yaml", "s: '" + "9" * 5_000 + "'\n").data["s"] == "9" * 5_000  # a quoted string is no number
    assert load_data("f.yaml", "a: &a [1]\nb: *a\n") == {"a": [1], "b": [1]}
    # Tags that build Python objects become plain data.
    assert load("f.yaml", "a: !!set {x, y}\nb: !!binary aGk=\n").data == {"a": ["x", "y"], "b": "b'hi'"}


def test_every_config_parser_and_the_state_branch_reader_refuse_the_bomb(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^shop/dev/main\.yaml:\d+:\d+: YAML refused"):
        parse_app_configurations("shop/dev/main.yaml", BOMB)
    with pytest.raises(ConfigError, match=r"^shipmate\.yaml:\d+:\d+: YAML refused"):
        parse_settings("shipmate.yaml", bomb())
    with pytest.raises(ConfigError, match=r"^releases/p/w/1\.yaml:\d+:\d+: YAML refused"):
        Release.from_yaml(bomb(), "releases/p/w/1.yaml")
    with pytest.raises(ConfigError, match=r"^releases/p/w/1\.yaml:1:1001: YAML refused: nested deeper than 128 levels"):
        load_data("releases/p/w/1.yaml", HOSTILE["deep flow sequence"], invalid="not valid YAML")
    settings_file = tmp_path / "shipmate-server.yaml"
    settings_file.write_text(bomb())
    with pytest.raises(ConfigError, match=r"shipmate-server\.yaml:\d+:\d+: YAML refused: more than"):
        Settings.from_env({}, settings_file)
    with pytest.raises(ConfigError, match=r"context\.KUBECONFIG_CONTENT: YAML refused: more than .* \(line \d+, column \d+\)"):
        kubeconfig.load({"KUBECONFIG_CONTENT": bomb()}, KubernetesOptions())
    named = tmp_path / "kubeconfig.yaml"
    named.write_text(HOSTILE["deep block mapping"])
    with pytest.raises(ConfigError, match=r"context\.KUBECONFIG_PATH: invalid kubeconfig .*kubeconfig.yaml:129:257: YAML refused: nested deeper than 128"):
        kubeconfig.load({"KUBECONFIG_PATH": str(named)}, KubernetesOptions())
