"""A pull request's Terraform reads the environment it runs in: the preview comment shows the
values, so that environment must hold nothing of the bot's.

The bot is built as `shipmate serve` builds it, from an environment holding credentials;
the pull request adds a null_resource whose trigger is `file("/proc/self/environ")` (and the
bot process's own environ). Masking of known secrets is not what this test relies on: the
planted credentials are ones no masker knows (`AWS_SECRET_ACCESS_KEY`, `DATABASE_URL`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli.sandbox import Sandbox, git
from tests.e2e.world import apply_edits, bodies, comment, open_pr, replace

pytestmark = pytest.mark.e2e

PLANTED = {
    "AWS_SECRET_ACCESS_KEY": "aws-FAKE-bot-key-5b1e2c9a",
    "DATABASE_URL": "postgres://shipmate:FAKE-db-pass-77c3@db/shipmate",
    "GITHUB_TOKEN": "ghp_FAKEprocessTOKEN7d1e4a",
    "SHIPMATE_SECRET_SALT": "salt-FAKE-3c9e1f",
}


def test_preview_of_terraform_reading_its_environment_shows_no_bot_credential(tmp_path: Path) -> None:
    env = {**os.environ, **PLANTED}
    with Sandbox.start(tmp_path, env=env, serve=False) as box:
        # The stack is applied first, so the next preview is a Terraform plan of an update.
        pull = open_pr(box, "bob", {"data/dev/main.yaml": replace("hourly", "daily")}, title="Daily")
        box.dispatch()
        box.repo("alice").get_pull(pull.number).create_review(event="APPROVE")
        comment(box, "alice", pull.number, "/apply")
        box.dispatch()
        assert "1 succeeded" in bodies(box, pull.number)[-1]

        work = box.clone("bob", tmp_path / "bob")
        git("checkout", "-q", pull.head.ref, cwd=work)
        apply_edits(work, {"data/dev/main.yaml": replace(
            "              schedule: daily\n",
            "              schedule: daily\n"
            '              env: ${file("/proc/self/environ")}\n'
            f'              bot: ${{try(file("/proc/{os.getpid()}/environ"), "hidden")}}\n',
        )})
        git("commit", "-qam", "Read the environment", cwd=work)
        git("push", "-q", "origin", pull.head.ref, cwd=work)
        box.dispatch()
        text = "\n".join(bodies(box, pull.number))
    assert "TF_IN_AUTOMATION" in text  # the preview did show what file() read
    for value in PLANTED.values():
        assert value not in text
