"""Teams in CODEOWNERS, end to end: a stack owned by `@acme/shop-team` needs an approval from a
member of that team (read from GitHub's team members), and the refusal names the team."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.cli.sandbox import REPO, Sandbox
from tests.e2e.world import approve_and_apply, bodies, comment, open_pr, replace

pytestmark = pytest.mark.e2e

SETTINGS = """\
backend: {branch: shipmate-state}
requirements: {apply: [code_owners]}
generate: {namespace: extension, terraformOnlyNamespace: false, appMetadata: apply}
"""
CODEOWNERS = "*  @alice\n/shop/dev/  @acme/shop-team\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    files = {"shipmate.yaml": SETTINGS, ".github/CODEOWNERS": CODEOWNERS}
    with Sandbox.start(tmp_path_factory.mktemp("teams"), files=files) as sandbox:
        sandbox.github.add_user("dana", "tok-dana", "write")
        sandbox.github.set_team("acme", "shop-team", ["dana"])
        yield sandbox


def test_a_team_owned_stack_needs_a_members_approval(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: warn")},
                 title="Quieter logs in dev")
    box.settle()

    # alice approves, but she is not in the team that owns shop/dev.
    asked = approve_and_apply(box, pr.number)
    [refused] = bodies(box, pr.number, after=asked.id)
    assert refused == (
        "**`/apply` was not run** (requested by @bob): /apply requirements not met:\n"
        "- shop/dev (dev): needs an approval at the current head "
        f"({pr.head.sha[:7]}) from @acme/shop-team, with at least write permission\n"
    )

    # dana is in the team: her approval counts.
    box.github.client("tok-dana").get_repo(REPO).get_pull(pr.number).create_review(event="APPROVE")
    asked = comment(box, "bob", pr.number, "/apply")
    box.settle()
    [applied] = bodies(box, pr.number, after=asked.id)
    assert "✅ 1 succeeded" in applied, applied
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.settle()
