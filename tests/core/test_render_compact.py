"""The compact section of a large stack, for any mix of kinds, actions and diff sizes: its
counts per kind add up to the stack's counts, it lists exactly the changed resources, and the
preview is one comment whenever the list of changes fits in one."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import render
from bot.core.outcome import StackOutcome
from bot.core.preview.model import Action, ChangeSet, ChangeStep, DiffKind, FieldDiff
from bot.core.render import comment, split
from bot.core.spec import EXT_GVK, KUBERNETES, Resource

KINDS = ("ConfigMap", "Service", "Deployment", "Secret")


def step(i: int, kind: str, action: Action, width: int) -> ChangeStep:
    res = Resource(f"v1:{kind}:shop:r{i:04d}", KUBERNETES, {"data": {"k": "x"}}, (),
                   {EXT_GVK: f"/v1, Kind={kind}"})
    diffs: tuple[FieldDiff, ...] = ()
    if action is not Action.UNCHANGED:
        diffs = (FieldDiff(("data", "k"), DiffKind.CHANGED, before="x" * width, after="y" * width),)
    return ChangeStep(res.id, action, res, res, diffs)


stacks = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(list(Action)), st.integers(0, 3000)),
    min_size=comment.LARGE_STACK + 1, max_size=comment.LARGE_STACK + 200,
).map(lambda rows: ChangeSet(tuple(step(i, *row) for i, row in enumerate(rows)), "shop", "dev", "dev"))


def kind_table(text: str) -> dict[str, dict[str, int]]:
    lines = text.split("\n")
    head = next(i for i, line in enumerate(lines) if line.startswith("| Kind |"))
    columns = [c.strip().split(" ", 1)[1] for c in lines[head].strip("|").split("|")[1:]]
    rows: dict[str, dict[str, int]] = {}
    for line in lines[head + 2:]:
        if not line.startswith("| `"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = {col: int(n) for col, n in zip(columns, cells[1:], strict=True)}
    return rows


@settings(max_examples=40, deadline=None)
@given(stacks)
def test_a_large_stack_is_counted_by_kind_and_lists_only_its_changes(cs: ChangeSet) -> None:
    parts = render.markdown([StackOutcome.previewed(cs)], key="pr-1", commit="0123abc")
    text = "\n".join(parts)
    table = kind_table(parts[0])
    for action in Action:
        column = f"{action} ({action.symbol})" if action is Action.REPLACE else str(action)
        shown = sum(row.get(column, 0) for row in table.values())
        assert shown == sum(1 for s in cs.steps if s.action is action)
    listed = set(re.findall(r"^\| `(v1:[^`]+)` \|", text, re.MULTILINE))
    assert listed == {s.id for s in cs.changed_steps()}
    unchanged = sum(1 for s in cs.steps if s.action is Action.UNCHANGED)
    if unchanged:
        assert f"{unchanged} unchanged resources are counted above, not listed." in text


@settings(max_examples=40, deadline=None)
@given(stacks, st.sampled_from([20_000, split.GITHUB_LIMIT]))
def test_a_large_preview_is_one_comment_whenever_its_list_of_changes_fits(cs: ChangeSet, limit: int) -> None:
    outcome = [StackOutcome.previewed(cs)]
    bare = comment.body(outcome, key="pr-1", diffs=False)
    parts = render.markdown(outcome, key="pr-1", limit=limit)
    assert all(len(p) <= limit for p in parts)
    if len(split.split_markdown(bare, limit)) == 1:
        assert len(parts) == 1
        full = comment.body(outcome, key="pr-1")
        assert (comment.LEFT_OUT in parts[0]) == (len(split.split_markdown(full, limit)) > 1)
