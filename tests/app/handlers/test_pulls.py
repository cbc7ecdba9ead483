"""Pull requests on the memory tier: previews, their statuses, drafts, forks and policies
read from the default branch, as `tests/app/test_bot_workflow.py` tells them end to end."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.app.handlers.bench import PREVIEW, REPO, Bench, app, object_id
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"


def test_a_preview_is_one_comment_kept_up_to_date_with_a_status(bench: Bench) -> None:
    bench.world.objects[object_id("notes")] = {"text": "hello"}  # live already, as main says
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "changed"}, extra={"size": 3})}, title="Dev notes")
    [preview] = bench.bodies(pr)
    assert_golden(GOLDEN / "preview.md", preview)
    assert bench.status(pr.head_sha) == ("success", "1 stack: 1 to create, 1 to update, 0 to delete, 0 unchanged")
    assert bench.world.objects == {object_id("notes"): {"text": "hello"}}  # a preview changes nothing
    assert bench.releases() == () and bench.locks() == ()

    pr = bench.update(pr, {"shop/dev/main.yaml": app(notes={"text": "again"})})
    [again] = bench.bodies(pr)  # the same comment, edited
    assert f"head={pr.head_sha[:12]}" in again.split("\n", 1)[0]
    assert "**0 to create, 1 to update, 0 to delete, 0 unchanged** in 1 stack." in again
    assert bench.status(pr.head_sha) == ("success", "1 stack: 0 to create, 1 to update, 0 to delete, 0 unchanged")


def test_a_change_that_touches_no_stack(bench: Bench) -> None:
    pr = bench.open({"docs/a.md": "a\n"})
    [preview] = bench.bodies(pr)
    assert "No stacks are affected by this change." in preview
    assert bench.status(pr.head_sha) == ("success", "no stacks changed")


def test_config_errors_name_the_file_and_line(bench: Bench) -> None:
    broken = yaml.safe_dump({"web": {"accessories": {"notes": {"_type": "memory.Object", "text": "x"}},
                                     "workload": {"_type": "nope.Service"}}})
    pr = bench.open({"shop/dev/main.yaml": broken})
    [preview] = bench.bodies(pr)
    assert_golden(GOLDEN / "preview-config-error.md", preview)
    assert bench.status(pr.head_sha) == ("failure", "1 of 1 stack failed to preview")


def test_an_invalid_policy_on_the_default_branch_is_reported(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "invalid-policy", settings="apply: sometimes\n")
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "changed"})})
    [preview] = bench.bodies(pr)
    assert_golden(GOLDEN / "preview-invalid-policy.md", preview)
    status = bench.status(pr.head_sha)
    assert status is not None and status[0] == "failure"


def test_drafts_are_previewed_only_when_the_default_branch_says_so(tmp_path: Path, installed: None) -> None:
    quiet = Bench(tmp_path / "a", "drafts-quiet")
    pr = quiet.open({"shop/dev/main.yaml": app(notes={"text": "draft"})}, draft=True)
    assert quiet.bodies(pr) == [] and quiet.status(pr.head_sha) is None
    # The pull request's own shipmate.yaml cannot turn draft previews on.
    pr = quiet.open({"shipmate.yaml": "draftPreviews: true\n"}, draft=True, branch="mine")
    assert quiet.bodies(pr) == []

    loud = Bench(tmp_path / "b", "drafts-loud", settings="draftPreviews: true\n")
    pr = loud.open({"shop/dev/main.yaml": app(notes={"text": "draft"})}, draft=True)
    [preview] = loud.bodies(pr)
    assert "### `shop` / `dev` · workspace `dev`" in preview


def test_a_pull_request_cannot_unmark_a_secret(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "secrets", settings="secrets:\n  contextKeys: [REGISTRY_LOGIN]\n")
    workspace = yaml.safe_dump({"context": {"MEMORY_WORLD": "secrets", "REGISTRY_LOGIN": "acme-bot"}})
    bench.push({"workspaces/dev.yaml": workspace})
    pr = bench.open({
        "shipmate.yaml": "secrets:\n  contextKeys: []\n",
        "shop/dev/main.yaml": app(notes={"text": "login is acme-bot"}),
    })
    [preview] = bench.bodies(pr)
    assert "### `shop` / `dev`" in preview
    assert "acme-bot" not in preview


def test_the_server_can_name_the_policy_branch(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "policy-branch", env={"SHIPMATE_POLICY_BRANCH": "policy"})
    bench.host.push(REPO, "policy", {**bench.files(), "shipmate.yaml": "apply: on-merge\n"})
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "changed"})})
    asked = bench.say("alice", pr, "/apply")
    assert ("this repository applies on merge only (`apply: on-merge` in shipmate.yaml on `policy`)"
            in bench.bodies(pr, after=asked)[0])
    assert bench.locks() == () and bench.world.objects == {}


def test_a_fork_is_previewed_from_the_base_never_checked_out(bench: Bench) -> None:
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "from a fork"})}, author="eve",
                    head_repo="eve/config", branch="from-fork")
    [notice] = bench.bodies(pr)
    assert_golden(GOLDEN / "preview-fork.md", notice)
    assert (REPO, pr.head_sha) not in bench.memory.checkouts.checked_out

    gone = bench.open({"shop/dev/main.yaml": app(notes={"text": "fork deleted"})}, author="eve",
                      head_repo="", branch="deleted-fork")
    assert gone.is_fork and (REPO, gone.head_sha) not in bench.memory.checkouts.checked_out
    assert all("fork deleted" not in body for body in bench.bodies(gone))


def test_a_base_branch_its_author_made_does_not_choose_the_policy(tmp_path: Path, installed: None) -> None:
    # bob makes a branch whose shipmate.yaml lets anyone apply without review, and opens a pull
    # request into it: the policy still comes from main, which applies only pull requests into main.
    bench = Bench(tmp_path, "loose", settings="requirements:\n  apply: [approved]\n")
    bench.host.push(REPO, "loose", {**bench.files(), "shipmate.yaml": "permissions:\n  apply: read\n"})
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "loose"})}, base="loose")
    [preview] = bench.bodies(pr)
    assert ("> ℹ️ Not applied: pull requests into `loose` are previewed only: Shipmate applies pull "
            "requests into `main` (`branches` in shipmate.yaml on `main`)") in preview
    asked = bench.say("eve", pr, "/apply")
    assert "@eve has read permission on this repository; /apply needs write." in bench.bodies(pr, after=asked)[0]
    bench.host.review(REPO, pr.number, "alice")
    asked = bench.say("alice", pr, "/apply")
    [refused] = bench.bodies(pr, after=asked)
    assert "was not run** (requested by @alice): pull requests into `loose` are previewed only" in refused
    assert bench.status(pr.head_sha, "shipmate/apply") is None
    assert bench.locks() == () and bench.world.objects == {}


def test_the_preview_status_is_pending_while_it_runs_then_final(bench: Bench) -> None:
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "x"})})
    states = [s.state for s in bench.host.statuses if s.sha == pr.head_sha and s.context == PREVIEW]
    assert states == ["pending", "success"]


def test_a_draft_is_previewed_once_it_is_ready_for_review(bench: Bench) -> None:
    pr = bench.open({"shop/dev/main.yaml": app(notes={"text": "draft"})}, draft=True)
    assert bench.bodies(pr) == []
    ready = bench.host.set_pull_request(REPO, pr.number, draft=False)
    bench.deliver(bench.pull_event(ready, "ready_for_review"))
    [preview] = bench.bodies(pr)
    assert "### `shop` / `dev` · workspace `dev`" in preview
    assert bench.status(pr.head_sha) == ("success", "1 stack: 1 to create, 0 to update, 0 to delete, 0 unchanged")


def test_a_preview_longer_than_a_comment_is_split_into_parts(bench: Bench) -> None:
    many = {f"o{i:03}": {"text": f"{i:03} " + "x" * 1000} for i in range(90)}
    pr = bench.open({"shop/dev/main.yaml": app(**many)})
    parts = bench.bodies(pr)
    assert len(parts) > 1 and all(len(p) <= 65_536 for p in parts)
    assert [p.split("\n", 1)[0].rsplit(" ", 2)[-2] for p in parts] == [
        f"part={i}/{len(parts)}" for i in range(1, len(parts) + 1)]
    assert all(f"memory:object:web-o{i:03}" in "".join(parts) for i in range(90))

    pr = bench.update(pr, {"shop/dev/main.yaml": app(notes={"text": "short again"})})
    assert len(bench.bodies(pr)) == 1  # the parts no longer needed are deleted


def test_a_large_stack_is_previewed_in_one_compact_comment(bench: Bench) -> None:
    many = {f"o{i:03}": {"text": f"{i:03} " + "x" * 400} for i in range(200)}
    pr = bench.open({"shop/dev/main.yaml": app(**many)})
    [preview] = bench.bodies(pr)  # the diffs are left out rather than split over comments
    assert "Diffs are left out so that this preview fits in one comment" in preview
    assert all(f"| `memory:object:web-o{i:03}` | ➕ Create |" in preview for i in range(200))


def test_keys_kusion_ignores_are_ignored_with_a_located_warning_in_the_preview(bench: Bench) -> None:
    # konfig's `generator:` in project.yaml and Kusion's `path:` in stack.yaml: Kusion ignores them.
    pr = bench.open({
        "shop/project.yaml": "name: shop\ngenerator:\n  type: AppConfiguration\n",
        "shop/dev/stack.yaml": "name: dev\npath: shop/dev\n",
    })
    [preview] = bench.bodies(pr)
    assert ("> ⚠️ `shop/project.yaml:2:1: generator: ignored unknown field 'generator'; "
            "expected one of: description, extensions, labels, name`") in preview
    assert "> ⚠️ `shop/dev/stack.yaml:2:1: path: ignored unknown field 'path';" in preview
    assert preview.count("generator: ignored unknown field") == 2  # project.yaml: said on each of its stacks
    assert bench.status(pr.head_sha) == ("success", "2 stacks: 2 to create, 0 to update, 0 to delete, 0 unchanged")
