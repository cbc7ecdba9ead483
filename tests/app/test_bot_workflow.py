"""The bot's handlers step by step: the GitHub simulator's webhooks are run through the
router in this thread (`Sandbox(serve=False).dispatch()`), so each test sees exactly what one
change caused. Everything behind the router is real: PyGithub over HTTP, git checkouts, the
state branch, the Kubernetes simulator. The stacks used here are Kubernetes-only (`shop/prod`)
or touch no stack, so no Terraform runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client, config

from bot.adapters.github.reporter import PullRequestReporter
from bot.adapters.github.webhooks import make_delivery
from bot.adapters.gitstate import git_backend
from bot.app.handlers import install
from bot.app.router import EventRouter
from bot.cli.sandbox import REPO, Sandbox, git
from bot.core.errors import ConfigError
from bot.core.release import Phase, Trigger
from bot.core.render import split
from bot.settings import Settings
from tests.e2e.world import (
    bodies,
    comment,
    comments,
    open_pr,
    push_branch,
    reactions,
    replace,
    statuses,
)

pytestmark = pytest.mark.e2e

PROD = "shop/prod/main.yaml"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("flow"), serve=False) as sandbox:
        yield sandbox


def backend(box: Sandbox, tmp: Path):  # type: ignore[no-untyped-def]
    return git_backend(box.state_url(), "shipmate-state", data_dir=tmp)


def test_the_summary_is_one_comment_kept_up_to_date(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {"docs/a.md": "a\n"}, title="Docs")
    box.dispatch()
    [first] = comments(box, pr.number)
    assert "No stacks are affected by this change." in first["body"]
    assert statuses(box, pr.head.sha)["shipmate/preview"] == ("success", "no stacks changed")
    # A new commit on the branch: the same comment now names the new head.
    work = box.root / "clones" / f"bob-{pr.head.ref}"
    (work / "docs/b.md").write_text("b\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "More docs", cwd=work)
    git("push", "-q", "origin", pr.head.ref, cwd=work)
    box.dispatch()
    head = box.repo("bob").get_pull(pr.number).head.sha
    [second] = comments(box, pr.number)
    assert second["id"] == first["id"] and f"head={head[:12]}" in second["body"].split("\n", 1)[0]

    # Parts come and go as the text grows and shrinks; only changed parts are written.
    host = box.services.access(REPO).host
    long = "<!-- shipmate:preview key=pr-x -->\n" + "\n".join(f"line {i} " + "x" * 80 for i in range(40))
    three = split.split_markdown(long, 1500)
    assert len(three) == 3
    reporter = PullRequestReporter(host)
    ids = reporter.upsert(REPO, pr.number, "preview", "pr-x", three)
    assert reporter.upsert(REPO, pr.number, "preview", "pr-x", three) == ids
    one = reporter.upsert(REPO, pr.number, "preview", "pr-x", ["<!-- shipmate:preview key=pr-x part=1/1 -->\nshort"])
    assert one == ids[:1]
    texts = [c["body"] for c in comments(box, pr.number)]
    assert texts.count("<!-- shipmate:preview key=pr-x part=1/1 -->\nshort") == 1 and len(texts) == 2
    box.dispatch()


def test_config_errors_name_the_file_and_line(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {PROD: replace("    schedule: \"0 2 * * *\"\n", "    schedule: \"0 2 * * *\"\n    shedule: typo\n")},
                 title="Broken")
    box.dispatch()
    [preview] = bodies(box, pr.number)
    assert "**❌ Preview failed**" in preview
    assert "shop/prod/main.yaml:" in preview and "shedule" in preview
    assert statuses(box, pr.head.sha)["shipmate/preview"] == ("failure", "1 of 1 stack failed to preview")
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.dispatch()


def test_replies_to_help_typos_and_bad_flags(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {"docs/c.md": "c\n"}, title="More docs")
    box.dispatch()
    for login, text, expected, reaction in [
        ("eve", "/help", "**Shipmate commands**", ["+1", "eyes"]),
        ("eve", "/aply", "@eve Unknown command `/aply`. Did you mean `/apply`?", ["confused"]),
        ("bob", "/apply --force", "@bob `/apply` does not take `--force`.", ["confused"]),
        ("alice", "/destroy -p shop -s prod", "add `--confirm shop/prod`", ["confused"]),
        # The permission is checked before any usage reply, and what the comment said is
        # repeated only as inline code.
        ("eve", "/apply --force", "**`/apply` was not run** (requested by @eve): @eve has read permission "
         "on this repository; /apply needs write.\n", ["confused"]),
        ("bob", "/destroy -p shop -s prod", "**`/destroy` was not run** (requested by @bob): @bob has write "
         "permission on this repository; /destroy needs maintain.\n", ["confused"]),
        ("bob", "/apply -p @alice", "@bob `@alice` is not a valid value for `-p`.", ["confused"]),
        ("bob", "/apply --x=<b>`hi`</b>", "@bob `/apply` does not take ``--x=<b>`hi`</b>``.", ["confused"]),
    ]:
        asked = comment(box, login, pr.number, text)
        box.dispatch()
        [reply] = bodies(box, pr.number, after=asked.id)
        assert reply.startswith(expected) or expected in reply
        assert reactions(box, pr.number, asked.id) == reaction
    quiet = comment(box, "eve", pr.number, "/apply\nplease?")  # a second line: not a command
    box.dispatch()
    assert bodies(box, pr.number, after=quiet.id) == []
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.dispatch()


def test_apply_unlock_and_destroy(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {PROD: replace("LOG_LEVEL: info", "LOG_LEVEL: warn")}, title="Warn in prod")
    box.dispatch()
    assert "### `shop` / `prod` · workspace `prod`" in bodies(box, pr.number)[0]
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    asked = comment(box, "alice", pr.number, "/apply -p shop -s prod")
    box.dispatch()
    assert "| `shop` / `prod` | `prod` | ✅ succeeded |" in bodies(box, pr.number, after=asked.id)[0]
    with backend(box, tmp_path / "a") as state:
        [lock] = state.list_locks()
        assert lock.key == "shop/prod" and lock.pull_request == pr.number
    asked = comment(box, "alice", pr.number, "/apply -p nope")
    box.dispatch()
    assert "no stack changed by this pull request matches the command (stacks changed: `shop/prod`)" in (
        bodies(box, pr.number, after=asked.id)[0])

    asked = comment(box, "bob", pr.number, "/unlock")
    box.dispatch()
    assert bodies(box, pr.number, after=asked.id)[0].endswith(
        f"@bob asked to unlock; released:\n\n- `shop/prod` (held by `pr:{REPO}#{pr.number}`)\n")
    with backend(box, tmp_path / "b") as state:
        assert state.list_locks() == ()

    asked = comment(box, "bob", pr.number, "/destroy -p shop -s prod --confirm shop/prod")
    box.dispatch()
    assert "@bob has write permission on this repository; /destroy needs maintain." in (
        bodies(box, pr.number, after=asked.id)[0])
    asked = comment(box, "alice", pr.number, "/destroy -p shop -s prod --confirm shop/prod")
    box.dispatch()
    [destroyed] = bodies(box, pr.number, after=asked.id)
    assert "@alice asked to destroy `shop/prod`: ✅ 1 succeeded." in destroyed
    assert reactions(box, pr.number, asked.id) == ["eyes", "rocket"]
    with backend(box, tmp_path / "c") as state:
        latest = state.latest("shop", "prod")
        assert latest is not None and latest.phase is Phase.SUCCEEDED and latest.trigger is Trigger.COMMENT
        assert latest.state.resources == ()
    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        names = [d.metadata.name for d in client.AppsV1Api(api).list_namespaced_deployment("shop-prod").items]
    finally:
        api.close()
    assert "shop-prod-web" not in names
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.dispatch()
    assert "Pull request closed; released:" in bodies(box, pr.number)[-1]


def test_apply_mode_comes_from_the_default_branch(box: Sandbox) -> None:
    work = box.root / "clones" / "alice-mode"
    box.clone("alice", work)
    settings = work / "shipmate.yaml"
    original = settings.read_text()
    settings.write_text(original.replace("apply: both", "apply: on-merge"))
    git("commit", "-qam", "Apply on merge only", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    box.skip()  # the push would apply every stack (shipmate.yaml changed): not this test's business
    try:
        pr = open_pr(box, "bob", {"docs/d.md": "d\n"}, title="Docs again")
        box.dispatch()
        asked = comment(box, "alice", pr.number, "/apply")
        box.dispatch()
        assert "this repository applies on merge only (`apply: on-merge` in shipmate.yaml on `main`)" in (
            bodies(box, pr.number, after=asked.id)[0])
        box.repo("bob").get_pull(pr.number).edit(state="closed")
        box.dispatch()
    finally:
        settings.write_text(original)
        git("commit", "-qam", "Back to both", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        box.skip()


def test_drafts_are_previewed_when_the_default_branch_says_so(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {"docs/e.md": "e\n"}, title="Draft", draft=True)
    box.dispatch()
    assert bodies(box, pr.number) == []
    branch = push_branch(box, "alice", {"shipmate.yaml": lambda t: t + "draftPreviews: true\n"}, message="Draft previews")
    merge = box.repo("alice").create_pull(title="Draft previews", body="", head=branch, base="main")
    box.skip()
    merge.merge()
    box.skip()
    work = box.root / "clones" / f"bob-{pr.head.ref}"
    (work / "docs/e.md").write_text("e2\n")
    git("commit", "-qam", "More", cwd=work)
    git("push", "-q", "origin", pr.head.ref, cwd=work)
    box.dispatch()
    assert "No stacks are affected by this change." in bodies(box, pr.number)[0]


def test_a_pull_request_cannot_unmark_a_secret(box: Sandbox) -> None:
    # shipmate.yaml on main marks REGISTRY_LOGIN (prod context: acme-bot) secret; the pull
    # request drops that and puts the value where the preview would show it.
    pr = open_pr(box, "bob", {
        "shipmate.yaml": replace("secrets:\n  contextKeys: [REGISTRY_LOGIN]\n", ""),
        PROD: replace("LOG_LEVEL: info", "LOG_LEVEL: info\n          REGISTRY_USER: acme-bot"),
    }, title="Show the registry login")
    box.dispatch()
    [preview] = bodies(box, pr.number)
    assert "### `shop` / `prod`" in preview and "REGISTRY_USER" in preview
    assert "acme-bot" not in preview and "(sensitive value)" in preview
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.dispatch()


def test_a_base_branch_its_author_made_does_not_choose_the_policy(box: Sandbox, tmp_path: Path) -> None:
    # bob makes a branch whose shipmate.yaml lets anyone apply without review, and opens a
    # pull request into it: the policy still comes from main, and main's policy applies only
    # pull requests into main, so this one is previewed and nothing more.
    loose = push_branch(box, "bob", {"shipmate.yaml": lambda t: t.replace("apply: [approved]", "apply: []")
                                     .replace("apply: write", "apply: read")}, message="Loose policy")
    box.dispatch()  # the push to `loose` applies nothing
    loose_head = box.repo("bob").get_branch(loose).commit.sha
    assert "shipmate/apply" not in statuses(box, loose_head)
    head = push_branch(box, "bob", {PROD: replace("LOG_LEVEL: info", "LOG_LEVEL: debug")}, message="Debug prod")
    pr = box.repo("bob").create_pull(title="Debug prod", body="", head=head, base=loose)
    box.dispatch()
    [preview] = bodies(box, pr.number)
    assert "### `shop` / `prod` · workspace `prod`" in preview
    asked = comment(box, "eve", pr.number, "/apply")
    box.dispatch()
    assert "@eve has read permission on this repository; /apply needs write." in bodies(box, pr.number, after=asked.id)[0]
    assert (f"> ℹ️ Not applied: pull requests into `{loose}` are previewed only: Shipmate applies pull "
            "requests into `main` (`branches` in shipmate.yaml on `main`)") in preview
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    for login, text in (("alice", "/apply"), ("alice", "/destroy -p shop -s prod --confirm shop/prod")):
        asked = comment(box, login, pr.number, text)
        box.dispatch()
        [refused] = bodies(box, pr.number, after=asked.id)
        assert f"was not run** (requested by @alice): pull requests into `{loose}` are previewed only" in refused
    assert "shipmate/apply" not in statuses(box, pr.head.sha)
    with backend(box, tmp_path / "s") as state:
        assert [lock for lock in state.list_locks() if lock.pull_request == pr.number] == []
    # Merged into `loose`: a push to a branch the policy does not name applies nothing.
    box.repo("alice").get_pull(pr.number).merge()
    box.dispatch()
    merged = box.repo("alice").get_branch(loose).commit.sha
    assert "shipmate/apply" not in statuses(box, merged)


def test_an_approval_counts_only_from_someone_who_may_push(box: Sandbox) -> None:
    pr = open_pr(box, "bob", {PROD: replace("LOG_LEVEL: info", "LOG_LEVEL: error")}, title="Quiet prod")
    box.dispatch()
    box.repo("eve").get_pull(pr.number).create_review(event="APPROVE")  # eve can only read
    asked = comment(box, "bob", pr.number, "/apply -p nope")
    box.dispatch()
    assert ("/apply requirements not met: the pull request needs an approval at the current head "
            f"({pr.head.sha[:7]}) from someone other than its author, not a bot, with at least write "
            "permission.") in bodies(box, pr.number, after=asked.id)[0]
    # The permission is read from GitHub at the time: once eve may push, her approval counts
    # (and the command gets as far as choosing stacks).
    box.github.set_permission("acme", "config", "eve", "write")
    try:
        asked = comment(box, "bob", pr.number, "/apply -p nope")
        box.dispatch()
        assert "no stack changed by this pull request matches the command" in bodies(box, pr.number, after=asked.id)[0]
    finally:
        box.github.set_permission("acme", "config", "eve", "read")
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.dispatch()


def test_a_pull_request_whose_fork_was_deleted_is_never_checked_out(box: Sandbox) -> None:
    fork = box.repo("eve").create_fork()
    work = box.root / "clones" / "eve-fork"
    git("clone", "-q", box.github.git_url("eve", "config", "tok-eve", "eve"), str(work), cwd=box.root)
    git("config", "user.name", "eve", cwd=work)
    git("config", "user.email", "eve@acme.example", cwd=work)
    git("checkout", "-q", "-b", "from-fork", cwd=work)
    (work / "shop/prod/main.yaml").write_text((work / "shop/prod/main.yaml").read_text() + "\n# from a fork\n")
    git("commit", "-qam", "From a fork", cwd=work)
    git("push", "-q", "origin", "from-fork", cwd=work)
    pr = box.repo("eve").create_pull(title="From a fork", body="", head="eve:from-fork", base="main")
    box.dispatch()
    [notice] = bodies(box, pr.number)
    assert "comes from a fork" in notice
    fork.delete()  # GitHub now sends head.repo: null for this pull request
    assert box.repo("alice").get_pull(pr.number).head.repo is None
    # The event again (the live pull request is read fresh) and a comment command: both see a fork.
    opened = box.recorder.events("pull_request", "opened")[-1]
    box.bot.handler(make_delivery("again-" + opened.delivery, "pull_request", opened.body, datetime.now(UTC)))
    [notice] = bodies(box, pr.number)
    assert "comes from a fork" in notice and "### `shop`" not in notice
    assert "shipmate/preview" not in statuses(box, pr.head.sha)
    asked = comment(box, "alice", pr.number, "/preview")
    box.dispatch()
    assert "Pull requests from forks never run Terraform or apply" in bodies(box, pr.number, after=asked.id)[0]
    box.repo("alice").get_pull(pr.number).edit(state="closed")
    box.dispatch()


def test_the_server_can_name_the_policy_branch(box: Sandbox) -> None:
    # SHIPMATE_POLICY_BRANCH: every repository's shipmate.yaml is read from that (protected)
    # branch instead of the default branch.
    assert Settings.from_env({}).bot.policy_branch is None
    assert Settings.from_env({"SHIPMATE_POLICY_BRANCH": "policy"}).bot.policy_branch == "policy"
    with pytest.raises(ConfigError, match="SHIPMATE_POLICY_BRANCH: must be a git branch name, got 'a b'"):
        Settings.from_env({"SHIPMATE_POLICY_BRANCH": "a b"})
    branch = push_branch(box, "alice", {"shipmate.yaml": replace("apply: both", "apply: on-merge")},
                         message="Policy: apply on merge only")
    router = EventRouter()
    install(router, box.services, policy_branch=branch)
    box.dispatch()
    pr = open_pr(box, "bob", {"docs/policy.md": "p\n"}, title="Docs under a policy branch")
    box.dispatch()
    asked = comment(box, "alice", pr.number, "/apply")
    box.github.wait_idle()
    [created] = [r for r in box.recorder.events("issue_comment", "created") if r.payload["comment"]["id"] == asked.id]
    box.skip()
    router(make_delivery(created.delivery, "issue_comment", created.body, datetime.now(UTC)))
    assert (f"this repository applies on merge only (`apply: on-merge` in shipmate.yaml on `{branch}`)"
            in bodies(box, pr.number, after=asked.id)[0])
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.dispatch()


def test_a_push_to_a_branch_the_policy_names_applies(box: Sandbox, tmp_path: Path) -> None:
    work = box.root / "clones" / "alice-branches"
    box.clone("alice", work)
    settings = work / "shipmate.yaml"
    original = settings.read_text()
    settings.write_text(original + "branches: [main, 'release/*']\n")
    git("commit", "-qam", "Apply release branches too", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    box.skip()  # the push would apply every stack (shipmate.yaml changed): not this test's business
    try:
        push_branch(box, "alice", {PROD: replace("LOG_LEVEL: info", "LOG_LEVEL: trace")},
                    branch="release/7", message="Trace in prod")
        box.dispatch()
        head = box.repo("alice").get_branch("release/7").commit.sha
        state, description = statuses(box, head)["shipmate/apply"]
        assert state == "success" and "prod r" in description
        with backend(box, tmp_path / "r") as state_branch:
            latest = state_branch.latest("shop", "prod")
            assert latest is not None and latest.commit == head and latest.trigger is Trigger.PUSH
    finally:
        settings.write_text(original)
        git("commit", "-qam", "Only main applies", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        box.skip()
