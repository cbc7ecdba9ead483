"""CODEOWNERS: GitHub's syntax, lookup order and last-match-wins, matched like gitignore."""

from __future__ import annotations

import pathspec
from hypothesis import given
from hypothesis import strategies as st

from bot.core import codeowners

TEXT = """\
# default owners
*                 @platform
*.md              @docs-team
/shop/            @alice
/shop/prod/       @bob @org/sre
shop/prod/notes/
docs/*            @writer
**/logs           @ops
a/**/z            @deep
\\#hash           @hashy
!negated          @nobody
[ab].txt          @nobody
ok.txt            not-an-owner
"""

OWNERS = codeowners.parse("CODEOWNERS", TEXT)


def test_last_matching_line_wins():
    assert OWNERS.owners_of("README.md") == ("@docs-team",)
    assert OWNERS.owners_of("shop/project.yaml") == ("@alice",)
    assert OWNERS.owners_of("shop/prod/main.yaml") == ("@bob", "@org/sre")
    assert OWNERS.owners_of("shop/prod/notes/a.yaml") == ()  # a line without owners un-owns
    assert OWNERS.owners_of("workspaces/dev.yaml") == ("@platform",)


def test_github_patterns():
    assert OWNERS.owners_of("docs/guide.txt") == ("@writer",)
    assert OWNERS.owners_of("docs/build/x.txt") == ("@platform",)  # docs/* is not recursive
    assert OWNERS.owners_of("x/y/logs/today.txt") == ("@ops",)
    assert OWNERS.owners_of("logs") == ("@ops",)
    assert OWNERS.owners_of("a/z") == OWNERS.owners_of("a/b/c/z") == ("@deep",)
    assert OWNERS.owners_of("#hash") == ("@hashy",)


def test_unreadable_lines_are_skipped_and_reported():
    assert [e.split(":")[1] for e in OWNERS.errors] == ["11", "12", "13"]
    assert "negated patterns" in OWNERS.errors[0] and "character ranges" in OWNERS.errors[1]
    assert "not-an-owner" in OWNERS.errors[2]
    assert OWNERS.owners_of("negated") == ("@platform",)


def test_lookup_order():
    found = codeowners.find({"CODEOWNERS": "* @root", "docs/CODEOWNERS": "* @docs",
                             ".github/CODEOWNERS": None})
    assert found.file == "CODEOWNERS" and found.owners_of("x") == ("@root",)
    first = codeowners.find({".github/CODEOWNERS": "* @gh", "CODEOWNERS": "* @root"})
    assert first.file == ".github/CODEOWNERS"
    assert codeowners.find({}) == codeowners.CodeOwners()


def test_each_group_needs_one_of_its_owners():
    groups = OWNERS.groups(["shop/prod/main.yaml", "shop/dev/main.yaml", "shop/prod/notes/n"])
    assert groups == (("@alice",), ("@bob", "@org/sre"))
    assert codeowners.unmet(groups, ["Alice"]) == (("@bob", "@org/sre"),)
    assert codeowners.unmet(groups, ["alice", "carol"], {"org/sre": ["carol"]}) == ()
    assert codeowners.unmet(groups, ["alice", "bob"]) == ()
    assert codeowners.unmet((("dev@example.com",),), ["dev@example.com"]) == (("dev@example.com",),)
    assert codeowners.teams_in(groups) == ("org/sre",)


def gitignore(pattern: str) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", [pattern])


# --- against gitignore's matching (pathspec), on the patterns both share -----------------------

segments = st.sampled_from(["a", "b", "ab", "*", "a*", "?", "**"])
names = st.sampled_from(["a", "b", "ab", "ba", "abc"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    parts = draw(st.lists(segments, min_size=1, max_size=4))
    pattern = "/".join(parts)
    if draw(st.booleans()):
        pattern = "/" + pattern
    if draw(st.booleans()):
        pattern += "/"
    return pattern


@given(patterns(), st.lists(names, min_size=1, max_size=5))
def test_matches_like_gitignore(pattern, parts):
    path = "/".join(parts)
    if pattern.rstrip("/").endswith("*") and pattern.rstrip("/").split("/")[-1] == "*" \
            and not pattern.endswith("/"):
        return  # GitHub's exception (`docs/*` is not recursive): tested on its own above
    if pattern.endswith("**/"):
        return  # pathspec differs from git here: tested against git's own answers below
    if "***" in pattern or pattern.strip("/") == "":
        return
    ours = codeowners.parse("CODEOWNERS", f"{pattern} @x").owners_of(path)
    theirs = gitignore(pattern).match_file(path)
    assert bool(ours) == theirs, (pattern, path)


@given(st.lists(st.sampled_from(["a", "b", "ab", "*", "a*", "?"]), min_size=1, max_size=3),
       st.lists(names, min_size=1, max_size=5))
def test_a_trailing_star_owns_only_the_directorys_files(parent, parts):
    path, star = "/".join(parts), "/".join(parent) + "/*"
    ours = bool(codeowners.parse("CODEOWNERS", f"{star} @x").owners_of(path))
    below = gitignore(star + "/").match_file(path)  # a file in a subdirectory of a match
    assert ours == (gitignore(star).match_file(path) and not below), (star, path)


def test_a_trailing_double_star_slash_owns_what_is_inside_directories_below() -> None:
    # `git check-ignore` with `a/**/`: a/x (a file directly in a/) is not matched, a/a/x is;
    # a changed path is a file, so `a/a` itself is not (pathspec's GitIgnoreSpec says it is).
    owners = codeowners.parse("CODEOWNERS", "a/**/ @x")
    assert [bool(owners.owners_of(path)) for path in ("a/x", "a/a", "a/a/x", "a/b/c/d", "b/a/x")] == \
        [False, False, True, True, False]
