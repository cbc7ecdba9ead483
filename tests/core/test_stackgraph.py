"""Stack dependencies: `dependsOn` in stack.yaml, its resolution, order, waves and skips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.affected import StackRef
from bot.core.config import ConfigSnapshot, list_stacks, parse_stack
from bot.core.config.project import Stack
from bot.core.errors import ConfigError, PlanError
from bot.core.stackgraph import StackGraph


def stacks(spec: dict[str, list[str]]) -> list[tuple[StackRef, Stack]]:
    """`{"net/prod": ["db/prod"], ...}` -> parsed stacks in directories `<project>/<stack>`."""
    out = []
    for name, deps in spec.items():
        project, stack = name.split("/")
        text = f"name: {stack}\n" + (f"dependsOn: [{', '.join(deps)}]\n" if deps else "")
        out.append((StackRef(name, project, stack, stack), parse_stack(f"{name}/stack.yaml", text, name)))
    return out


CHAIN = {"network/prod": [], "db/prod": ["network/prod"], "app/prod": ["db/prod", "network/prod"]}


def test_dependson_parsed_in_the_files_order() -> None:
    s = parse_stack("app/prod/stack.yaml", "name: prod\ndependsOn: [network/prod, db/prod]\n", "app/prod")
    assert s.depends_on == ("network/prod", "db/prod") and s.warnings == ()
    assert parse_stack("a/b/stack.yaml", "name: b\n", "a/b").depends_on == ()


def test_dependson_errors_at_file_line_field() -> None:
    with pytest.raises(ConfigError) as err:
        parse_stack("app/prod/stack.yaml", "name: prod\ndependsOn:\n  - network\n  - 3\n  - db/prod\n  - db/prod\n",
                    "app/prod")
    assert str(err.value).splitlines() == [
        "app/prod/stack.yaml:3:5: dependsOn[0]: expected '<project>/<stack>', got 'network'",
        "app/prod/stack.yaml:4:5: dependsOn[1]: expected '<project>/<stack>', got an integer",
        "app/prod/stack.yaml:6:5: dependsOn[3]: 'db/prod' is listed twice",
    ]
    with pytest.raises(ConfigError) as err:
        parse_stack("app/prod/stack.yaml", "name: prod\ndependsOn: db/prod\n", "app/prod")
    assert "app/prod/stack.yaml:2:12: dependsOn: expected a list of '<project>/<stack>'" in str(err.value)


def test_unknown_stack_named_at_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        StackGraph.build(stacks({"network/prod": [], "app/prod": ["network/prod", "db/prod"]}))
    assert str(err.value) == (
        "app/prod/stack.yaml:2:27: dependsOn[1]: no stack is named 'db/prod' (project.yaml's name / stack.yaml's name)"
    )


def test_chain_order_waves_and_skips() -> None:
    g = StackGraph.build(stacks(CHAIN))
    everything = ("app/prod", "db/prod", "network/prod")
    assert g.order(everything) == ("network/prod", "db/prod", "app/prod")
    assert g.waves(everything) == (("network/prod",), ("db/prod",), ("app/prod",))
    assert g.skipped(everything, ["db/prod"]) == {"app/prod": "db/prod"}
    assert g.skipped(everything, ["network/prod"]) == {"db/prod": "network/prod", "app/prod": "network/prod"}
    assert g.skipped(everything, ["app/prod"]) == {}
    # Only app and network touched: app still waits for network, through db.
    assert g.among(["app/prod", "network/prod"]) == {"app/prod": ("network/prod",), "network/prod": ()}


def test_independent_stacks_share_a_wave() -> None:
    g = StackGraph.build(stacks({"network/prod": [], "db/prod": ["network/prod"], "cache/prod": ["network/prod"],
                                 "web/dev": []}))
    assert g.waves(["cache/prod", "db/prod", "network/prod", "web/dev"]) == (
        ("network/prod", "web/dev"), ("cache/prod", "db/prod"))


def test_cycle_refused_with_its_path() -> None:
    with pytest.raises(PlanError) as err:
        StackGraph.build(stacks({"a/x": ["c/z"], "b/y": ["a/x"], "c/z": ["b/y"], "d/w": []}))
    assert str(err.value) == "stacks depend on each other in a cycle: a/x -> c/z -> b/y -> a/x"


def test_listed_stacks_carry_names_dependson_resolves() -> None:
    snap = ConfigSnapshot({
        "network/project.yaml": "name: network\n", "network/prod/stack.yaml": "name: prod\n",
        "app/project.yaml": "name: app\n", "app/prod/stack.yaml": "name: prod\ndependsOn: [network/prod]\n",
    })
    refs = list_stacks(snap)
    g = StackGraph.build((r, parse_stack(f"{r.path}/stack.yaml", snap.read(f"{r.path}/stack.yaml") or "", r.path))
                         for r in refs)
    assert g.depends_on == {"app/prod": ("network/prod",), "network/prod": ()}


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    n = draw(st.integers(1, 8))
    names = [f"p{i}/s" for i in range(n)]
    return {name: draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
            for i, name in enumerate(names)}


@given(dags(), st.data())
def test_order_waves_and_skips_respect_every_dependency(spec: dict[str, list[str]], data: st.DataObject) -> None:
    g = StackGraph.build(stacks(spec))
    selected = data.draw(st.sets(st.sampled_from(sorted(spec)), min_size=1))
    failed = data.draw(st.sets(st.sampled_from(sorted(selected))))

    def reaches(a: str, b: str) -> bool:  # a depends on b, directly or not
        todo, seen = list(spec[a]), set()
        while todo:
            d = todo.pop()
            if d == b:
                return True
            if d not in seen:
                seen.add(d)
                todo.extend(spec[d])
        return False

    order = g.order(selected)
    assert sorted(order) == sorted(selected)
    wave = {p: i for i, w in enumerate(g.waves(selected)) for p in w}
    for a in selected:
        for b in selected:
            if reaches(a, b):
                assert order.index(b) < order.index(a) and wave[b] < wave[a]
    skipped = g.skipped(selected, failed)
    for a in selected - failed:
        causes = [f for f in failed if reaches(a, f)]
        assert (a in skipped) == bool(causes)
        if causes:
            assert skipped[a] in causes
