"""The `shipmate` command: parses arguments, dispatches to one module per subcommand.

Each subcommand lives in `bot/cli/<name>.py` and exposes `register(subparsers)`, which adds
its parser and sets `func(args) -> int`. Errors from the `ShipmateError` tree become one
message on stderr and the error's exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bot import __version__
from bot.core import errors

# Subcommand modules, in the order `shipmate --help` lists them.
COMMANDS: tuple[str, ...] = ("generate", "preview", "apply", "destroy", "serve", "queue", "release", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipmate",
        description="GitOps for Kusion-compatible config repositories: generate, preview, apply, "
        "destroy, and a bot that does it on pull requests.",
    )
    parser.add_argument("--version", action="version", version=f"shipmate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bot.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except errors.ShipmateError as exc:
        print(f"error: {exc}" if not isinstance(exc, errors.ConfigError) else str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
