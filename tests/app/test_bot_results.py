"""The bot's result comments and status texts, against golden files in fixtures/golden/bot/.

Regenerate after an intended change with
`SHIPMATE_UPDATE_GOLDEN=1 pytest tests/app/test_bot_results.py` and review the diff.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app.drift import DriftSummary, report
from bot.app.executor import Outcome
from bot.app.stacks import StackIdentity, outcome_of
from bot.core.lock import Lock
from bot.core.outcome import RunResult, StackOutcome, repository_failure
from bot.core.preview.model import Action, ChangeSet, ChangeStep
from bot.core.release import Release, Trigger
from bot.core.render.results import (
    FORK_NOTICE,
    locked_notice,
    operation_comment,
    refusal,
    unlocked_comment,
)
from bot.core.render.statuses import apply_result
from bot.core.render.statuses import preview as status_of_preview
from bot.core.spec import Resource, State
from tests.golden import assert_golden


def preview_status(result: RunResult) -> tuple[str, str]:
    return status_of_preview(len(result.stacks), result.failed, result.counts)

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "bot"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "hunter2-registry-pass"


def golden(name: str, text: str) -> None:
    assert_golden(GOLDEN / name, text)


def step(rid: str, action: Action) -> ChangeStep:
    res = Resource(rid, "Kubernetes", {"metadata": {"name": rid.rsplit(":", 1)[-1]}})
    return ChangeStep(rid, action, None if action is Action.CREATE else res, None if action is Action.DELETE else res)


def changeset(project: str, stack: str, workspace: str, *steps: ChangeStep) -> ChangeSet:
    return ChangeSet(tuple(steps), project, stack, workspace)


def result(project: str, stack: str, workspace: str, revision: int, cs: ChangeSet, outcome: Outcome,
           error: str | None = None) -> StackOutcome:
    release = Release.start(project, workspace, stack, latest=None, now=NOW, trigger=Trigger.COMMENT,
                            actor="alice", commit="1a2b3c4d5e6f", pull_request=7)
    release = release.with_revision(revision)
    from bot.core.release import Phase

    release = release.with_phase(Phase.PREVIEWING, NOW).with_phase(Phase.APPLYING, NOW)
    release = release.failed(NOW, error) if error else release.succeeded(NOW)
    return outcome_of(StackIdentity(project, stack, workspace, f"{project}/{stack}"), cs, release, outcome)


def shop_dev() -> StackOutcome:
    cs = changeset("shop", "dev", "dev",
                   step("v1:Namespace:shop", Action.UNCHANGED),
                   step("v1:ConfigMap:shop:web.settings", Action.UPDATE),
                   step("apps/v1:Deployment:shop:shop-dev-web", Action.CREATE))
    outcome = Outcome(State(), succeeded=("v1:ConfigMap:shop:web.settings", "apps/v1:Deployment:shop:shop-dev-web"))
    return result("shop", "dev", "dev", 3, cs, outcome)


def test_a_successful_apply() -> None:
    unchanged = changeset("data", "dev", "dev", step("hashicorp:null:null_resource:warehouse", Action.UNCHANGED))
    runs = [shop_dev(), result("data", "dev", "dev", 5, unchanged, Outcome(State()))]
    text = operation_comment(
        runs, title="Shipmate apply", lead="@alice asked to apply commit `1a2b3c4`", state_branch="shipmate-state",
        footer=["This pull request keeps the locks of `data/dev`, `shop/dev` until it is merged or closed; "
                "comment `/unlock` to release them sooner."],
    )
    golden("apply-succeeded.md", text)
    assert apply_result(runs) == ("success", "2 stacks applied: shop/dev r3, data/dev r5")


def test_a_partly_failed_apply_masks_secrets() -> None:
    cs = changeset("shop", "prod", "prod",
                   step("v1:Secret:shop-prod:registry", Action.CREATE),
                   step("apps/v1:Deployment:shop-prod:shop-prod-web", Action.CREATE),
                   step("batch/v1:CronJob:shop-prod:shop-prod-report", Action.CREATE))
    outcome = Outcome(
        State(), succeeded=("v1:Secret:shop-prod:registry",),
        failed={"apps/v1:Deployment:shop-prod:shop-prod-web":
                f"admission webhook denied: image pull secret {SECRET} rejected\nsecond line"},
        skipped={"batch/v1:CronJob:shop-prod:shop-prod-report": "depends on a failed resource"},
    )
    failed = result("shop", "prod", "prod", 2, cs, outcome,
                    error=f"1 succeeded, 1 failed, 1 skipped\nlogin {SECRET} refused")
    locked = StackOutcome.refused("data", "prod", "prod",
                              "data/prod is locked by pr:acme/config#3 (pull request #3) until "
                              "2026-03-15T12:00:00Z (token 4); cannot acquire the lock.")
    runs = [shop_dev(), failed, locked]
    text = operation_comment(runs, title="Shipmate apply", lead="@alice asked to apply commit `1a2b3c4`",
                             secrets=[SECRET], state_branch="shipmate-state")
    assert SECRET not in text
    golden("apply-failed.md", text)
    assert apply_result(runs) == ("failure", "2 of 3 stacks failed: shop/prod, data/prod")


def test_the_apply_on_merge_lists_the_released_locks() -> None:
    lock = Lock("shop", "dev", "pr:acme/config#7", 4, NOW, NOW + timedelta(days=14), 7, "comment-55")
    from bot.core.render.results import lock_lines

    text = operation_comment(
        [shop_dev()], title="Shipmate apply on merge", lead="Merged as `9f8e7d6`; applied from that commit",
        state_branch="shipmate-state",
        footer=["The locks this pull request held are released:", "", *lock_lines([lock])],
    )
    golden("merge.md", text)


def test_locks_refusals_and_fork_notice() -> None:
    locks = [
        Lock("shop", "dev", "pr:acme/config#3", 2, NOW, NOW + timedelta(days=14), 3),
        Lock("data", "dev", "push:acme/config@abc123", 9, NOW, NOW + timedelta(minutes=15)),
    ]
    text = "\n---\n".join([
        unlocked_comment(locks, "Pull request closed"),
        unlocked_comment([], "@alice asked to unlock"),
        "\n".join(locked_notice(locks)),
        refusal("@eve has read permission on this repository; /apply needs write.", "eve", "/apply"),
        FORK_NOTICE,
    ])
    golden("locks-and-refusals.md", text)
    assert locked_notice([]) == []


def test_preview_and_drift_status_texts() -> None:
    cs = changeset("shop", "dev", "dev", step("v1:Namespace:shop", Action.CREATE), step("v1:Service:shop:web", Action.UPDATE))
    ok = RunResult((StackOutcome.previewed(cs),))
    assert preview_status(ok) == ("success", "1 stack: 1 to create, 1 to update, 0 to delete, 0 unchanged")
    assert preview_status(RunResult()) == ("success", "no stacks changed")
    broken = RunResult((StackOutcome.previewed(cs), repository_failure("shop/prod/main.yaml:3:5: web: unknown field")))
    assert preview_status(broken) == ("failure", "1 of 2 stacks failed to preview")
    assert DriftSummary("acme/config", "abc", ("shop/dev", "shop/prod"), ("shop/prod",), ()).status == (
        "failure", "drift in 1 of 2 stacks: shop/prod")
    assert DriftSummary("acme/config", "abc", ("shop/dev",), (), ()).status == ("success", "no drift in 1 stack")
    entry = report(StackOutcome.previewed(cs), "abc", "2026-03-01T12:00:00Z")
    assert entry == {
        "checkTime": "2026-03-01T12:00:00Z", "commit": "abc", "stack": "dev", "drifted": True,
        "counts": {"create": 1, "update": 1, "delete": 0, "unchanged": 0},
        "changes": [{"id": "v1:Namespace:shop", "action": "Create"}, {"id": "v1:Service:shop:web", "action": "Update"}],
    }
    replaced = changeset("shop", "dev", "dev", step("hashicorp:null:null_resource:seed", Action.REPLACE))
    assert report(StackOutcome.previewed(replaced), "abc", "t")["counts"] == {
        "create": 0, "update": 0, "delete": 0, "unchanged": 0, "replace": 1}
    failed = report(StackOutcome.refused("shop", "dev", "dev", f"cannot log in with {SECRET}"), "abc", "t", [SECRET])
    assert failed["drifted"] is None and SECRET not in failed["error"]


def test_no_runs() -> None:
    assert apply_result([]) == ("success", "no stacks to apply")
    assert "no stacks to run" in operation_comment([], title="Shipmate apply", lead="@alice asked to apply commit `1a2b3c4`")
