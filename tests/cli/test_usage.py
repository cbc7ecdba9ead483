"""The command line itself: suggestions for near misses, usage lines that name the subcommand,
flag values checked where they are parsed, examples in every `--help`, Kusion's spellings,
shell completion, exit codes, and a closed pipe."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import build, options
from tests.cli.localstack import LocalStack, run_cli, site
from tests.conftest import ROOT
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "usage"


run = run_cli


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Help and usage are wrapped to the terminal's width: a fixed one here."""
    monkeypatch.setenv("COLUMNS", "100")


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("command", ["aply"]),
        ("flag", ["apply", "--yse"]),
        ("subcommand", ["release", "lsit"]),
        ("subcommand-flag", ["release", "show", "--revison", "2"]),
        ("concurrency", ["apply", "--concurrency", "0"]),
        ("timeout", ["destroy", "--timeout", "-1"]),
        ("revision", ["release", "rollback", "--revision", "0"]),
        ("choice", ["preview", "-o", "yml"]),
        ("limit", ["queue", "list", "--limit", "0"]),
    ],
)
def test_a_usage_error_names_the_subcommand_and_the_fix_and_exits_2(
    capsys: pytest.CaptureFixture[str], name: str, argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert_golden(GOLDEN / f"{name}.txt", err)


def test_every_help_has_usage_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    root = build()
    paths: list[list[str]] = [[]]
    with click.Context(root, info_name="shipmate") as ctx:
        for name in root.list_commands(ctx):
            paths.append([name])
            command = root.get_command(ctx, name)
            if isinstance(command, click.Group):
                paths.extend([name, sub] for sub in command.list_commands(ctx))
    assert len(paths) > 15
    for path in paths:
        code, out, err = run(capsys, *path, "--help")
        assert (code, err) == (0, ""), path
        assert out.startswith(f"Usage: {' '.join(['shipmate', *path])} "), out
        assert "\n  Examples:\n" in out and "  shipmate " in out.split("Examples:")[1], path
        if path:
            assert code == 0 and "-h, --help" in out
    assert_golden(GOLDEN / "help.txt", run(capsys, "--help")[1])
    assert_golden(GOLDEN / "apply-help.txt", run(capsys, "apply", "-h")[1])


def test_completion_scripts_and_completions(capsys: pytest.CaptureFixture[str]) -> None:
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "compdef"), ("fish", "complete --no-files")):
        code, out, _ = run(capsys, "completion", shell)
        assert code == 0 and "_SHIPMATE_COMPLETE" in out and marker in out, shell
    env = {**os.environ, "_SHIPMATE_COMPLETE": "bash_complete", "COMP_WORDS": "shipmate rel", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["plain,release"]
    env.update(COMP_WORDS="shipmate apply --no-", COMP_CWORD="2")
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert set(done.stdout.split()) >= {"plain,--no-detail", "plain,--no-watch", "plain,--no-style"}


def test_kusion_spellings() -> None:
    assert options.kusion_spellings(["preview", "--detail=false", "--watch=True", "-d"]) == [
        "preview", "--no-detail", "--watch", "-d"]
    assert options.kusion_spellings(["apply", "--ignore-fields", "a.b", "c", "-y"]) == [
        "apply", "--ignore-fields", "a.b,c", "-y"]
    assert options.kusion_spellings(["apply", "--", "--detail=false"]) == ["apply", "--", "--detail=false"]
    assert options.ignore_paths(("a.b,c", "d", " ,e ")) == ("a.b", "c", "d", "e")


@given(st.lists(st.text(alphabet="abcdefghij-=.,_", min_size=1, max_size=12)))
def test_property_arguments_other_than_kusion_booleans_pass_unchanged(argv: list[str]) -> None:
    plain = [a for a in argv if "=" not in a and a != "--ignore-fields"]
    assert options.kusion_spellings(plain) == plain


def test_the_workspace_flag_must_be_the_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(site(tmp_path)))
    importlib.invalidate_caches()
    stack = LocalStack(tmp_path, notes="hello\n")
    code, out, err = run(capsys, "preview", "--workspace", "prod", *stack.where())
    assert (code, out) == (2, "")
    assert err == ("--workspace: stack shop/dev runs in workspace 'dev', not 'prod' (its stack.yaml names "
                   "the workspace)\n")
    code, out, err = run(capsys, "preview", "--workspace", "dev", "--detail=false", "--no-style", *stack.where())
    assert code == 0 and "local:file:web-notes" in out and "\x1b[" not in out and err == ""


def test_an_error_is_printed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apply", "--yes", "-w", str(tmp_path / "nowhere"))
    assert (code, out) == (2, "")
    assert err == f"{tmp_path / 'nowhere'}: no such directory\n"


def test_a_closed_pipe_ends_quietly() -> None:
    """`shipmate ... | head -1`: the reader is gone before anything is written (`true` reads
    nothing): no traceback, no message, exit 141 as for a process SIGPIPE ended."""
    for argv in ("--help", "release list --help", "completion zsh"):
        script = f'{sys.executable} -m bot {argv} | true; echo "${{PIPESTATUS[0]}}"'
        done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
        assert (done.stdout, done.stderr) == ("141\n", ""), argv
