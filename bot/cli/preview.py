"""`shipmate preview`: what applying the stack would change, against live state.

    shipmate preview [-w STACK_DIR] [--workspace W] [-o text|json|markdown] [--ignore-fields P ...]
                     [-d/--detail | --no-detail] [--exit-code] [--no-style]

Compares the generated Spec, the latest release's state and what the runtimes read live
(Kubernetes server-side dry-run, Terraform plan). `-o json` is compatible with
`kusion preview -o json`; `-o markdown` prints the PR comment body. Exit code 0 whatever the
changes; `--exit-code` makes it 2 when there are changes (for drift checks in CI).
"""

from __future__ import annotations

import sys

import click

from bot.app.runner import StackRunner
from bot.app.services import Tree
from bot.cli import options, stackcmd
from bot.cli.style import Style
from bot.core import render
from bot.core.release import Trigger
from bot.core.runplan import Operation, Provenance

EXAMPLES = """
shipmate preview                         # the stack in this directory
shipmate preview -w shop/dev --no-detail # the summary table only
shipmate preview -o json                 # as kusion preview -o json prints it
shipmate preview --exit-code             # exit 2 when there are changes (drift checks)
"""


@options.command("preview", "Three-way preview of a stack: its Spec against the latest release and "
                 "what is live.", EXAMPLES, short="Show what applying a stack would change.")
@options.stack_options
@click.option("-o", "--output", type=click.Choice(("text", "json", "markdown")), default="text",
              show_default=True, help="Output format.")
@click.option("--detail/--no-detail", "-d", default=True, show_default=True,
              help="Show each resource's field diff.")
@click.option("--exit-code", is_flag=True, help="Exit 2 when there are changes.")
def command(workdir: str, workspace: str | None, backend: str | None, ignore_fields: tuple[str, ...],
            no_style: bool, output: str, detail: bool, exit_code: bool) -> int:
    where = stackcmd.Where(workdir, backend, options.ignore_paths(ignore_fields))
    ctx = stackcmd.open_context(where)
    with ctx.backend:
        loaded = stackcmd.load(ctx, workspace)
        ident = loaded.identity
        plan = stackcmd.plan_for(Operation.PREVIEW, stackcmd.stack_ref(loaded),
                                 Provenance(Trigger.CLI, stackcmd.user(), stackcmd.head_commit(ctx.root)))
        runner = StackRunner(ctx.ops, Tree("", plan.provenance.commit, ctx.reader), ctx.settings, contain=False,
                             loaded=(loaded,))
        outcome = runner.run(plan).stacks[0]
    changeset = outcome.changeset
    assert changeset is not None  # without `contain`, a preview that fails raises
    secrets = loaded.secrets
    if output == "json":
        sys.stdout.write(render.json(changeset, secrets=secrets) + "\n")
    elif output == "markdown":
        for part in render.markdown([outcome], key=ident.path or "stack", secrets=secrets):
            sys.stdout.write(part + "\n")
    else:
        color = Style.detect(no_style=no_style).color
        text = render.text(changeset, color=color, detail=detail, secrets=secrets)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 2 if exit_code and changeset.has_changes else 0
