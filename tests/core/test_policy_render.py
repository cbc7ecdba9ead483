"""What people read when an apply is held to its preview or its owners: golden texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import codeowners
from bot.core.commands import Verb
from bot.core.config.settings import parse_settings
from bot.core.errors import PolicyDenied
from bot.core.policy import PullFacts, Review, StackClaim, authorize_stacks
from bot.core.render import refusals
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "approvals"
HEAD = "3f2a9c0" + "0" * 33


def test_refusals_of_a_pinned_apply() -> None:
    texts = [
        refusals.no_preview(HEAD),
        refusals.preview_moved(["live"]),
        refusals.preview_moved(["spec", "changes", "live"]),
        refusals.preview_moved([]),
        refusals.preview_moved(["live"], merged=True),
        refusals.preview_moved([], merged=True),
    ]
    assert_golden(GOLDEN / "pinned.txt", "\n\n".join(texts) + "\n")


def test_refusal_naming_who_may_approve_each_stack() -> None:
    rules = parse_settings("shipmate.yaml", (
        "requirements: {apply: [approved, code_owners]}\n"
        "permissions: {workspaces: {prod: {apply: maintain}}, projects: {payments: {approve: maintain}}}\n"
    )).rules()
    owners = codeowners.parse(".github/CODEOWNERS", "* @alice\n/shop/dev/ @dana\n/payments/ @carol @org/payments-leads @dee\n")
    pull = PullFacts(12, "bob", HEAD, False, True, (
        Review("erin", "APPROVED", HEAD, permission="write"),
        Review("carol", "APPROVED", HEAD, permission="write"),
    ))
    claims = (
        StackClaim("shop", "dev", "dev", owners.groups(["shop/dev/main.yaml"])),
        StackClaim("shop", "prod", "prod", owners.groups(["shop/prod/main.yaml"])),
        StackClaim("payments", "dev", "dev", owners.groups(["payments/dev/main.yaml"])),
        StackClaim("shop", "staging", "staging", owners.groups(["shop/staging/main.yaml"]), reviews_from=1),
    )
    with pytest.raises(PolicyDenied) as err:
        authorize_stacks(Verb.APPLY, "bob", "write", pull, rules, claims)
    assert_golden(GOLDEN / "owners.txt", str(err.value) + "\n")
