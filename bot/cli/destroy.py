"""`shipmate destroy`: delete everything the stack's latest release holds, dependents first.

    shipmate destroy [-w STACK_DIR] [--yes] [--dry-run] [--timeout S] [--concurrency N]

Imported resources are left in place. The destroy is recorded as a release whose Spec is
the state it started from, and the state shrinks after each deletion.
"""

from __future__ import annotations

import argparse

from bot.cli import stackcmd
from bot.core.affected import StackRef
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "destroy",
        help="delete every resource of a stack and record a release",
        description="Delete what the stack's latest release holds, in reverse dependency order.",
    )
    stackcmd.add_common(parser)
    stackcmd.add_apply_options(parser)
    parser.set_defaults(func=run)


DESTROY = stackcmd.Verb(prompt="destroy", name="destroy", nothing="nothing destroyed, nothing recorded",
                        declined_nothing="nothing deleted, nothing recorded")


def run(args: argparse.Namespace) -> int:
    ctx = stackcmd.open_context(args, watch=False, concurrency=args.concurrency, timeout=args.timeout)
    with ctx.backend:
        loaded = stackcmd.load(ctx)
        ident = loaded.identity
        provenance = Provenance(Trigger.CLI, actor=stackcmd.user(), commit=stackcmd.head_commit(ctx.root))
        plan = stackcmd.plan_for(Operation.DESTROY, StackRef(ident.path, ident.project, ident.stack, ident.workspace),
                                 provenance)
        return stackcmd.operate(ctx, plan, DESTROY, dry_run=args.dry_run, yes=args.yes, loaded=(loaded,), trusted=loaded.settings)
