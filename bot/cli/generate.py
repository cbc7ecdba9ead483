"""`shipmate generate`: print (or write) the Spec of a stack.

    shipmate generate [-w STACK_DIR] [-o FILE] [--format yaml|json]

The repository root is the nearest directory above the stack holding `workspaces/`,
`shipmate.yaml` or `.git`. Generated secret values are derived with `SHIPMATE_SECRET_SALT`
when it is set. Problems in the config go to stderr, one line each, with exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bot.adapters.localfs import LocalConfigReader, find_repo_root
from bot.app.configrepo import generate_from
from bot.cli import environment
from bot.core.errors import ConfigError, Problem
from bot.core.generate import render_spec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="turn a stack into a Spec",
        description="Generate the Spec of a stack (AppConfigurations + workspace + modules).",
    )
    parser.add_argument("-w", "--workdir", default=".", metavar="STACK_DIR",
                        help="the stack directory (holding stack.yaml); default: the current directory")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the Spec to FILE instead of stdout")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stack_dir = Path(args.workdir)
    if not stack_dir.is_dir():
        raise ConfigError([Problem(str(stack_dir), 0, 0, "", "no such directory")])
    root = find_repo_root(stack_dir)
    rel = stack_dir.resolve().relative_to(root).as_posix()
    salt = environment.read().settings.storage.secret_salt
    spec = generate_from(LocalConfigReader(root), "" if rel == "." else rel, secret_salt=salt)
    text = render_spec(spec, args.format)
    if args.output:
        try:
            write_atomically(Path(args.output), text)
        except OSError as exc:
            raise ConfigError([Problem(args.output, 0, 0, "", f"cannot write: {exc.strerror or exc}")]) from None
    else:
        sys.stdout.write(text)
    return 0


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory, so a failure leaves no half file."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
