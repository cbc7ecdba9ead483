"""`shipmate destroy`: delete everything the stack's latest release holds, dependents first.

    shipmate destroy [-w STACK_DIR] [--yes] [--dry-run] [--timeout S] [--concurrency N]

Imported resources are left in place. The destroy is recorded as a release whose Spec is
the state it started from, and the state shrinks after each deletion.
"""

from __future__ import annotations

import argparse

from bot.app.stacks import Provenance, StackIdentity
from bot.cli import stackcmd
from bot.core.release import Trigger


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "destroy",
        help="delete every resource of a stack and record a release",
        description="Delete what the stack's latest release holds, in reverse dependency order.",
    )
    stackcmd.add_common(parser)
    stackcmd.add_apply_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = stackcmd.open_context(args, watch=False, concurrency=args.concurrency, timeout=args.timeout)
    with ctx.backend:
        loaded = stackcmd.load(ctx)
        ident: StackIdentity = loaded.identity
        who = stackcmd.owner()
        if args.dry_run:
            result = ctx.ops.destroy(ident, Provenance(Trigger.CLI), owner=who, settings=loaded.settings,
                                     dry_run=True)
            stackcmd.show_preview(result.changeset)
            print("dry run: nothing destroyed, nothing recorded")
            return 0
        confirm = stackcmd.confirm_yes if args.yes else stackcmd.confirm_on_terminal("destroy")
        progress = stackcmd.Progress()
        with stackcmd.cancellable() as cancel:
            result = ctx.ops.destroy(
                ident, Provenance(Trigger.CLI, actor=stackcmd.user(), commit=stackcmd.head_commit(ctx.root)),
                owner=who, settings=loaded.settings, confirm=progress.watching(confirm),
                on_event=progress, cancel=cancel,
            )
    if result.declined:
        print("destroy declined: nothing deleted, nothing recorded")
        return 1
    release = result.release
    assert release is not None
    stackcmd.report(
        f"release {release.project}/{release.workspace} r{release.revision}: {release.phase} "
        f"({result.outcome.summary() if result.outcome else ''})",
        result.outcome,
    )
    return 0 if result.ok else 1

