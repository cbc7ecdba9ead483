"""`shipmate apply`: preview, confirm, apply, and record a release on the state backend.

    shipmate apply [-w STACK_DIR] [--workspace W] [-y] [--dry-run] [--watch/--no-watch]
                   [--timeout S] [--concurrency N] [-d/--detail | --no-detail] [-o text|json]
                   [--ignore-fields P ...] [--backend SPEC] [--no-style]

The project+workspace is locked for the whole run. The release is written before the first
change and its state after every operation, so Ctrl-C or SIGTERM (or a crash) leaves a
release that records exactly what was done; `shipmate release unlock` then frees it.
"""

from __future__ import annotations

from bot.cli import options, stackcmd
from bot.cli.style import Style
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance

APPLY = stackcmd.Verb(prompt="apply", name="apply", nothing="nothing applied, nothing recorded")

EXAMPLES = """
shipmate apply                           # the stack in this directory; asks first
shipmate apply -w shop/dev --yes         # no question (CI)
shipmate apply --dry-run --no-detail     # the summary of what would change, nothing written
shipmate apply -y --no-watch -o json     # do not wait for readiness; the result as JSON
"""


@options.command("apply", "Preview the stack, ask for confirmation, apply it and record a release.",
                 EXAMPLES, short="Apply a stack and record a release.")
@options.stack_options
@options.apply_options
@options.watch
def command(workdir: str, workspace: str | None, backend: str | None, ignore_fields: tuple[str, ...],
            no_style: bool, yes: bool, dry_run: bool, timeout: float | None, concurrency: int | None,
            detail: bool, output: str, watch: bool) -> int:
    where = stackcmd.Where(workdir, backend, options.ignore_paths(ignore_fields))
    show = stackcmd.Show(Style.detect(no_style=no_style), detail, output == "json")
    ctx = stackcmd.open_context(where, watch=watch, concurrency=concurrency, timeout=timeout)
    with ctx.backend:
        loaded = stackcmd.load(ctx, workspace)
        provenance = Provenance(Trigger.CLI, actor=stackcmd.user(), commit=stackcmd.head_commit(ctx.root))
        plan = stackcmd.plan_for(Operation.APPLY, stackcmd.stack_ref(loaded), provenance)
        return stackcmd.operate(ctx, plan, APPLY, dry_run=dry_run, yes=yes, loaded=(loaded,), show=show)
