"""The check runs of a GitHub App installation: one per stack, their texts (golden), the Apply
button within GitHub's limits, and a click read back as the `/apply` it stands for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.core import commands
from bot.core.outcome import StackOutcome
from bot.core.policy_code import Finding, PolicyResult
from bot.core.preview.model import Action, ChangeSet, ChangeStep
from bot.core.render import checks
from bot.core.spec import KUBERNETES, Resource
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "checks"


def outcome(*, changed: bool = True, secret: str = "") -> StackOutcome:
    web = Resource("v1:ConfigMap:shop:web", KUBERNETES, {"kind": "ConfigMap", "data": {"a": "1", "token": secret}})
    old = Resource(web.id, KUBERNETES, {"kind": "ConfigMap", "data": {"a": "0", "token": ""}})
    step = ChangeStep(web.id, Action.UPDATE, old, web) if changed else ChangeStep(web.id, Action.UNCHANGED, web, web)
    return StackOutcome.previewed(ChangeSet((step,), project="shop", stack="dev", workspace="dev"))


def render(run: checks.CheckRunText) -> str:
    buttons = [f"[{a.label}] {a.description} ({a.identifier})" for a in run.actions]
    return "\n".join([f"name: {run.name}", f"external_id: {run.external_id}", f"status: {run.status}",
                      f"conclusion: {run.conclusion}", f"title: {run.title}", f"buttons: {buttons}", "",
                      run.summary])


def test_what_a_check_run_shows() -> None:
    blocked = replace(outcome(), policy=PolicyResult((Finding("shipmate.images", "web runs nginx:latest"),)))
    cases = [
        checks.preview_run(outcome(secret="s3cr3t"), secrets=["s3cr3t"]),
        checks.preview_run(outcome(changed=False)),
        checks.preview_run(blocked),
        checks.preview_run(StackOutcome.refused("shop", "dev", "dev", "shop/dev/main.yaml:3: image: not a string")),
        checks.applying_run("shop", "dev", "bob", "0123456789abcdef"),
        checks.applied_run(replace(outcome(), revision=4, phase="succeeded"), actor="bob", sha="0123456789abcdef",
                           state_branch="shipmate-state"),
        checks.applied_run(replace(outcome(), revision=5, error="apply failed: v1:ConfigMap:shop:web: forbidden"),
                           actor="bob", sha="0123456789abcdef"),
    ]
    text = "\n\n========\n\n".join(render(run) for run in cases)
    assert "s3cr3t" not in text
    assert_golden(GOLDEN / "runs.md", text)


def test_buttons_keep_within_githubs_limits() -> None:
    long = replace(outcome(), project="a-project-with-a-long-name", stack="and-a-long-stack")
    [button] = checks.preview_run(long).actions
    assert len(button.label) <= 20 and len(button.description) <= 40 and len(button.identifier) <= 20
    assert button.description == "Apply this stack as previewed"


def test_a_long_preview_is_cut_at_a_line_within_githubs_limit() -> None:
    steps = tuple(ChangeStep(f"v1:ConfigMap:shop:c{i:05d}", Action.CREATE, None,
                             Resource(f"v1:ConfigMap:shop:c{i:05d}", KUBERNETES, {"data": {"k": "v" * 200}}))
                  for i in range(2000))
    run = checks.preview_run(StackOutcome.previewed(ChangeSet(steps, project="shop", stack="dev", workspace="dev")))
    assert len(run.summary) <= checks.SUMMARY_LIMIT
    assert run.summary.endswith("the rest of this preview is in the pull request's preview comment.")


# Stack and project names as the comment grammar reads them (directory names).
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=30).filter(
    lambda name: not name.startswith("-") and ".." not in name)


@given(names, names)
def test_a_click_on_apply_reads_back_as_the_apply_of_that_stack(project: str, stack: str) -> None:
    text = checks.click_command(checks.APPLY_ACTION, checks.external_id(project, stack))
    assert text is not None
    parsed = commands.parse(text)
    assert isinstance(parsed, commands.Command)
    assert (parsed.verb, parsed.project, parsed.stack) == (commands.Verb.APPLY, project, stack)


@given(st.text(max_size=40), st.text(max_size=40))
def test_anything_else_is_no_command(identifier: str, external: str) -> None:
    text = checks.click_command(identifier, external)
    if text is not None:
        assert identifier == checks.APPLY_ACTION
        assert isinstance(commands.parse(text), commands.Command)
