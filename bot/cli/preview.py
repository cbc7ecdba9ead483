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

from bot.app.runner import StackRunner
from bot.app.services import Tree
from bot.cli import stackcmd
from bot.core import render
from bot.core.affected import StackRef
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance


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
        ident = loaded.identity
        plan = stackcmd.plan_for(Operation.PREVIEW, StackRef(ident.path, ident.project, ident.stack, ident.workspace),
                                 Provenance(Trigger.CLI, stackcmd.user(), stackcmd.head_commit(ctx.root)))
        runner = StackRunner(ctx.ops, Tree("", plan.provenance.commit, ctx.reader), ctx.settings, contain=False,
                             loaded=(loaded,))
        outcome = runner.run(plan).stacks[0]
    changeset = outcome.changeset
    assert changeset is not None  # without `contain`, a preview that fails raises
    secrets = loaded.secrets
    if args.output == "json":
        sys.stdout.write(render.json(changeset, secrets=secrets) + "\n")
    elif args.output == "markdown":
        for part in render.markdown([outcome], key=ident.path or "stack", secrets=secrets):
            sys.stdout.write(part + "\n")
    else:
        text = render.text(changeset, color=sys.stdout.isatty(), detail=args.detail, secrets=secrets)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 2 if args.exit_code and changeset.has_changes else 0
