"""`bot.core.kclmod`: a Kusion kcl.mod's dependencies and profile entries, located, never
resolving a local path outside the repository."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.core.kclmod import KclDependency, inside, parse_kcl_mod

SEGMENTS = st.lists(st.sampled_from(["..", ".", "a", "b", "lib", ""]), min_size=1, max_size=6)


@given(st.lists(st.sampled_from(["s", "t", "u"]), max_size=3), SEGMENTS)
def test_a_local_path_resolves_inside_the_repository_or_not_at_all(base: list[str], parts: list[str]) -> None:
    target = inside("/".join(base), "/".join(parts))
    if target is None:
        return
    assert not target.startswith("/") and target != ".." and not target.startswith("../")
    assert target == "" or posixpath.normpath(target) == target
    assert target == posixpath.normpath(posixpath.join(*base, *parts)).lstrip("./") or target == ""


def test_dependencies_and_entries_with_their_lines() -> None:
    text = ('[package]\nname = "p"\n\n[dependencies]\nkam = { git = "https://x/kam.git", tag = "0.2.0" }\n'
            'lib = { path = "../lib" }\nservice = "0.1.0"\n\n[profile]\nentries = ["../base/base.k", "main.k"]\n')
    mod = parse_kcl_mod("p/dev/kcl.mod", text)
    assert mod.dependencies == (KclDependency("kam", None, 5), KclDependency("lib", "p/lib", 6),
                                KclDependency("service", None, 7))
    assert mod.entries == (("p/base/base.k", 10), ("p/dev/main.k", 10))


@pytest.mark.parametrize(("text", "expected"), [
    ('[dependencies]\nx = { path = "../../.." }\n', "s/kcl.mod:2:1: dependencies.x: path '../../..' is not inside the repository"),
    ("[dependencies\n", "s/kcl.mod:1:"),
    ('[profile]\nentries = "main.k"\n', "s/kcl.mod:2:1: profile.entries: expected a list of file paths"),
    ('[dependencies]\n"a-b" = "1"\n', "s/kcl.mod:2:1: dependencies.a-b: a dependency's name must be a KCL identifier"),
])
def test_problems_name_their_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_kcl_mod("s/kcl.mod", text)
    assert str(caught.value.problems[0]).startswith(expected)
