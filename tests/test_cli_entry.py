"""The `shipmate` command starts, prints help and version, and maps errors to exit codes."""

from __future__ import annotations

import subprocess
import sys

from bot import __version__
from bot.cli import main


def test_version_via_python_m(root):
    out = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"shipmate {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "Usage: shipmate [OPTIONS] COMMAND" in capsys.readouterr().err
