"""What an apply on a push to the default branch leaves behind when it fails: the masked
reason in the Release, in a comment on the merged pull request (or a commit comment for a
direct push) and in the `shipmate/apply` status, whose link leads to that comment.

The sandbox runs without a server (`dispatch()` runs each webhook through the router here);
the failing stack is real Terraform whose resource's provisioner exits non-zero on apply.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.gitstate import git_backend
from bot.app.services import APPLY_STATUS
from bot.cli.sandbox import BOT, EXAMPLE, REPO_NAME, REPO_OWNER, Sandbox, git
from bot.core.release import Phase, Trigger
from tests.e2e.world import push_branch, replace

pytestmark = pytest.mark.e2e

DEPLOY_TOKEN = "tok-merge-7c1e55b0a9d4"  # a workspace context value under a secret key name
DATA_DEV = "data/dev/main.yaml"


def failing(stack_text: str, message: str) -> str:
    """The `exporter` resource of data/dev with a provisioner that fails on apply."""
    provisioner = (
        "            provisioner:\n"
        "              - local-exec:\n"
        f"                  command: \"echo '{message}' >&2; exit 3\"\n"
    )
    return replace("              schedule: hourly\n", f"              schedule: hourly\n{provisioner}")(stack_text)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("merges"), serve=False,
                       context={"DEPLOY_TOKEN": DEPLOY_TOKEN}) as sandbox:
        yield sandbox


def latest_release(box: Sandbox, tmp: Path, project: str, workspace: str) -> Any:
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp) as state:
        return state.latest(project, workspace)


def apply_status(box: Sandbox, sha: str) -> dict[str, Any]:
    [status] = [s for s in box.github.statuses(REPO_OWNER, REPO_NAME, sha) if s["context"] == APPLY_STATUS]
    return status


def push_main(box: Sandbox, login: str, rel: str, text: str, message: str) -> str:
    """Commit `text` as `rel` straight onto main as `login` and push it; returns the new head."""
    work = box.root / "clones" / f"{login}-main-{len(list((box.root / 'clones').glob('*')))}"
    box.clone(login, work)
    (work / rel).write_text(text)
    git("commit", "-qam", message, cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def test_a_failed_apply_on_merge_is_explained_on_the_pull_request(
    box: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reason = f"disk full while exporting with {DEPLOY_TOKEN}"
    branch = push_branch(box, "bob", {DATA_DEV: lambda text: failing(text, reason)}, message="Export hourly")
    pr = box.repo("bob").create_pull(title="Export hourly", body="", head=branch, base="main")
    box.dispatch()
    merged = box.repo("alice").get_pull(pr.number).merge()
    with caplog.at_level(logging.WARNING, logger="shipmate.bot"):
        box.dispatch()
    [logged] = [r.getMessage() for r in caplog.records if "apply on push of data/dev failed" in r.getMessage()]
    assert "disk full while exporting" in logged and DEPLOY_TOKEN not in logged

    release = latest_release(box, tmp_path / "state", "data", "dev")
    assert release is not None and release.phase is Phase.FAILED and release.trigger is Trigger.PUSH
    assert release.commit == merged.sha and release.pull_request == pr.number
    assert "disk full while exporting" in (release.error or "") and DEPLOY_TOKEN not in (release.error or "")

    [outcome] = [c for c in box.github.comments(REPO_OWNER, REPO_NAME, pr.number)
                 if "Shipmate apply on merge" in c["body"]]
    assert "disk full while exporting" in outcome["body"] and DEPLOY_TOKEN not in outcome["body"]

    status = apply_status(box, merged.sha)
    assert status["state"] == "failure"
    assert "data/dev" in status["description"] and "disk full" in status["description"]
    assert DEPLOY_TOKEN not in status["description"]
    assert status["target_url"] == outcome["html_url"]


def test_a_failed_apply_of_a_direct_push_is_explained_in_a_commit_comment(box: Sandbox, tmp_path: Path) -> None:
    text = failing((EXAMPLE / DATA_DEV).read_text(), f"quota exceeded for {DEPLOY_TOKEN}")
    sha = push_main(box, "alice", DATA_DEV, text.replace("schedule: hourly", "schedule: daily"), "Export daily")
    box.dispatch()

    release = latest_release(box, tmp_path / "state", "data", "dev")
    assert release is not None and release.phase is Phase.FAILED and release.commit == sha
    assert release.pull_request is None and "quota exceeded" in (release.error or "")
    assert DEPLOY_TOKEN not in (release.error or "")

    [note] = box.github.commit_comments(REPO_OWNER, REPO_NAME, sha)
    assert note["user"]["login"] == BOT and note["commit_id"] == sha
    assert "quota exceeded" in note["body"] and DEPLOY_TOKEN not in note["body"]

    status = apply_status(box, sha)
    assert status["state"] == "failure" and "quota exceeded" in status["description"]
    assert DEPLOY_TOKEN not in status["description"]
    assert status["target_url"] == note["html_url"]


def test_an_invalid_policy_on_a_direct_push_is_explained_in_a_commit_comment(box: Sandbox) -> None:
    original = (EXAMPLE / "shipmate.yaml").read_text()
    sha = push_main(box, "alice", "shipmate.yaml", original.replace("apply: both", "apply: sometimes"), "Apply sometimes")
    box.dispatch()
    try:
        [note] = box.github.commit_comments(REPO_OWNER, REPO_NAME, sha)
        assert "Nothing was applied" in note["body"] and "shipmate.yaml" in note["body"]
        status = apply_status(box, sha)
        assert status["state"] == "error" and status["description"].startswith("shipmate.yaml is invalid: ")
        assert "sometimes" in status["description"] and status["target_url"] == note["html_url"]
    finally:
        push_main(box, "alice", "shipmate.yaml", original, "Apply both again")
        box.skip()
