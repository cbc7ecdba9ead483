"""The `shipmate` command: a click group with one module per subcommand.

Each subcommand lives in `bot/cli/<name>.py` and exposes `command`, a click command (or
group) returning the exit code. `main` runs it and maps everything that ends a run to one
message on stderr and an exit code, never a traceback:

| what | exit | printed |
|---|---|---|
| a usage error (unknown command or flag, a bad value) | 2 | the usage line of the right subcommand, a "did you mean", the error |
| a `ShipmateError` | its `exit_code` | the message, once |
| Ctrl-C | 130 | `interrupted` |
| stdout closed by its reader | 141 (128 + SIGPIPE) | nothing |
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import click

from bot import __version__
from bot.cli import options
from bot.core import errors

# Subcommand modules, in the order `shipmate --help` lists them.
COMMANDS: tuple[str, ...] = ("generate", "preview", "apply", "destroy", "serve", "queue", "release", "demo",
                             "completion")

EXAMPLES = """
shipmate preview -w shop/dev             # what applying shop/dev would change
shipmate apply -w shop/dev               # apply it and record a release
shipmate release list -w shop/dev        # its releases
shipmate apply -h                        # every command has its own help and examples
eval "$(shipmate completion bash)"       # completion of commands and flags
"""
PIPE_CLOSED = 141


def build() -> click.Group:
    """The `shipmate` group with every subcommand."""
    root = options.SuggestingGroup(
        "shipmate",
        help="GitOps for Kusion-compatible config repositories: generate, preview, apply, destroy, "
        "and a bot that does it on pull requests.",
        epilog=options.epilog(EXAMPLES),
        context_settings=options.CONTEXT,
    )
    click.version_option(__version__, "--version", prog_name="shipmate", message="%(prog)s %(version)s")(root)
    for name in COMMANDS:
        root.add_command(importlib.import_module(f"bot.cli.{name}").command)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    root = build()
    args = options.kusion_spellings(sys.argv[1:] if argv is None else argv)
    if not args and "_SHIPMATE_COMPLETE" not in os.environ:
        with click.Context(root, info_name="shipmate") as ctx:
            click.echo(root.get_help(ctx), err=True)
        return 2
    try:
        code = root.main(args=args, prog_name="shipmate", standalone_mode=False)
        sys.stdout.flush()
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return 130
    except errors.ShipmateError as exc:
        print(f"error: {exc}" if not isinstance(exc, errors.ConfigError) else str(exc), file=sys.stderr)
        return exc.exit_code
    except (options.PipeClosed, BrokenPipeError):
        _silence_stdout()
        return PIPE_CLOSED
    return int(code or 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
