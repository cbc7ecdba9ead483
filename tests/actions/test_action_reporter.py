"""The Action reporter's annotations never carry a secret the run's stacks know: a value the
trusted policy marks secret is masked even where the stack's own config did not mark it."""

from __future__ import annotations

from actions.reporter import ActionReporter
from bot.core.mask import MASK
from bot.core.outcome import RunResult, StackOutcome
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance, RunPlan

SECRET = "tok-7f3e9a1c2b"


def test_problems_are_masked_with_every_secret_of_the_run() -> None:
    reporter = ActionReporter()
    failed = StackOutcome.refused("shop", "dev", "dev", f"login with {SECRET} refused")
    preview = RunPlan(Operation.PREVIEW, (), Provenance(Trigger.PULL_REQUEST))
    reporter.finished(preview, RunResult((failed,), frozenset({SECRET})))
    apply = RunPlan(Operation.APPLY, (), Provenance(Trigger.PUSH))
    reporter.finished(apply, RunResult((failed,), frozenset()))
    problems = reporter.problems()
    assert problems == [f"shop/dev: login with {MASK} refused"] * 2
