"""The lock queue end to end: a pull request whose `/apply` finds its stack locked by another
waits in line (the reply names its place and the holder), `--no-wait` is refused as before,
and when the holder merges (its apply frees the lock) the waiting apply runs after a fresh
preview; closing a waiting pull request takes it out of the line. Through the simulated
GitHub and Kubernetes with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.app.locks import sweep_locks
from bot.cli.sandbox import REPO, Sandbox
from tests.e2e.world import NO_APPROVALS, bodies, comment, open_pr, reactions, replace

pytestmark = pytest.mark.e2e

SETTINGS = NO_APPROVALS


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("queue"), files={"shipmate.yaml": SETTINGS}) as sandbox:
        yield sandbox


def queue_comment(box: Sandbox, number: int) -> str:
    """The pull request's waiting comment, kept up to date as the line moves."""
    [text] = [b for b in bodies(box, number) if b.startswith("<!-- shipmate:queue ")]
    return text.split("\n", 1)[1]


def test_applies_wait_in_line_and_run_when_the_lock_frees(box: Sandbox, tmp_path: Path) -> None:
    first = open_pr(box, "bob", {"shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: warn")},
                    title="Quieter logs in dev")
    second = open_pr(box, "alice", {"shop/dev/manifests/settings.yaml": replace("hello from dev", "hi from dev")},
                     title="Friendlier greeting")
    third = open_pr(box, "bob", {"shop/dev/manifests/settings.yaml": replace("hello from dev", "hey from dev")},
                    title="Casual greeting")
    box.settle()
    comment(box, "bob", first.number, "/apply")
    box.settle()

    asked = comment(box, "alice", second.number, "/apply")
    box.settle()
    assert queue_comment(box, second.number) == (
        f"@alice `/apply` waits: `shop/dev` is locked by #{first.number} and this pull request is 1st in line "
        f"for it. It runs when #{first.number} frees the lock (merged and applied, closed, or `/unlock`), after "
        "a fresh preview; comment `/apply --no-wait` to be refused instead, `/unlock` to leave the line.")
    comment(box, "bob", third.number, "/apply")
    box.settle()
    assert f"locked by #{first.number} and this pull request is 2nd in line" in queue_comment(box, third.number)

    impatient = comment(box, "alice", second.number, "/apply --no-wait")
    box.settle()
    [refused] = bodies(box, second.number, after=impatient.id)
    assert "**`/apply` was not run**" in refused and f"comment `/unlock` on #{first.number} to free it" in refused
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "waiting") as backend:
        assert [e.pull_request for e in backend.queue("shop", "dev").waiting] == [second.number, third.number]

    # The first merges: its apply frees the lock and the second's apply runs, as alice's; the
    # third moves up behind the second.
    box.repo("alice").get_pull(first.number).merge(merge_method="merge")
    box.settle()
    [result] = [b for b in bodies(box, second.number, after=impatient.id) if "## Shipmate apply" in b]
    assert f"@alice asked to apply commit `{second.head.sha[:7]}`: ✅ 1 succeeded." in result
    assert "rocket" in reactions(box, second.number, asked.id)
    assert "it is this pull request's turn" in queue_comment(box, second.number)
    assert f"locked by #{second.number} and this pull request is 1st in line" in queue_comment(box, third.number)
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "applied") as backend:
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.pull_request == second.number and latest.actor == "alice"
        assert [e.pull_request for e in backend.queue("shop", "dev").waiting] == [third.number]

    # The third is closed while it waits: it leaves the line.
    box.repo("bob").get_pull(third.number).edit(state="closed")
    box.settle()
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "closed") as backend:
        assert backend.queue("shop", "dev").waiting == ()
    box.repo("alice").get_pull(second.number).edit(state="closed")
    box.settle()


def live_greeting(box: Sandbox) -> str:
    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        return str(client.CoreV1Api(api).read_namespaced_config_map("web.settings", "shop").data["greeting"])
    finally:
        api.close()


def merge_behind_a_holder(box: Sandbox, levels: tuple[str, str], greetings: tuple[str, str]) -> tuple[Any, Any]:
    """bob's pull request (LOG_LEVEL `levels[0]` → `[1]`) is applied and holds shop/dev; alice's
    (greeting `greetings[0]` → `[1]`), previewed before, is merged meanwhile."""
    holder = open_pr(box, "bob", {"shop/dev/main.yaml": replace(f"LOG_LEVEL: {levels[0]}", f"LOG_LEVEL: {levels[1]}")},
                     title=f"{levels[1]} logs")
    merged = open_pr(box, "alice", {"shop/dev/manifests/settings.yaml": replace(*greetings)}, title=greetings[1])
    box.settle()
    comment(box, "bob", holder.number, "/apply")
    box.settle()
    box.repo("alice").get_pull(merged.number).merge(merge_method="merge")
    box.settle()
    return holder, merged


def test_a_merge_waits_in_line_and_applies_from_the_head_when_the_lock_frees(box: Sandbox, tmp_path: Path) -> None:
    # alice merges while bob's pull request holds shop/dev: the merge's apply waits in line.
    holder, merged = merge_behind_a_holder(box, ("warn", "error"), ("hello from dev", "merged greeting"))
    assert queue_comment(box, merged.number) == (
        f"@alice merged this pull request; the apply of the merge waits: `shop/dev` is locked by #{holder.number} "
        "and this merge is 1st in line for it. When "
        f"#{holder.number} frees the lock, the merge's stacks are applied from the head of the base branch, each "
        "only if what it would change is still what this pull request's last preview showed; comment `/unlock` "
        "to leave the line.")
    assert not [b for b in bodies(box, merged.number) if "## Shipmate apply" in b]
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "waiting") as backend:
        [entry] = backend.queue("shop", "dev").waiting
        assert (entry.pull_request, entry.actor, entry.stacks) == (merged.number, "alice", ("shop/dev",))
    sweep_locks(box.services, REPO)  # the sweeper takes closed pull requests' /apply out, not a merge
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "swept") as backend:
        assert [e.pull_request for e in backend.queue("shop", "dev").waiting] == [merged.number]

    # bob merges: his merge commit holds alice's change too and applies both; then it is the
    # waiting merge's turn, whose change is live already: nothing left to change.
    box.repo("bob").get_pull(holder.number).merge(merge_method="merge")
    box.settle()
    assert live_greeting(box) == "merged greeting"
    assert "it is this merge's turn" in queue_comment(box, merged.number)
    [result] = [b for b in bodies(box, merged.number) if "## Shipmate apply" in b]
    assert "✅ 1 succeeded" in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "done") as backend:
        assert backend.queue("shop", "dev").waiting == () and backend.view().lock("shop", "dev") is None
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.pull_request == merged.number and latest.actor == "alice"


def test_a_waiting_merge_whose_changes_moved_is_not_applied(box: Sandbox) -> None:
    holder, merged = merge_behind_a_holder(box, ("error", "info"), ("merged greeting", "second greeting"))
    assert "the apply of the merge waits" in queue_comment(box, merged.number)

    # bob closes his pull request without merging: its applied LOG_LEVEL stays live, so applying
    # the head would also change what alice's approvers never saw. Nothing is applied.
    box.repo("bob").get_pull(holder.number).edit(state="closed")
    box.settle()
    [result] = [b for b in bodies(box, merged.number) if "## Shipmate apply" in b]
    assert "not applied, nothing was changed: what it would change is not what was previewed" in result, result
    assert live_greeting(box) == "merged greeting"
