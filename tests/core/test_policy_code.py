"""Policy as code, the pure part (bot.core.policy_code): which files and rules, the input
document, and reading what the rules said as conftest reads it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.core.policy_code import (
    MAX_MESSAGE,
    Finding,
    PolicyError,
    PolicyFile,
    PolicyResult,
    decide,
    failed,
    policy_files,
    policy_input,
    queries,
)
from bot.core.preview.model import Action, ChangeSet, ChangeStep
from bot.core.spec import KUBERNETES, Resource, Spec


def test_only_rego_files_directly_under_policies_count() -> None:
    files = policy_files([("policies/b.rego", "package b"), ("policies/a.rego", "package a"),
                          ("policies/sub/c.rego", "package c"), ("policies/readme.md", "x"), ("other/d.rego", "package d")])
    assert [f.path for f in files] == ["policies/a.rego", "policies/b.rego"]


def test_every_package_is_asked_for_its_failures_and_warnings() -> None:
    files = (PolicyFile("policies/a.rego", "# about\npackage team.rules\nimport rego.v1\n"),
             PolicyFile("policies/b.rego", "package main\n"), PolicyFile("policies/c.rego", "# no package\n"))
    assert queries(files) == ("data.main.deny", "data.main.violation", "data.main.warn",
                              "data.team.rules.deny", "data.team.rules.violation", "data.team.rules.warn")


def test_the_input_holds_the_spec_the_changes_and_the_pull_request() -> None:
    web = Resource("v1:ConfigMap:shop:web", KUBERNETES, {"kind": "ConfigMap", "data": {"a": "1"}})
    old = Resource(web.id, KUBERNETES, {"kind": "ConfigMap", "data": {"a": "0"}})
    changes = ChangeSet((ChangeStep(web.id, Action.UPDATE, old, web),), project="shop", stack="dev", workspace="dev")
    doc = policy_input(Spec((web,)), changes, project="shop", stack="dev", workspace="dev",
                       pull_request={"number": 7, "author": "bob"})
    assert doc == {
        "project": "shop", "stack": "dev", "workspace": "dev",
        "resources": [{"id": web.id, "type": KUBERNETES, "attributes": {"kind": "ConfigMap", "data": {"a": "1"}}}],
        "changes": [{"id": web.id, "type": KUBERNETES, "action": str(Action.UPDATE),
                     "before": {"kind": "ConfigMap", "data": {"a": "0"}}, "after": {"kind": "ConfigMap", "data": {"a": "1"}}}],
        "pull_request": {"number": 7, "author": "bob"},
    }


def test_answers_are_read_in_every_shape_conftest_allows() -> None:
    result = decide({
        "data.main.deny": ["b", "a", "a"],
        "data.main.warn": {"old style": True, "ignored": False},
        "data.team.violation": [{"msg": "shaped", "details": {}}],
        "data.team.warn": True,
        "data.other.deny": False,
    })
    assert result.failures == (Finding("main", "a"), Finding("main", "b"), Finding("team", "shaped"))
    assert result.warnings == (Finding("main", "old style"), Finding("team", "(no message)"))
    assert result.blocks
    assert not decide({"data.main.warn": ["careful"]}).blocks


def test_a_policy_that_cannot_be_evaluated_holds_the_stack_back() -> None:
    result = failed(PolicyError("policies/a.rego:3", "unexpected token"))
    assert result == PolicyResult(error="policies/a.rego:3: unexpected token") and result.blocks


@given(st.lists(st.text(min_size=1, max_size=MAX_MESSAGE * 2), max_size=8))
def test_messages_are_sorted_unique_one_line_and_bounded(messages: list[str]) -> None:
    found = decide({"data.p.deny": messages}).failures
    texts = [f.message for f in found]
    assert texts == sorted(set(texts))
    assert all("\n" not in t and len(t) <= MAX_MESSAGE for t in texts)
    assert len(found) <= len(messages)


def test_what_a_pull_request_reads_of_the_policies() -> None:
    from pathlib import Path

    from bot.core.render.comment import policy_lines
    from tests.golden import assert_golden

    cases = [
        PolicyResult(
            (Finding("shipmate.images", "apps/v1:Deployment:shop:web: container web runs nginx:latest; pin a version"),
             Finding("shipmate.network", "v1:Service:shop:web: a public <LoadBalancer> in prod")),
            (Finding("shipmate.limits", "apps/v1:Deployment:shop:web: container web requests nothing"),),
        ),
        PolicyResult(failures=(Finding("main", "one thing"),)),
        PolicyResult(warnings=(Finding("main", "careful"),)),
        failed(PolicyError("policies/images.rego:5", "Invalid assignment operator")),
        PolicyResult(),
    ]
    text = "\n----\n".join("\n".join(policy_lines(case)) for case in cases)
    assert_golden(Path(__file__).parent / "golden" / "policies" / "results.md", text + "\n")
