"""`shipmate destroy`: delete everything the stack's latest release holds, dependents first.

    shipmate destroy [-w STACK_DIR] [--workspace W] [-y] [--dry-run] [--timeout S]
                     [--concurrency N] [-d/--detail | --no-detail] [-o text|json] [--no-style]

Imported resources are left in place. The destroy is recorded as a release whose Spec is
the state it started from, and the state shrinks after each deletion.
"""

from __future__ import annotations

from bot.cli import options, stackcmd
from bot.cli.style import Style
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance

DESTROY = stackcmd.Verb(prompt="destroy", name="destroy", nothing="nothing destroyed, nothing recorded",
                        declined_nothing="nothing deleted, nothing recorded")

EXAMPLES = """
shipmate destroy -w shop/dev             # shows what goes, asks first
shipmate destroy --dry-run               # what would be deleted, nothing written
shipmate destroy -y -o json              # no question; the result as JSON
"""


@options.command("destroy", "Delete what the stack's latest release holds, in reverse dependency order, "
                 "and record it as a release.", EXAMPLES, short="Delete every resource of a stack.")
@options.stack_options
@options.apply_options
def command(workdir: str, workspace: str | None, backend: str | None, ignore_fields: tuple[str, ...],
            no_style: bool, yes: bool, dry_run: bool, timeout: float | None, concurrency: int | None,
            detail: bool, output: str) -> int:
    where = stackcmd.Where(workdir, backend, options.ignore_paths(ignore_fields))
    show = stackcmd.Show(Style.detect(no_style=no_style), detail, output == "json")
    ctx = stackcmd.open_context(where, watch=False, concurrency=concurrency, timeout=timeout)
    with ctx.backend:
        loaded = stackcmd.load(ctx, workspace)
        provenance = Provenance(Trigger.CLI, actor=stackcmd.user(), commit=stackcmd.head_commit(ctx.root))
        plan = stackcmd.plan_for(Operation.DESTROY, stackcmd.stack_ref(loaded), provenance)
        return stackcmd.operate(ctx, plan, DESTROY, dry_run=dry_run, yes=yes, loaded=(loaded,),
                                trusted=loaded.settings, show=show)
