"""The bot's handlers step by step: the GitHub simulator's webhooks are run through the
router in this thread (`Sandbox(serve=False).dispatch()`), so each test sees exactly what one
change caused. Everything behind the router is real: PyGithub over HTTP, git checkouts, the
state branch, the Kubernetes simulator. The stacks used here are Kubernetes-only (`shop/prod`)
or touch no stack, so no Terraform runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.app import summary
from bot.cli.sandbox import REPO, Sandbox, git
from bot.core.release import Phase, Trigger
from bot.core.render import split
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
    ids = summary.upsert(host, REPO, pr.number, "preview", "pr-x", three)
    assert summary.upsert(host, REPO, pr.number, "preview", "pr-x", three) == ids
    one = summary.upsert(host, REPO, pr.number, "preview", "pr-x", ["<!-- shipmate:preview key=pr-x part=1/1 -->\nshort"])
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
    for text, expected, reaction in [
        ("/help", "**Shipmate commands**", ["+1", "eyes"]),
        ("/aply", "@eve Unknown command `/aply`. Did you mean `/apply`?", ["confused"]),
        ("/apply --force", "@eve `/apply` does not take `--force`.", ["confused"]),
        ("/destroy -p shop -s prod", "add `--confirm shop/prod`", ["confused"]),
    ]:
        asked = comment(box, "eve", pr.number, text)
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
        assert "this repository applies on merge only (`apply: on-merge` in shipmate.yaml on main)" in (
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
