"""The one golden-file check: what a person reads (comments, terminal text, Specs, metrics,
error messages) compared with a file under version control.

`assert_golden(path, text)` passes when `path` holds exactly `text`. With
`SHIPMATE_UPDATE_GOLDEN=1` it first writes `text` to `path` (then review the change with
`git diff`). A missing file fails with the command that creates it; a difference fails with a
unified diff, golden file first.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

UPDATE_VARIABLE = "SHIPMATE_UPDATE_GOLDEN"
ROOT = Path(__file__).resolve().parent.parent


def updating() -> bool:
    """Whether this run rewrites golden files (`SHIPMATE_UPDATE_GOLDEN=1`)."""
    return os.environ.get(UPDATE_VARIABLE) == "1"


def assert_golden(path: Path, text: str) -> None:
    """Fail unless the golden file `path` holds `text` (UTF-8); rewrite it first when updating."""
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    command = f"{UPDATE_VARIABLE}=1 pytest {_current_test()}"
    if not path.exists():
        pytest.fail(f"missing golden file {shown}; create it with: {command}", pytrace=False)
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{shown} (golden)", tofile=f"{shown} (this run)",
        ))
        pytest.fail(f"{shown} differs from this run:\n{diff}\nif the change is intended: {command}", pytrace=False)


def _current_test() -> str:
    """The running test's node ID (`tests/x.py::test_y[param]`), quoted for a shell."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    return f"'{current}'" if current else "tests/"
