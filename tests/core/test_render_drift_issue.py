"""The drift issue's text (golden): the stack's difference as a preview shows it, masked, and
the two ways out."""

from __future__ import annotations

from pathlib import Path

from bot.core.outcome import StackOutcome
from bot.core.preview.model import Action, ChangeSet, ChangeStep, DiffKind, FieldDiff
from bot.core.render import drift_issue
from bot.core.spec import KUBERNETES, Resource
from tests.golden import assert_golden


def test_what_a_drift_issue_says() -> None:
    planned = Resource("v1:ConfigMap:shop:web", KUBERNETES, {"data": {"greeting": "hello", "token": "s3cr3t"}})
    live = Resource(planned.id, KUBERNETES, {"data": {"greeting": "edited by hand", "token": "leaked"}})
    diffs = (FieldDiff(("data", "greeting"), DiffKind.CHANGED, "edited by hand", "hello"),
             FieldDiff(("data", "token"), DiffKind.CHANGED, "leaked", "s3cr3t"))
    outcome = StackOutcome.previewed(ChangeSet((ChangeStep(planned.id, Action.UPDATE, live, planned, diffs),),
                                               project="shop", stack="dev", workspace="dev"))
    text = drift_issue.body(outcome, branch="main", commit="0123456789abcdef", checked_at="2026-12-05T06:00:00Z",
                            secrets=["s3cr3t"])
    assert "s3cr3t" not in text
    assert drift_issue.title(outcome) == "Drift in shop/dev (dev)"
    assert_golden(Path(__file__).parent / "golden" / "drift" / "issue.md", text)
