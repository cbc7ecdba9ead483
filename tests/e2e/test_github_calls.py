"""What a pull request's preview costs in GitHub API calls: the pull request, its files, the
bot's comments, the summary comment and one status (the pending one is folded into the result
when the preview ends within SHIPMATE_GITHUB_PENDING_DELAY), counted by the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.sandbox import BOT, Sandbox
from fixtures.github_sim.traffic import total
from tests.e2e.world import bodies, push_branch

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("calls"), env={
            **__import__("os").environ, "SHIPMATE_GITHUB_PENDING_DELAY": "30"}) as sandbox:
        yield sandbox


def test_a_single_stack_preview_makes_six_api_calls(box: Sandbox) -> None:
    box.services.access("acme/config").host.bot_login()  # read once per process, before counting
    branch = push_branch(box, "bob", {"shop/dev/main.yaml": lambda t: t + "\n# a comment\n"})
    box.settle()  # the push itself is handled first (it applies nothing)
    box.github.traffic.reset()
    pr = box.repo("bob").create_pull(title="Touch shop/dev", body="", head=branch, base="main")
    box.settle()
    assert "### `shop` / `dev`" in bodies(box, pr.number)[0]
    calls = box.github.traffic.counts(BOT)
    rest = {route: n for route, n in calls.items() if route != "git"}
    assert rest == {
        "GET /repos/acme/config/git/ref/heads/main": 1,  # the policy, from the default branch
        "GET /repos/acme/config/pulls/{n}": 1,  # read fresh: a moved head is not previewed
        "GET /repos/acme/config/pulls/{n}/files": 1,
        "GET /repos/acme/config/issues/{n}/comments": 1,  # the summary comment to update, if any
        "POST /repos/acme/config/issues/{n}/comments": 1,
        "POST /repos/acme/config/statuses/{sha}": 1,
    }
    assert total(calls) == 6
    [status] = box.github.statuses("acme", "config", pr.head.sha)
    assert status["state"] == "success" and status["context"] == "shipmate/preview"


def test_a_second_push_edits_the_comment_in_place(box: Sandbox, tmp_path: Path) -> None:
    pulls = list(box.repo("bob").get_pulls(state="open"))
    assert pulls
    pr = pulls[0]
    work = box.root / "clones" / "again"
    box.clone("bob", work)
    from bot.cli.sandbox import git

    git("checkout", "-q", pr.head.ref, cwd=work)
    (work / "shop/dev/main.yaml").write_text((work / "shop/dev/main.yaml").read_text() + "# again\n")
    git("commit", "-qam", "again", cwd=work)
    box.github.traffic.reset()
    git("push", "-q", "origin", pr.head.ref, cwd=work)
    box.settle()
    calls = box.github.traffic.counts(BOT)
    assert calls.get("PATCH /repos/acme/config/issues/comments/{n}") == 1
    assert "POST /repos/acme/config/issues/{n}/comments" not in calls
