"""Owners per stack end to end: CODEOWNERS on the default branch, `requirements.apply:
[code_owners]` and a per-workspace permission, through the simulated GitHub and Kubernetes
with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.cli.sandbox import REPO, Sandbox
from tests.e2e.world import bodies, comment, open_pr, replace

pytestmark = pytest.mark.e2e

SETTINGS = """\
backend: {branch: shipmate-state}
requirements: {apply: [code_owners]}
permissions:
  apply: write
  workspaces:
    prod: {apply: maintain}
generate: {namespace: extension, terraformOnlyNamespace: false, appMetadata: apply}
"""
CODEOWNERS = "# who approves which stack\n*  @alice\n/shop/dev/  @dana\n/shop/prod/  @alice\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    files = {"shipmate.yaml": SETTINGS, ".github/CODEOWNERS": CODEOWNERS}
    with Sandbox.start(tmp_path_factory.mktemp("owners"), files=files) as sandbox:
        sandbox.github.add_user("dana", "tok-dana", "write")
        yield sandbox


def test_each_stacks_owners_and_its_workspaces_permission(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {
        "shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: warn"),
        "shop/prod/main.yaml": replace("LOG_LEVEL: info", "LOG_LEVEL: warn"),
    }, title="Quieter logs everywhere")
    box.settle()
    number = pr.number

    # bob may write, but prod needs maintain; dev's owner has not approved.
    asked = comment(box, "bob", number, "/apply")
    box.settle()
    [refused] = bodies(box, number, after=asked.id)
    assert refused == (
        "**`/apply` was not run** (requested by @bob): /apply requirements not met:\n"
        "- shop/dev (dev): needs an approval at the current head "
        f"({pr.head.sha[:7]}) from @dana, with at least write permission\n"
        "- shop/prod (prod): /apply needs maintain permission; @bob has write\n"
    )

    # alice owns prod and approves: dev still needs dana, and the refusal says so.
    box.repo("alice").get_pull(number).create_review(event="APPROVE")
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    [refused] = bodies(box, number, after=asked.id)
    assert "shop/dev (dev): needs an approval" in refused and "from @dana" in refused
    assert "shop/prod" not in refused

    # dana approves too: both stacks apply.
    box.github.client("tok-dana").get_repo(REPO).get_pull(number).create_review(event="APPROVE")
    asked = comment(box, "alice", number, "/apply")
    box.settle()
    [applied] = bodies(box, number, after=asked.id)
    assert "✅ 2 succeeded" in applied, applied
    assert "| `shop` / `dev` | `dev` | ✅ succeeded | r1" in applied
    assert "| `shop` / `prod` | `prod` | ✅ succeeded | r1" in applied
