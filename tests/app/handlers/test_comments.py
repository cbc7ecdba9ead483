"""Comment commands on the memory tier: /help, /preview, /apply, /unlock, /destroy; who may
run them, what they need, and what they leave in the state backend and the world."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.memory.runtime import Verb
from bot.core.release import Phase, Trigger
from tests.app.handlers.bench import APPLY, REPO, Bench, app, object_id
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
APPROVED = "requirements:\n  apply: [approved]\n"
CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"})}


def test_help_typos_bad_flags_and_permissions_get_replies_and_reactions(bench: Bench) -> None:
    pr = bench.open({"docs/c.md": "c\n"})
    asked = bench.say("eve", pr, "/help")
    [help_text] = bench.bodies(pr, after=asked)
    assert_golden(GOLDEN / "help.md", help_text)
    assert bench.host.reactions_to(asked) == ["eyes", "+1"]
    for login, text, expected in [
        ("eve", "/aply", "@eve Unknown command `/aply`. Did you mean `/apply`?"),
        ("bob", "/apply --force", "@bob `/apply` does not take `--force`."),
        ("alice", "/destroy -p shop -s dev", "add `--confirm shop/dev`"),
        # The permission is checked before any usage reply.
        ("eve", "/apply --force", "**`/apply` was not run** (requested by @eve): @eve has read permission "
         "on this repository; /apply needs write.\n"),
        ("bob", "/destroy -p shop -s dev", "**`/destroy` was not run** (requested by @bob): @bob has write "
         "permission on this repository; /destroy needs maintain.\n"),
        ("bob", "/apply -p @alice", "@bob `@alice` is not a valid value for `-p`."),
        ("bob", "/apply --x=<b>`hi`</b>", "@bob `/apply` does not take ``--x=<b>`hi`</b>``."),
    ]:
        asked = bench.say(login, pr, text)
        [reply] = bench.bodies(pr, after=asked)
        assert expected in reply, reply
        assert bench.host.reactions_to(asked) == ["confused"]
    quiet = bench.say("eve", pr, "/apply\nplease?")  # a second line: not a command
    assert bench.bodies(pr, after=quiet) == [] and bench.host.reactions_to(quiet) == []


def test_apply_keeps_the_lock_unlock_frees_it_and_destroy_needs_maintain(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    asked = bench.say("bob", pr, "/apply -p shop -s dev")
    [applied] = bench.bodies(pr, after=asked)
    assert_golden(GOLDEN / "apply.md", applied)
    assert bench.host.reactions_to(asked) == ["eyes", "rocket"]
    assert bench.status(pr.head_sha, APPLY) == ("success", "1 stack applied: shop/dev r1")
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}}
    [release] = bench.releases()
    assert (release.revision, release.phase, release.trigger, release.actor, release.pull_request) == (
        1, Phase.SUCCEEDED, Trigger.COMMENT, "bob", pr.number)
    assert [r.id for r in release.state.resources] == [object_id("notes")]
    [lock] = bench.locks()
    assert (lock.key, lock.pull_request, lock.owner) == ("shop/dev", pr.number, f"pr:{REPO}#{pr.number}")

    asked = bench.say("bob", pr, "/apply -p nope")
    assert ("no stack changed by this pull request matches the command (stacks changed: `shop/dev`)"
            in bench.bodies(pr, after=asked)[0])

    asked = bench.say("bob", pr, "/unlock")
    assert bench.bodies(pr, after=asked)[0].endswith(
        f"@bob asked to unlock; released:\n\n- `shop/dev` (held by `pr:{REPO}#{pr.number}`)\n")
    assert bench.locks() == ()

    asked = bench.say("bob", pr, "/destroy -p shop -s dev --confirm shop/dev")
    assert "@bob has write permission on this repository; /destroy needs maintain." in bench.bodies(pr, after=asked)[0]
    assert bench.world.objects != {}
    asked = bench.say("carol", pr, "/destroy -p shop -s dev --confirm shop/dev")
    [destroyed] = bench.bodies(pr, after=asked)
    assert_golden(GOLDEN / "destroy.md", destroyed)
    assert bench.host.reactions_to(asked) == ["eyes", "rocket"]
    assert bench.world.objects == {}
    latest = bench.releases()[-1]
    assert (latest.revision, latest.phase, latest.state.resources) == (2, Phase.SUCCEEDED, ())

    bench.close(pr)
    assert "Pull request closed; released:" in bench.bodies(pr)[-1]
    assert bench.locks() == ()


def test_preview_again_shows_what_changed_live(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    bench.world.objects[object_id("notes")] = {"text": "edited by hand"}
    asked = bench.say("bob", pr, "/preview")
    assert bench.bodies(pr, after=asked) == []  # the one preview comment is edited, not a new one
    [preview, _applied] = bench.bodies(pr)
    assert "✏️ Update" in preview and "edited by hand" in preview


def test_apply_needs_an_approval_from_someone_who_may_push(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "approvals", settings=APPROVED)
    pr = bench.open(CHANGE)
    needs = ("/apply requirements not met: the pull request needs an approval at the current head "
             f"({pr.head_sha[:7]}) from someone other than its author, not a bot, with at least write permission.")
    bench.host.review(REPO, pr.number, "bob")  # its author
    bench.host.review(REPO, pr.number, "eve")  # may only read
    bench.host.review(REPO, pr.number, "helper[bot]", author_is_bot=True)
    bench.host.review(REPO, pr.number, "alice", commit_id="0" * 40)  # an older commit
    asked = bench.say("bob", pr, "/apply")
    assert needs in bench.bodies(pr, after=asked)[0]
    assert bench.world.objects == {} and bench.releases() == () and bench.locks() == ()

    bench.host.grant(REPO, "eve", "write")  # read from the code host at the time of the command
    asked = bench.say("bob", pr, "/apply")
    assert "✅ 1 succeeded" in bench.bodies(pr, after=asked)[0]
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}}


def test_a_lock_held_by_another_pull_request_refuses_no_wait_and_queues_an_apply(bench: Bench) -> None:
    first = bench.open(CHANGE, branch="first")
    bench.say("bob", first, "/apply")
    second = bench.open({"shop/dev/main.yaml": app(notes={"text": "other"})}, branch="second", author="alice")
    asked = bench.say("alice", second, "/apply --no-wait")
    [refused] = bench.bodies(second, after=asked)
    assert_golden(GOLDEN / "apply-locked.md", refused)
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}}
    assert [r.revision for r in bench.releases()] == [1]
    assert [lock.pull_request for lock in bench.locks()] == [first.number]

    # Without --no-wait the apply waits in line, and runs once the first pull request unlocks.
    asked = bench.say("alice", second, "/apply")
    [waits] = bench.bodies(second, after=asked)
    assert f"`shop/dev` is locked by #{first.number} and this pull request is 1st in line for it" in waits
    assert [r.revision for r in bench.releases()] == [1]
    bench.say("bob", first, "/unlock")
    assert any("✅ 1 succeeded" in body for body in bench.bodies(second, after=asked))
    assert [lock.pull_request for lock in bench.locks()] == [second.number]


def test_a_stale_entry_expires_after_the_configured_wait(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "expiry", settings="lockQueue: {expiry: 30m}\n")
    first = bench.open(CHANGE, branch="first")
    bench.say("bob", first, "/apply")
    second = bench.open({"shop/dev/main.yaml": app(notes={"text": "other"})}, branch="second", author="alice")
    asked = bench.say("alice", second, "/apply")
    backend = bench.memory.backend(REPO, "shipmate-state")
    [entry] = backend.queue("shop", "dev").waiting
    assert entry.expires_at - entry.queued_at == timedelta(minutes=30)
    # Past lockQueue.expiry the line leaves the entry out (bot.core.lockqueue.LockQueue.live):
    # the apply never runs, and the lock goes to nobody.
    assert backend.queue("shop", "dev").live(entry.expires_at).waiting == ()
    assert asked


def test_apply_on_merge_only_refuses_the_command(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "on-merge", settings="apply: on-merge\n")
    pr = bench.open(CHANGE)
    asked = bench.say("alice", pr, "/apply")
    assert ("this repository applies on merge only (`apply: on-merge` in shipmate.yaml on `main`)"
            in bench.bodies(pr, after=asked)[0])
    assert bench.locks() == () and bench.world.objects == {}


@pytest.mark.parametrize("verb", ["apply", "read"])
def test_a_runtime_refusal_fails_the_apply_and_is_recorded(bench: Bench, verb: Verb) -> None:
    pr = bench.open(CHANGE)
    bench.world.refuse(verb, object_id("notes"), "quota exceeded")
    asked = bench.say("bob", pr, "/apply")
    [failed] = bench.bodies(pr, after=asked)
    assert_golden(GOLDEN / f"apply-refused-{verb}.md", failed)
    status = bench.status(pr.head_sha, APPLY)
    assert status is not None and status[0] == "failure"
    assert bench.world.objects == {}
    if verb == "read":  # the preview could not run: nothing was recorded
        assert bench.releases() == ()
    else:
        [release] = bench.releases()
        assert release.phase is Phase.FAILED and "quota exceeded" in (release.error or "")

    bench.world.allow(verb, object_id("notes"))  # the runtime recovers: /apply again works
    asked = bench.say("bob", pr, "/apply")
    assert "✅ 1 succeeded" in bench.bodies(pr, after=asked)[0]
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}}
    assert bench.releases()[-1].phase is Phase.SUCCEEDED
