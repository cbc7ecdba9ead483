"""shipmate.yaml's policy keys: `branches` (where Shipmate applies) and `permissions.approve`
(whose approvals count), their errors with positions, and the preview-only notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config.settings import parse_settings
from bot.core.errors import ConfigError
from bot.core.render import notices
from tests.golden import assert_golden

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "bot"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_settings("shipmate.yaml", text)
    return str(err.value).splitlines()


def test_branches_default_to_the_default_branch() -> None:
    s = parse_settings("shipmate.yaml", None)
    assert s.branches is None and s.apply_branches("trunk") == ("trunk",)
    assert s.applies_to("trunk", "trunk") and not s.applies_to("evil", "trunk")
    assert s.permissions.approve == "write" and s.rules().approve_permission == "write"


def test_branches_names_and_globs() -> None:
    s = parse_settings("shipmate.yaml", "branches: [main, release/*]\npermissions: {approve: maintain}\n")
    assert s.apply_branches("main") == ("main", "release/*")
    assert s.applies_to("main", "main") and s.applies_to("release/1.2", "main")
    assert not s.applies_to("feature/x", "main") and not s.applies_to("mainline", "main")
    assert s.rules().approve_permission == "maintain"
    frozen = parse_settings("shipmate.yaml", "branches: []\n")
    assert frozen.apply_branches("main") == () and not frozen.applies_to("main", "main")


def test_branch_and_approver_errors_name_file_line_and_field() -> None:
    assert problems("branches: [main, 'a b', main]\npermissions:\n  approve: everyone\n") == [
        "shipmate.yaml:1:11: branches: expected each branch at most once",
        "shipmate.yaml:1:18: branches[1]: expected a branch name or a `*` glob such as release/*, got 'a b'",
        "shipmate.yaml:3:12: permissions.approve: expected one of: admin, maintain, write, triage, read; "
        "got a string ('everyone')",
    ]
    assert problems("branches: main\n") == ["shipmate.yaml:1:11: branches: expected a list of strings, got a string ('main')"]


def test_preview_only_notice_quotes_branch_names() -> None:
    lines = notices.preview_only("feat/`x`", ("main", "release/*"), "main")
    text = "\n".join(lines)
    assert "`` feat/`x` ``" in text
    assert_golden(GOLDEN / "preview-only.md", text)
