"""The CLI prints no secret of its environment: Shipmate's salt and a token the user's shell
holds are masked in `shipmate preview` output even when the stack's Terraform shows them
(real Terraform, the acme example's data/dev stack in a real git repository)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.adapters import logmask
from bot.cli import main
from bot.cli.sandbox import EXAMPLE
from bot.core.mask import MASK, Masker

SALT = "salt-cli-4d3c2b1a0f"
TOKEN = "ghp_clitoken0123456789ab"


def test_preview_output_masks_the_environments_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SHIPMATE_TERRAFORM_BIN", "TF_CLI_CONFIG_FILE"):
        if not Path(os.environ.get(name, "")).is_file():
            pytest.fail(f"{name} must name the project's .tools/terraform copy (./scripts/test sets it)")
    work = tmp_path / "config"
    shutil.copytree(EXAMPLE, work)
    stack = work / "data" / "dev" / "main.yaml"
    stack.write_text(stack.read_text().replace("size: small", f"size: 'GITHUB_TOKEN={TOKEN} SALT={SALT}'"))
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", "-C", str(work), *args], check=True)
    monkeypatch.setenv("SHIPMATE_SECRET_SALT", SALT)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("SHIPMATE_CACHE_DIR", str(tmp_path / "cache"))
    before = logmask.installed()
    try:
        code = main(["preview", "-w", str(work / "data" / "dev")])
    finally:
        logmask.install(before if before is not None else Masker())
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "null_resource" in out.out and MASK in out.out
    for text in (out.out, out.err):
        assert SALT not in text and TOKEN not in text
