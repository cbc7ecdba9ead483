"""Merges and pushes on the memory tier: apply on merge with the lock handed over, what a
failure tells the pull request or the commit, and pushes the policy does not apply."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.core.release import Phase, Trigger
from tests.app.handlers.bench import APPLY, REPO, Bench, app, object_id
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"})}
TOKEN = "tok-3b7c1d9e5f"  # a context value named like a secret: never shown, never stored


def with_token(bench: Bench) -> None:
    bench.host.push(REPO, "main", {**bench.files(), "workspaces/dev.yaml": yaml.safe_dump(
        {"context": {"MEMORY_WORLD": bench.world_name, "DEPLOY_TOKEN": TOKEN}})})


def test_a_merge_after_apply_takes_the_lock_over_applies_and_frees_it(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    [held] = bench.locks()
    sha = bench.merge(pr)
    merged = bench.bodies(pr)[-1]
    assert_golden(GOLDEN / "merge-after-apply.md", merged)
    releases = bench.releases()
    assert [(r.revision, r.trigger, r.phase) for r in releases] == [
        (1, Trigger.COMMENT, Phase.SUCCEEDED), (2, Trigger.PUSH, Phase.SUCCEEDED)]
    assert (releases[-1].commit, releases[-1].pull_request) == (sha, pr.number)
    assert bench.locks() == ()
    assert bench.status(sha, APPLY) == ("success", "1 stack applied: shop/dev r2")
    # The lock went from the pull request to the merge's apply without ever being free (the
    # closed pull request's event left it), and was freed when that apply finished.
    log = [c.message.split("\n")[0] for c in bench.memory.backend(REPO).store.commits]
    taken = [i for i, m in enumerate(log) if m.startswith("lock shop/dev: acquired")]
    assert len(taken) == 2 and f"by {held.owner} " in log[taken[1]] and f"(token {held.token + 1}," in log[taken[1]]
    assert not any("released" in m or "freed" in m for m in log[taken[0]:taken[1]])
    assert log[-1].endswith(f"lock released by {held.owner}")


def test_a_merge_without_apply_applies_and_tells_the_pull_request(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    sha = bench.merge(pr)
    assert_golden(GOLDEN / "merge.md", bench.bodies(pr)[-1])
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}}
    [release] = bench.releases()
    assert (release.trigger, release.commit, release.pull_request, release.phase) == (
        Trigger.PUSH, sha, pr.number, Phase.SUCCEEDED)
    assert bench.locks() == ()


def test_a_failed_apply_on_merge_is_explained_on_the_pull_request(bench: Bench) -> None:
    with_token(bench)
    pr = bench.open(CHANGE)
    bench.world.refuse("apply", object_id("notes"), f"disk full while exporting with {TOKEN}")
    sha = bench.merge(pr)
    [outcome] = [b for b in bench.bodies(pr) if "Shipmate apply on merge" in b]
    assert "disk full while exporting" in outcome and TOKEN not in outcome
    [release] = bench.releases()
    assert (release.phase, release.trigger, release.commit, release.pull_request) == (
        Phase.FAILED, Trigger.PUSH, sha, pr.number)
    assert "disk full while exporting" in (release.error or "") and TOKEN not in (release.error or "")
    status = bench.host.status(sha, APPLY)
    assert status is not None and status.state == "failure"
    assert "shop/dev" in status.description and "disk full" in status.description and TOKEN not in status.description
    assert bench.locks() == ()


def test_a_failed_apply_of_a_direct_push_is_explained_in_a_commit_comment(bench: Bench) -> None:
    with_token(bench)
    bench.world.refuse("apply", object_id("notes"), f"quota exceeded for {TOKEN}")
    sha = bench.push(CHANGE)
    [release] = bench.releases()
    assert (release.phase, release.commit, release.pull_request) == (Phase.FAILED, sha, None)
    assert "quota exceeded" in (release.error or "") and TOKEN not in (release.error or "")
    [note] = bench.host.commit_comments
    assert note.sha == sha and "quota exceeded" in note.body and TOKEN not in note.body
    status = bench.host.status(sha, APPLY)
    assert status is not None and status.state == "failure" and "quota exceeded" in status.description
    assert TOKEN not in status.description and status.target_url == note.url


def test_an_invalid_policy_on_a_direct_push_is_explained_in_a_commit_comment(bench: Bench) -> None:
    sha = bench.push({"shipmate.yaml": "apply: sometimes\n"})
    [note] = bench.host.commit_comments
    assert_golden(GOLDEN / "push-invalid-policy.md", note.body)
    status = bench.host.status(sha, APPLY)
    assert status is not None and status.state == "error" and status.description.startswith("shipmate.yaml is invalid: ")
    assert "sometimes" in status.description and status.target_url == note.url
    assert bench.releases() == () and bench.world.objects == {}


def test_a_push_to_a_branch_the_policy_does_not_name_applies_nothing(bench: Bench) -> None:
    bench.host.push(REPO, "loose", bench.files())
    sha = bench.push(CHANGE, branch="loose")
    assert bench.status(sha, APPLY) is None
    assert bench.releases() == () and bench.world.objects == {} and bench.host.commit_comments == []


def test_a_push_to_a_branch_the_policy_names_applies(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "release-branches", settings="branches: [main, release/*]\n")
    bench.host.push(REPO, "release/1", bench.files())
    sha = bench.push(CHANGE, branch="release/1")
    assert bench.status(sha, APPLY) == ("success", "1 stack applied: shop/dev r1")
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}}
