"""The Action reporter: what a workflow step shows of the runs it made.

`ActionReporter` is told about every run (beside the pull-request reporter, which still
comments and sets statuses) and writes, once the step is done:

- the outputs to `GITHUB_OUTPUT`: `changed-stacks` (JSON list of `project/stack`),
  `creates`, `updates` (replacements included, as `kusion preview -o json` counts them),
  `deletes`, `release-revisions` (JSON object `project/workspace` → revision);
- the job summary to `GITHUB_STEP_SUMMARY`: each preview's Markdown, a row per stack applied
  or destroyed, the drift line (`bot.core.render.results.action_summary`);
- `problems`: one line per failure, which `python -m actions` turns into `::error::`
  annotations and a non-zero exit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from bot.app.drift import DriftSummary
from bot.core import mask, render
from bot.core.outcome import RunResult, StackOutcome
from bot.core.render import results
from bot.core.reporter import Reporter
from bot.core.runplan import Operation, RunPlan


class ActionReporter(Reporter):
    """Collects the runs of one Action step (see the module docstring)."""

    def __init__(self) -> None:
        self.previews: list[RunResult] = []
        self.runs: list[StackOutcome] = []
        self.secrets: set[str] = set()  # every secret the runs' stacks know: annotations mask them
        self.drift: DriftSummary | None = None
        self.errors: list[str] = []  # the event's handling failed (see bot.app.workers.run_once)

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        if plan.operation is Operation.PREVIEW:
            self.previews.append(result)
        elif plan.operation is not Operation.DRIFT:
            self.runs.extend(result.stacks)
        self.secrets |= result.secrets

    def stacks(self) -> list[str]:
        names = {name for p in self.previews for name in p.names}
        names.update(r.name for r in self.runs if r.project != "(repository)")
        if self.drift is not None:
            names.update(self.drift.checked)
        return sorted(names)

    def counts(self) -> tuple[int, int, int]:
        creates = updates = deletes = 0
        for counts in [p.counts for p in self.previews] + [r.counts for r in self.runs if r.counts is not None]:
            creates, deletes = creates + counts.create, deletes + counts.delete
            updates += counts.update + counts.replace
        return creates, updates, deletes

    def revisions(self) -> dict[str, int]:
        return {r.key: r.revision for r in self.runs if r.revision is not None}

    def problems(self) -> list[str]:
        """One line per failure, masked: a secret the trusted policy marks (which the stack's own
        config may not) never reaches the workflow log."""
        lits = mask.Literals.of(self.secrets)
        return [lits.text(line) for line in self._problems()]

    def _problems(self) -> list[str]:
        out = [f"{s.name}: {s.error}" for p in self.previews for s in p.stacks if s.error]
        out.extend(f"{r.name}: {r.error or 'failed'}" for r in self.runs if not r.ok)
        out.extend(self.errors)
        if self.drift is not None:
            out.extend(f"{name}: drift check failed" for name in self.drift.failed)
            if self.drift.drifted:
                out.append(f"drift in {', '.join(self.drift.drifted)}")
        return out

    def write_outputs(self, environ: Mapping[str, str]) -> None:
        creates, updates, deletes = self.counts()
        lines = [
            f"changed-stacks={json.dumps(self.stacks())}",
            f"creates={creates}",
            f"updates={updates}",
            f"deletes={deletes}",
            f"release-revisions={json.dumps(self.revisions(), sort_keys=True)}",
        ]
        target = environ.get("GITHUB_OUTPUT")
        if target:
            with open(target, "a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        else:
            print("\n".join(lines))

    def write_summary(self, environ: Mapping[str, str], command: str, repo: str) -> None:
        previews = [render.markdown_body(p.stacks, key="action", title="Preview", secrets=p.secrets)
                    for p in self.previews]
        drift = self.drift.status[1] if self.drift is not None else None
        text = results.action_summary(command, repo, previews, self.runs, drift)
        target = environ.get("GITHUB_STEP_SUMMARY")
        if target:
            with open(target, "a", encoding="utf-8") as out:
                out.write(text)
