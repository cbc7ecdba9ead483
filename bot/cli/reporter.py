"""The terminal reporter: how `shipmate apply`, `destroy` and `release rollback` end on screen.

A `TerminalReporter` is the CLI's `bot.core.reporter.Reporter`. For each stack of the run it
prints one of:

    dry run: nothing applied, nothing recorded                      (after the preview)
    apply declined: nothing applied, nothing recorded
    release shop/dev r3: succeeded (4 succeeded)                    (then each failed or
      failed  v1:Service:shop:web: ...                               skipped operation)

The preview itself is shown before anything runs, by the confirmation (`bot.cli.stackcmd`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from bot.core import render
from bot.core.outcome import RunResult, StackOutcome
from bot.core.preview.model import ChangeSet
from bot.core.reporter import Reporter
from bot.core.runplan import RunPlan


@dataclass(frozen=True, slots=True)
class Verb:
    """How one of `apply`, `destroy` and `release rollback` talks about itself."""

    prompt: str  # "apply": "Do you want to apply these changes?"
    name: str  # "apply declined: ..."
    nothing: str  # "nothing applied, nothing recorded"
    declined_nothing: str = ""  # what a declined run says (default: `nothing`)
    done: str = ""  # added to the release line, e.g. ", rolled back to the Spec of r2"


def show_preview(changeset: ChangeSet, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    text = render.text(changeset, color=out.isatty(), detail=True)
    out.write(text if text.endswith("\n") else text + "\n")


class TerminalReporter(Reporter):
    """Prints how each stack of a run ended (see the module docstring); a `dry_run` shows
    the preview, as nothing else did."""

    def __init__(self, verb: Verb, *, dry_run: bool = False, out: TextIO | None = None) -> None:
        self.verb = verb
        self.dry_run = dry_run
        self.out = out

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        out = self.out or sys.stdout
        for stack in result.stacks:
            out.write("\n".join(self.lines(stack)) + "\n")

    def lines(self, stack: StackOutcome) -> list[str]:
        verb = self.verb
        if self.dry_run:
            if stack.changeset is not None:
                show_preview(stack.changeset, self.out)
            return [f"dry run: {verb.nothing}"]
        if stack.declined:
            return [f"{verb.name} declined: {verb.declined_nothing or verb.nothing}"]
        out = [f"release {stack.project}/{stack.workspace} r{stack.revision}: {stack.phase}{verb.done} "
               f"({stack.summary})"]
        out.extend(f"  failed  {rid}: {message}" for rid, message in stack.failed)
        out.extend(f"  skipped {rid}: {message}" for rid, message in stack.skipped)
        return out
