"""`shipmate preview` and `apply` on a stack written in KCL: the CLI compiles `main.k` with a
local package whose schema is the `Local` runtime's module (`tests/localruntime`)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bot.cli import main
from tests.cli.localstack import LocalStack, site

MOD = '[package]\nname = "dev"\n\n[dependencies]\nkam = { git = "https://github.com/KusionStack/kam.git", tag = "0.2.0" }\n' \
      'localfile = { path = "../../lib/localfile" }\n'
SCHEMA = "schema File:\n    path: str\n    content: str\n"
MAIN = """\
import kam.v1.app_configuration as ac
import localfile

_names = ["notes", "readme"]

web: ac.AppConfiguration {
    accessories: {
        name: localfile.File {path: "${name}.txt", content: "${name.upper()}\\n"} for name in _names
    }
}
"""


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    monkeypatch.syspath_prepend(str(site(tmp_path)))
    importlib.invalidate_caches()
    local = LocalStack(tmp_path)
    (local.repo / "shop" / "dev" / "main.yaml").unlink()
    local.write("shop/dev/main.k", MAIN)
    local.write("shop/dev/kcl.mod", MOD)
    local.write("lib/localfile/file.k", SCHEMA)
    return local


def test_preview_and_apply_compile_main_k(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "--no-detail", *stack.where()]) == 0
    out = capsys.readouterr().out
    assert "local:file:web-notes" in out and "local:file:web-readme" in out, out
    assert not any(stack.files.iterdir())
    assert main(["apply", "--yes", "--no-detail", "--no-style", *stack.where()]) == 0
    assert sorted((p.name, p.read_text()) for p in stack.files.iterdir()) == [
        ("notes.txt", "NOTES\n"), ("readme.txt", "README\n")]


def test_a_kcl_error_stops_apply_before_anything_runs(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.write("shop/dev/main.k", MAIN.replace('path: "${name}.txt"', "path: 1"))
    assert main(["apply", "--yes", *stack.where()]) == 2
    assert "shop/dev/main.k:8:" in capsys.readouterr().err
    assert not any(stack.files.iterdir())
