"""`shipmate apply`: preview, confirm, apply, and record a release on the state backend.

    shipmate apply [-w STACK_DIR] [--yes] [--dry-run] [--watch/--no-watch] [--timeout S]
                   [--concurrency N] [--ignore-fields P ...] [--backend SPEC]

The project+workspace is locked for the whole run. The release is written before the first
change and its state after every operation, so Ctrl-C or SIGTERM (or a crash) leaves a
release that records exactly what was done; `shipmate release unlock` then frees it.
"""

from __future__ import annotations

import argparse

from bot.app.stacks import Provenance
from bot.cli import stackcmd
from bot.core.release import Trigger


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


def run(args: argparse.Namespace) -> int:
    ctx = stackcmd.open_context(args, watch=args.watch, concurrency=args.concurrency, timeout=args.timeout)
    with ctx.backend:
        loaded = stackcmd.load(ctx)
        if args.dry_run:
            result = ctx.ops.apply(loaded, Provenance(Trigger.CLI), owner=stackcmd.owner(), dry_run=True)
            stackcmd.show_preview(result.changeset)
            print("dry run: nothing applied, nothing recorded")
            return 0
        confirm = stackcmd.confirm_yes if args.yes else stackcmd.confirm_on_terminal("apply")
        progress = stackcmd.Progress()
        with stackcmd.cancellable() as cancel:
            result = ctx.ops.apply(
                loaded,
                Provenance(Trigger.CLI, actor=stackcmd.user(), commit=stackcmd.head_commit(ctx.root)),
                owner=stackcmd.owner(),
                confirm=progress.watching(confirm),
                on_event=progress,
                cancel=cancel,
            )
    if result.declined:
        print("apply declined: nothing applied, nothing recorded")
        return 1
    release = result.release
    assert release is not None
    outcome = result.outcome
    summary = outcome.summary() if outcome else ""
    stackcmd.report(
        f"release {release.project}/{release.workspace} r{release.revision}: {release.phase} ({summary})",
        outcome,
    )
    return 0 if result.ok else 1
