"""The terminal reporters: how `shipmate apply`, `destroy` and `release rollback` end on screen.

A `TerminalReporter` is the CLI's `bot.core.reporter.Reporter`. For each stack of the run it
prints one of:

    dry run: nothing applied, nothing recorded                      (after the preview)
    apply declined: nothing applied, nothing recorded
    release shop/dev r3: succeeded (4 succeeded)                    (then each failed or
      failed  v1:Service:shop:web: ...                               skipped operation)

The preview itself is shown before anything runs, by the confirmation (`bot.cli.stackcmd`).
With `-o json` a `JsonReporter` prints one JSON document instead (`document`): every stack's
project, stack, workspace, release revision and phase, summary, changes, failed and skipped
operations, whether it was declined or a dry run, and a dry run's preview as
`kusion preview -o json` prints it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

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


def show_preview(changeset: ChangeSet, out: TextIO | None = None, *, color: bool = False,
                 detail: bool = True) -> None:
    """The preview as `shipmate preview` prints it (`detail`: each resource's field diff)."""
    out = out or sys.stdout
    text = render.text(changeset, color=color, detail=detail)
    out.write(text if text.endswith("\n") else text + "\n")


class TerminalReporter(Reporter):
    """Prints how each stack of a run ended (see the module docstring); a `dry_run` shows
    the preview, as nothing else did."""

    def __init__(self, verb: Verb, *, dry_run: bool = False, out: TextIO | None = None,
                 color: bool = False, detail: bool = True) -> None:
        self.verb = verb
        self.dry_run = dry_run
        self.out = out
        self.color = color
        self.detail = detail

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        out = self.out or sys.stdout
        for stack in result.stacks:
            out.write("\n".join(self.lines(stack)) + "\n")

    def lines(self, stack: StackOutcome) -> list[str]:
        verb = self.verb
        if self.dry_run:
            if stack.changeset is not None:
                show_preview(stack.changeset, self.out, color=self.color, detail=self.detail)
            return [f"dry run: {verb.nothing}"]
        if stack.declined:
            return [f"{verb.name} declined: {verb.declined_nothing or verb.nothing}"]
        out = [f"release {stack.project}/{stack.workspace} r{stack.revision}: {stack.phase}{verb.done} "
               f"({stack.summary})"]
        out.extend(f"  failed  {rid}: {message}" for rid, message in stack.failed)
        out.extend(f"  skipped {rid}: {message}" for rid, message in stack.skipped)
        return out


class JsonReporter(Reporter):
    """Prints the run as one JSON document on stdout (`-o json`; see the module docstring)."""

    def __init__(self, verb: Verb, *, dry_run: bool = False, out: TextIO | None = None) -> None:
        self.verb = verb
        self.dry_run = dry_run
        self.out = out

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        out = self.out or sys.stdout
        out.write(json.dumps(document(result, self.verb, dry_run=self.dry_run), indent=2, ensure_ascii=False) + "\n")


def document(result: RunResult, verb: Verb, *, dry_run: bool = False) -> dict[str, Any]:
    """The JSON document of a run: `{"operation": ..., "dryRun": ..., "stacks": [...]}`."""
    return {"operation": verb.name, "dryRun": dry_run, "stacks": [_stack(s, dry_run) for s in result.stacks]}


def _stack(stack: StackOutcome, dry_run: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "project": stack.project,
        "stack": stack.stack,
        "workspace": stack.workspace,
        "revision": stack.revision,
        "phase": stack.phase or None,
        "summary": stack.summary,
        "declined": stack.declined,
        "error": stack.error,
        "changes": [{"id": rid, "action": str(action)} for rid, action in stack.changes],
        "failed": [{"id": rid, "message": message} for rid, message in stack.failed],
        "skipped": [{"id": rid, "reason": why} for rid, why in stack.skipped],
    }
    if dry_run and stack.changeset is not None:
        doc["preview"] = json.loads(render.json(stack.changeset))
    return doc
