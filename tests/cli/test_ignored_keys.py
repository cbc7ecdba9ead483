"""Keys of project.yaml and stack.yaml that Kusion ignores (konfig's `generator:`, the Stack's
`path:`) are ignored by the CLI too, with a located warning on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.cli.localstack import installed_stack


def test_a_preview_warns_of_ignored_project_and_stack_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = installed_stack(tmp_path, monkeypatch, notes="hello\n")
    stack.write("shop/project.yaml", "name: shop\ngenerator:\n  type: AppConfiguration\n")
    stack.write("shop/dev/stack.yaml", "name: dev\npath: shop/dev\n")
    code = main(["preview", "--detail=false", "--no-style", *stack.where()])
    out, err = capsys.readouterr()
    assert code == 0 and "local:file:web-notes" in out
    assert err.splitlines() == [
        "warning: shop/project.yaml:2:1: generator: ignored unknown field 'generator'; "
        "expected one of: description, extensions, labels, name",
        "warning: shop/dev/stack.yaml:2:1: path: ignored unknown field 'path'; "
        "expected one of: backend, dependsOn, description, extensions, labels, name, workspace",
    ]


def test_generate_warns_of_ignored_keys_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = installed_stack(tmp_path, monkeypatch, notes="hello\n")
    stack.write("shop/dev/stack.yaml", "name: dev\npath: shop/dev\n")
    code = main(["generate", "-w", str(stack.repo / "shop" / "dev")])
    out, err = capsys.readouterr()
    assert code == 0 and "local:file:web-notes" in out
    assert err.startswith("warning: shop/dev/stack.yaml:2:1: path: ignored unknown field 'path';")
