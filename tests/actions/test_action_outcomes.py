"""How a failed Action run ends: the same retry axis and reporting as the server's workers
(`bot.app.workers.run_once`), in process, against the GitHub simulator. A GitHub that keeps
answering 502 is tried three times; then the pull request gets the error comment, no status is
left `pending`, and the step fails with an annotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.__main__ import main
from bot.cli.sandbox import REPO, USERS, Sandbox
from tests.e2e.world import bodies, open_pr, statuses

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("action-outcomes"), serve=False) as sandbox:
        yield sandbox


def test_a_failing_github_ends_the_action_with_an_error_comment_and_final_status(
    box: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(box.recorder.received)
    pr = open_pr(box, "bob", {"docs/outcomes.md": "text\n"}, title="Action outcomes")
    box.skip()
    [item] = [r for r in box.recorder.received[before:] if r.headers["X-GitHub-Event"] == "pull_request"]
    event = tmp_path / "event.json"
    event.write_bytes(item.body)
    box.github.inject_fault(rf"/pulls/{pr.number}/files$", 502, method="GET", times=100)
    env = {
        **{k: v for k, v in box.env.items() if k.startswith(("SHIPMATE_TERRAFORM", "TF_"))},
        "INPUT_COMMAND": "auto", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": USERS["shipmate"][0], "GITHUB_API_URL": box.github.api_url, "GITHUB_REPOSITORY": REPO,
        "GITHUB_RUN_ID": "77", "RUNNER_TEMP": str(tmp_path / "runner"),
    }
    try:
        code = main(env)
        hits = [h for h in box.github.fault_hits() if h["path"].endswith(f"/pulls/{pr.number}/files")]
    finally:
        box.github.faults.clear()
    out = capsys.readouterr().out
    assert code == 1
    assert "::error title=Shipmate::" in out and "502" in out
    assert len(hits) >= 3  # three attempts (each with the client's own quick retries)
    state, description = statuses(box, pr.head.sha)["shipmate/preview"]
    assert state == "error" and description.startswith("Shipmate gave up after 3 attempts")
    [comment] = [b for b in bodies(box, pr.number) if "could not handle" in b]
    assert "re-run the workflow job" in comment and "shipmate queue retry" not in comment
    assert USERS["shipmate"][0] not in comment
