"""The refusal reasons, status descriptions, job-failure comments and the Action's job summary
of `bot.core.render` (refusals, statuses, failures, results.action_summary), against golden
files in fixtures/golden/bot/; the short reason of a status is checked for any message."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.core import mask
from bot.core.outcome import StackOutcome
from bot.core.render import failures, refusals, statuses
from bot.core.render.results import action_summary, invalid_policy_apply
from tests.golden import assert_golden

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "bot"


def test_refusal_reasons() -> None:
    text = "\n\n".join([
        refusals.invalid_policy("main", "shipmate.yaml:3: unknown field 'pol'"),
        refusals.invalid_policy_preview("main", "shipmate.yaml:3: unknown field 'pol'"),
        refusals.applies_on_merge_only("on-merge", "main"),
        refusals.unreadable_config("1a2b3c4d5e6f", "shop/project.yaml:1: not a mapping"),
        refusals.no_matching_stack(["shop/dev", "data/prod"]),
        refusals.no_matching_stack([]),
        refusals.no_such_stack("shop", "gone", "release/`x`"),
        refusals.kept_locks(["shop/prod", "data/dev", "shop/prod"]),
        invalid_policy_apply(merged=True, branch="main", error="shipmate.yaml:3: unknown field 'pol'"),
        invalid_policy_apply(merged=False, branch="main", error="```\nfenced\n```"),
    ]) + "\n"
    assert_golden(GOLDEN / "refusal-reasons.md", text)


def test_job_failure_comments_and_statuses() -> None:
    kinds = [
        failures.JobFailureText("bug", "KeyError: 'x'", 1, "a1b2c3", 12, "d-1"),
        failures.JobFailureText("stopped", "", 3, "", 13, "d-2"),
        failures.JobFailureText("exhausted", "GitHub answered 502\nBad gateway", 5, "", 14, "d-3"),
        failures.JobFailureText("permanent", "no such installation", 1, "", 0, "d-4"),
    ]
    parts = []
    for failure in kinds:
        parts.append(f"status: {failures.status_description(failure)}")
        parts.extend(failures.error_lines(failure, "pull request event `opened`"))
        parts.append("")
    assert_golden(GOLDEN / "job-failures.md", "\n".join(parts))


def test_the_action_job_summary() -> None:
    runs = [
        StackOutcome("shop", "dev", "dev", revision=3),
        StackOutcome("data", "prod", "prod", revision=5, error="apply failed"),
        StackOutcome.refused("shop", "prod", "prod", "locked"),
    ]
    text = action_summary("apply", "acme/infra", ["## Preview\n\nNo changes.\n"], runs, "no drift in 2 stacks")
    text += "\n" + action_summary("preview", "acme/infra", [], [], None)
    assert_golden(GOLDEN / "action-summary.md", text)


def test_status_descriptions() -> None:
    runs = [StackOutcome("shop", "prod", "prod", revision=2, error="Error: token hunter2-s3cret\n\n  with null_resource.x,\n")]
    described = statuses.apply_failure(runs, mask.Literals.of(["hunter2-s3cret"]))
    assert described.startswith("1 of 1 stack failed: shop/prod: Error: token ") and "hunter2" not in described
    assert statuses.drift(["a/b", "c/d"], ["c/d"], []) == ("failure", "drift in 1 of 2 stacks: c/d")
    assert statuses.invalid_policy("bad\n\nfield") == "shipmate.yaml is invalid: bad field"


@given(st.text(), st.integers(min_value=2, max_value=200))
def test_a_short_reason_is_one_line_within_its_limit(text: str, limit: int) -> None:
    short = statuses.short_reason(text, limit)
    assert len(short) <= limit
    assert "\n" not in short
    assert short == "" or not short.startswith(" ")
