"""`shipmate preview`: what applying the stack would change, against live state.

    shipmate preview [-w STACK_DIR] [-o text|json|markdown] [--ignore-fields P ...] [--detail]

Compares the generated Spec, the latest release's state and what the runtimes read live
(Kubernetes server-side dry-run, Terraform plan). `-o json` is compatible with
`kusion preview -o json`; `-o markdown` prints the PR comment body. Exit code 0 whatever the
changes; `--exit-code` makes it 2 when there are changes (for drift checks in CI).
"""

from __future__ import annotations

import argparse
import sys

from bot.cli import stackcmd
from bot.core import render
from bot.core.preview.model import StackResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "preview",
        help="show what applying a stack would change",
        description="Three-way preview of a stack: Spec vs latest release vs live.",
    )
    stackcmd.add_common(parser)
    parser.add_argument("-o", "--output", choices=("text", "json", "markdown"), default="text",
                        help="output format (default: text)")
    parser.add_argument("--detail", action=argparse.BooleanOptionalAction, default=True,
                        help="show each resource's field diff (default: on)")
    parser.add_argument("--exit-code", action="store_true", help="exit 2 when there are changes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = stackcmd.open_context(args)
    with ctx.backend:
        loaded = stackcmd.load(ctx)
        changeset = ctx.ops.preview(loaded)
    secrets = loaded.secrets
    if args.output == "json":
        sys.stdout.write(render.json(changeset, secrets=secrets) + "\n")
    elif args.output == "markdown":
        for part in render.markdown([StackResult.of(changeset)], key=loaded.identity.path or "stack",
                                    secrets=secrets):
            sys.stdout.write(part + "\n")
    else:
        text = render.text(changeset, color=sys.stdout.isatty(), detail=args.detail, secrets=secrets)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 2 if args.exit_code and changeset.has_changes else 0
