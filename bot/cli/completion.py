"""`shipmate completion`: the shell completion script (click's) for bash, zsh or fish.

The script asks `shipmate` itself for completions (with `_SHIPMATE_COMPLETE` set), so
subcommands, options and choices complete as the installed version knows them.
"""

from __future__ import annotations

import sys

import click
from click.shell_completion import get_completion_class

from bot.cli import options

SHELLS = ("bash", "zsh", "fish")
EXAMPLES = """
eval "$(shipmate completion bash)"       # in ~/.bashrc
eval "$(shipmate completion zsh)"        # in ~/.zshrc
shipmate completion fish > ~/.config/fish/completions/shipmate.fish
"""


@options.command("completion", "Print the shell completion script for SHELL (bash, zsh or fish).", EXAMPLES,
                 short="Print a shell completion script.")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def command(ctx: click.Context, shell: str) -> int:
    completion = get_completion_class(shell)
    assert completion is not None  # every name in SHELLS is one of click's
    root = ctx.find_root()
    sys.stdout.write(completion(root.command, {}, root.info_name or "shipmate", "_SHIPMATE_COMPLETE").source())
    return 0
