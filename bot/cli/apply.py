"""`shipmate apply`: preview, confirm, apply, and record a release on the state backend.

    shipmate apply [-w STACK_DIR] [--yes] [--dry-run] [--watch/--no-watch] [--timeout S]
                   [--concurrency N] [--ignore-fields P ...] [--backend SPEC]

The project+workspace is locked for the whole run. The release is written before the first
change and its state after every operation, so Ctrl-C or SIGTERM (or a crash) leaves a
release that records exactly what was done; `shipmate release unlock` then frees it.
"""

from __future__ import annotations

import argparse

from bot.cli import stackcmd
from bot.core.affected import StackRef
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="apply a stack and record a release",
        description="Preview the stack, ask for confirmation, apply it and record a release.",
    )
    stackcmd.add_common(parser)
    stackcmd.add_apply_options(parser)
    parser.add_argument("--watch", action=argparse.BooleanOptionalAction, default=True,
                        help="wait until workloads are ready (default: on)")
    parser.set_defaults(func=run)


APPLY = stackcmd.Verb(prompt="apply", name="apply", nothing="nothing applied, nothing recorded")


def run(args: argparse.Namespace) -> int:
    ctx = stackcmd.open_context(args, watch=args.watch, concurrency=args.concurrency, timeout=args.timeout)
    with ctx.backend:
        loaded = stackcmd.load(ctx)
        ident = loaded.identity
        provenance = Provenance(Trigger.CLI, actor=stackcmd.user(), commit=stackcmd.head_commit(ctx.root))
        plan = stackcmd.plan_for(Operation.APPLY, StackRef(ident.path, ident.project, ident.stack, ident.workspace),
                                 provenance)
        return stackcmd.operate(ctx, plan, APPLY, dry_run=args.dry_run, yes=args.yes, loaded=(loaded,))
