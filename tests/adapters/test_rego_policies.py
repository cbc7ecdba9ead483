"""Rego policies through regopy (bot.adapters.rego) on the Specs Shipmate generates for the
acme example, with the policies shipped in docs/examples/policies: each one denies or warns
where it should, and a policy file that does not compile names its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.localfs import LocalConfigReader
from bot.adapters.rego import RegoEngine
from bot.app.configrepo import generate_from
from bot.core.policy_code import (
    PolicyError,
    PolicyFile,
    PolicyResult,
    decide,
    policy_input,
    queries,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "policies"
ACME = ROOT / "fixtures" / "configs" / "acme"


def examples(*names: str) -> tuple[PolicyFile, ...]:
    return tuple(PolicyFile(f"policies/{n}.rego", (EXAMPLES / f"{n}.rego").read_text()) for n in names)


def evaluate(files: tuple[PolicyFile, ...], document: dict[str, Any]) -> PolicyResult:
    return decide(RegoEngine().evaluate(files, queries(files), document))


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    copy = tmp_path / "acme"
    shutil.copytree(ACME, copy, symlinks=True)
    return copy


def document(repo: Path, stack: str) -> dict[str, Any]:
    project, name = stack.split("/")
    spec = generate_from(LocalConfigReader(repo), stack)
    return policy_input(spec, None, project=project, stack=name, workspace=name)


def messages(result: PolicyResult) -> list[str]:
    return [f.message for f in result.failures]


def test_latest_and_untagged_images_are_denied(acme: Path) -> None:
    main = acme / "shop" / "dev" / "main.yaml"
    main.write_text(main.read_text().replace("image: nginx:1.25", "image: nginx:latest", 1))
    result = evaluate(examples("images"), document(acme, "shop/dev"))
    assert [f.package for f in result.failures] == ["shipmate.images"]
    assert "runs nginx:latest; pin a version instead of :latest" in messages(result)[0]
    main.write_text(main.read_text().replace("image: nginx:latest", "image: registry.acme.example:5000/web", 1))
    assert "without a tag" in messages(evaluate(examples("images"), document(acme, "shop/dev")))[0]
    main.write_text(main.read_text().replace("image: registry.acme.example:5000/web", "image: nginx:1.25", 1))
    assert evaluate(examples("images"), document(acme, "shop/dev")) == PolicyResult()


def test_containers_without_limits_are_denied_and_without_requests_warned(acme: Path) -> None:
    result = evaluate(examples("limits"), document(acme, "shop/prod"))
    # The nightly report job names no resources: its CronJob's pod template is not a
    # workload template, so only the web Deployment's containers are checked here.
    assert result.failures == () and result.warnings == ()
    main = acme / "shop" / "dev" / "main.yaml"
    text = main.read_text()
    start = text.index("        resources:")
    end = text.index("        readinessProbe:")
    main.write_text(text[:start] + text[end:])
    result = evaluate(examples("limits"), document(acme, "shop/dev"))
    assert sorted(messages(result)) == [
        "apps/v1:Deployment:shop:shop-dev-web: container web has no cpu limit",
        "apps/v1:Deployment:shop:shop-dev-web: container web has no memory limit",
    ]
    assert [f.message for f in result.warnings] == [
        "apps/v1:Deployment:shop:shop-dev-web: container web requests nothing; the scheduler will guess"]


def test_a_public_load_balancer_is_denied_in_prod_only(acme: Path) -> None:
    prod = evaluate(examples("loadbalancers"), document(acme, "shop/prod"))
    assert len(prod.failures) == 1 and "a public LoadBalancer in prod" in prod.failures[0].message
    staged = document(acme, "shop/prod") | {"workspace": "staging"}
    assert evaluate(examples("loadbalancers"), staged) == PolicyResult()


def test_terraform_types_are_allowlisted_per_workspace(acme: Path) -> None:
    assert evaluate(examples("terraform"), document(acme, "data/dev")) == PolicyResult()
    doc = document(acme, "data/dev")
    doc["resources"][0]["extensions"]["resourceType"] = "aws_iam_user"
    result = evaluate(examples("terraform"), doc)
    assert messages(result) == [
        "hashicorp:null:null_resource:exporter: Terraform aws_iam_user is not allowed in workspace dev"]


def test_rego_v0_rules_and_structured_results_are_read_as_conftest_reads_them() -> None:
    files = (PolicyFile("policies/old.rego", 'package main\ndeny[msg] { input.x == 1; msg := "x is one" }\n'),
             PolicyFile("policies/new.rego", "package team.rules\nimport rego.v1\n"
                                             'warn contains {"msg": "shaped"} if input.x == 1\n'
                                             "violation contains \"also\" if input.x == 1\n"))
    result = evaluate(files, {"x": 1})
    assert [(f.package, f.message) for f in result.failures] == [("main", "x is one"), ("team.rules", "also")]
    assert [(f.package, f.message) for f in result.warnings] == [("team.rules", "shaped")]
    assert evaluate(files, {"x": 2}) == PolicyResult()


def test_a_policy_that_does_not_compile_names_its_file_and_line() -> None:
    broken = PolicyFile("policies/broken.rego", "package main\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n")
    with pytest.raises(PolicyError) as raised:
        RegoEngine().evaluate((broken,), queries((broken,)), {})
    assert raised.value.where == "policies/broken.rego:5"
    assert "assignment" in raised.value.message.lower()
