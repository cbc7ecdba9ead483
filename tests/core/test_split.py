"""Splitting a comment body to fit GitHub's limit without breaking Markdown or losing lines."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.render import parse_marker, split_markdown, split_parts
from bot.core.render.split import Marker

MARKER = "<!-- shipmate:preview key=pr-1 -->"


def balanced(text: str) -> bool:
    """Every fence and <details> opened in `text` is closed in it (an independent check)."""
    fence = ""
    depth = 0
    for line in text.split("\n"):
        m = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence:
            if line.strip() and set(line.strip()) == {fence[0]} and len(line.strip()) >= len(fence):
                fence = ""
            continue
        if m:
            fence = m.group(1)
            continue
        depth += len(re.findall(r"<details\b", line)) - len(re.findall(r"</details>", line))
        if depth < 0:
            return False
    return not fence and depth == 0


def test_a_body_that_fits_is_one_part_with_its_marker() -> None:
    body = MARKER + "\n## Title\n\ntext"
    assert split_markdown(body) == ["<!-- shipmate:preview key=pr-1 part=1/1 -->\n## Title\n\ntext"]
    marker = parse_marker(split_markdown(body)[0])
    assert marker == Marker("preview", (("key", "pr-1"), ("part", "1/1")))
    assert parse_marker("## not ours") is None


def test_fences_and_details_are_closed_and_reopened() -> None:
    diff = [f"+ line {i:04d} " + "x" * 50 for i in range(60)]
    body = "\n".join(
        [
            MARKER,
            "intro",
            "<details><summary>Update <code>a</code></summary>",
            "",
            "````diff",
            *diff,
            "````",
            "",
            "</details>",
            "end",
        ]
    )
    parts = split_markdown(body, 1024)
    assert len(parts) > 2
    for i, part in enumerate(parts, 1):
        assert len(part) <= 1024 and balanced(part)
        assert part.startswith(
            f"<!-- shipmate:preview key=pr-1 part={i}/{len(parts)} -->\n**Part {i} of {len(parts)}**\n"
        )
    assert "<details><summary>Update <code>a</code> (continued)</summary>" in parts[1]
    assert "\n````diff\n" in parts[1] and parts[0].endswith("````\n</details>")


def test_cuts_prefer_top_level_boundaries() -> None:
    blocks = []
    for n in range(12):
        blocks += [
            f"<details><summary>r{n}</summary>",
            "",
            "```diff",
            *[f"+ {n} {'y' * 30}" for _ in range(8)],
            "```",
            "",
            "</details>",
            "",
        ]
    parts = split_parts(MARKER + "\n" + "\n".join(blocks), 1500)
    assert len(parts) > 1
    assert all(p.tail == () for p in parts[:-1])  # every cut fell between two resources


def test_inside_one_diff_cuts_fall_between_hunks() -> None:
    hunks = []
    for n in range(80):
        hunks += [f"@@ data.key-{n:03d} @@", f"- old value {n} " + "o" * 20, f"+ new value {n}"]
    body = "\n".join([MARKER, "<details><summary>big</summary>", "", "```diff", *hunks, "```"])
    parts = split_parts(body + "\n\n</details>", 1200)
    assert len(parts) > 2
    assert all(p.lines[0].startswith("@@ ") for p in parts[1:])


def test_an_overlong_line_is_the_only_thing_cut() -> None:
    body = "\n".join([MARKER, "short", "```", "z" * 5000, "```", "after"])
    parts = split_parts(body, 1000)
    assert all(len(p.text()) <= 1000 for p in parts)
    carried = [line for p in parts for line in p.lines]
    assert carried[0] == "short" and carried[-1] == "after"
    cut = [line for line in carried if line.startswith("z")]
    assert len(cut) == 1 and re.search(r" … \[\d+ characters cut\]$", cut[0])
    assert sum(p.truncated for p in parts) == 1


def test_limit_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        split_markdown("x", 100)


# --- properties ---------------------------------------------------------------------------------

TEXT = st.text(alphabet="abcxyz +-@()[]=:", max_size=90)


@st.composite
def bodies(draw: st.DrawFn) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["para", "fence", "details", "long"]))
        if kind == "para":
            out += draw(st.lists(TEXT, max_size=6))
        elif kind == "long":
            out.append("q" * draw(st.integers(100, 400)))
        else:
            fence = draw(st.sampled_from(["```", "````", "~~~"]))
            inner = [
                fence + draw(st.sampled_from(["", "diff", "text"])),
                *draw(st.lists(TEXT, max_size=30)),
                fence,
            ]
            if kind == "details":
                inner = ["<details><summary>s</summary>", "", *inner, "", "</details>"]
            out += inner
    return out


@settings(max_examples=120, deadline=None)
@given(bodies(), st.integers(512, 4000))
def test_split_never_exceeds_the_limit_and_loses_no_line(lines: list[str], limit: int) -> None:
    body = "\n".join([MARKER, *lines])
    parts = split_parts(body, limit)
    texts = split_markdown(body, limit)
    assert texts == [p.text() for p in parts]
    carried = [line for p in parts for line in p.lines]
    assert carried == lines  # no line here is longer than a part
    for i, part in enumerate(texts, 1):
        assert len(part) <= limit
        assert balanced(part)
        marker = parse_marker(part)
        assert (
            marker is not None
            and marker.get("key") == "pr-1"
            and marker.get("part") == f"{i}/{len(texts)}"
        )
        if len(texts) > 1:
            assert f"**Part {i} of {len(texts)}**" in part


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=8), st.integers(512, 1500))
def test_overlong_lines_are_cut_to_fit(lengths: list[int], limit: int) -> None:
    lines = ["w" * n for n in lengths]
    parts = split_parts("\n".join(lines), limit)
    carried = [line for p in parts for line in p.lines]
    assert len(carried) == len(lines)
    for original, got in zip(lines, carried, strict=True):
        assert got == original or (
            got.startswith(original[: len(got) // 2]) and "characters cut]" in got
        )
    assert all(len(p.text()) <= limit for p in parts)
