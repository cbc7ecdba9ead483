"""The drift issue's text (golden): the stack's difference as a preview shows it, masked, and
the two ways out."""

from __future__ import annotations

from pathlib import Path

from bot.core.adoption import AdoptedField, Adoption
from bot.core.outcome import StackOutcome
from bot.core.preview.model import Action, ChangeSet, ChangeStep, DiffKind, FieldDiff
from bot.core.render import drift_issue, drift_pull
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


def adoption() -> Adoption:
    return Adoption(
        {"shop/dev/manifests/settings.yaml": "data:\n  greeting: edited by hand\n"},
        (AdoptedField("v1:ConfigMap:shop:web", "data.greeting", "shop/dev/manifests/settings.yaml", 8,
                      "edited by hand"),
         AdoptedField("v1:ConfigMap:shop:web", "data.note", "shop/dev/manifests/settings.yaml", 9, removed=True),
         AdoptedField("v1:ConfigMap:shop:web", "data.token", reason="the live value holds a secret"),
         AdoptedField("apps/v1:Deployment:shop:web", "", reason="the whole object was deleted, not a field: "
                                                                "only fields are written back")))


def drifted() -> StackOutcome:
    planned = Resource("v1:ConfigMap:shop:web", KUBERNETES, {"data": {"greeting": "hello"}})
    live = Resource(planned.id, KUBERNETES, {"data": {"greeting": "edited by hand"}})
    diffs = (FieldDiff(("data", "greeting"), DiffKind.CHANGED, "edited by hand", "hello"),)
    return StackOutcome.previewed(ChangeSet((ChangeStep(planned.id, Action.UPDATE, live, planned, diffs),),
                                            project="shop", stack="dev", workspace="dev"))


def test_what_the_drift_pull_request_says() -> None:
    text = drift_pull.body(adoption(), project="shop", stack="dev", workspace="dev", branch_name="main",
                           commit="0123456789abcdef", checked_at="2026-12-05T06:00:00Z", issue=12,
                           secrets=["s3cr3t"])
    assert drift_pull.title("shop", "dev", "dev") == "Adopt what is live in shop/dev (dev)"
    assert drift_pull.branch("shop", "dev") == "shipmate/drift/shop/dev"
    assert_golden(Path(__file__).parent / "golden" / "drift" / "pull.md", text)


def test_the_issue_names_the_pull_request_or_says_why_nothing_maps_back() -> None:
    with_pull = drift_issue.body(drifted(), branch="main", commit="0123456789abcdef",
                                 checked_at="2026-12-05T06:00:00Z", adoption=adoption(), pull=13)
    assert "- or merge #13, which writes the live values of 2 fields into the config; 2 other fields do not " \
           "map back (listed there)." in with_pull
    assert "### Not written back" not in with_pull
    nothing = Adoption({}, adoption().left)
    without = drift_issue.body(drifted(), branch="main", commit="0123456789abcdef",
                               checked_at="2026-12-05T06:00:00Z", adoption=nothing)
    assert_golden(Path(__file__).parent / "golden" / "drift" / "issue-nothing-maps-back.md", without)
