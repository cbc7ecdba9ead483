"""The `Reporter` port: how the outcome of a run, and of everything around it, reaches people.

Handlers and the runner pass facts (a `RunPlan`, its `RunResult`, a refusal's reason, the
locks freed); reporters decide how they are shown, with every text rendered by
`bot.core.render`:

| reporter | where | what it shows |
|---|---|---|
| `bot.adapters.github.reporter.PullRequestReporter` | the pull request or commit | the preview summary comment (kept up to date), result comments, commit statuses, reactions, replies |
| `actions.reporter.ActionReporter` | a GitHub Actions step | outputs and the job summary (beside the pull-request reporter) |
| `bot.cli.reporter.TerminalReporter` | the terminal | the release line and each failed operation |

Every method does nothing by default, so a reporter implements what its medium can show;
`Reporters` tells several at once. Reporting never fails a run: a reporter logs what it could
not deliver (the outcome is in the Release and the log).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.lock import Lock
from bot.core.outcome import RunResult
from bot.core.render.failures import JobFailureText
from bot.core.rollout import Rollout
from bot.core.runplan import Request, RunPlan

PREVIEW_STATUS = "shipmate/preview"
APPLY_STATUS = "shipmate/apply"
DRIFT_STATUS = "shipmate/drift"


class Reporter:
    """Tells people about runs (see the module docstring). The base reports nothing."""

    def started(self, plan: RunPlan) -> None:
        """A run is about to start (a `pending` status)."""

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        """A run ended: its result comment, summary or output, and final status."""

    def rolled_out(self, plan: RunPlan, progress: Rollout) -> None:
        """An apply rolled out batch by batch (`shipmate.yaml`'s `rollout`) moved on: a batch
        started, ended, or the rollout stopped."""

    def waiting(self, request: Request, key: str, text: str) -> None:
        """The pull request's `/apply` waits in line for lock `key`; `text` says where it stands
        (told again, replacing the last, each time the line moves)."""

    def acknowledged(self, request: Request, reaction: str) -> None:
        """A command was seen (`eyes`), succeeded (`rocket`, `+1`) or not (`confused`)."""

    def refused(self, request: Request, asked: str, reason: str) -> None:
        """A command (`asked`, e.g. `/apply`) may not run, and why."""

    def replied(self, request: Request, text: str) -> None:
        """An answer to a command that runs nothing (`/help`, a usage hint); `text` is Markdown."""

    def unlocked(self, request: Request, locks: Sequence[Lock], reason: str) -> None:
        """Locks of a pull request were freed (`/unlock`, close, the sweeper)."""

    def skipped_fork(self, request: Request) -> None:
        """A pull request from a fork is never previewed: say so where its preview would be."""

    def policy_unreadable(self, plan: RunPlan, branch: str, error: str) -> None:
        """The apply of a push could not start: `shipmate.yaml` on `branch` is invalid."""

    def drift_refused(self, request: Request, reason: str) -> None:
        """The drift check of `request.sha` could not run (`reason`: a status-sized why)."""

    def job_failed(self, request: Request, failure: JobFailureText, what: str, contexts: Sequence[str]) -> None:
        """Handling `what` (an event) failed for good: the commit statuses `contexts` (on
        `request.sha`) become `error`, and the pull request, else the commit, is told once
        per delivery (a repeated report edits that comment)."""

    def ended_pending(self, request: Request, contexts: Sequence[str], failure: JobFailureText | None = None) -> None:
        """A job left the statuses `contexts` `pending` (on `request.sha`): they become `error`,
        saying the job ended without a result, or why it `failure`d."""


class Reporters(Reporter):
    """Several reporters told the same things, in order."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def started(self, plan: RunPlan) -> None:
        for r in self.reporters:
            r.started(plan)

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        for r in self.reporters:
            r.finished(plan, result)

    def rolled_out(self, plan: RunPlan, progress: Rollout) -> None:
        for r in self.reporters:
            r.rolled_out(plan, progress)

    def waiting(self, request: Request, key: str, text: str) -> None:
        for r in self.reporters:
            r.waiting(request, key, text)

    def acknowledged(self, request: Request, reaction: str) -> None:
        for r in self.reporters:
            r.acknowledged(request, reaction)

    def refused(self, request: Request, asked: str, reason: str) -> None:
        for r in self.reporters:
            r.refused(request, asked, reason)

    def replied(self, request: Request, text: str) -> None:
        for r in self.reporters:
            r.replied(request, text)

    def unlocked(self, request: Request, locks: Sequence[Lock], reason: str) -> None:
        for r in self.reporters:
            r.unlocked(request, locks, reason)

    def skipped_fork(self, request: Request) -> None:
        for r in self.reporters:
            r.skipped_fork(request)

    def policy_unreadable(self, plan: RunPlan, branch: str, error: str) -> None:
        for r in self.reporters:
            r.policy_unreadable(plan, branch, error)

    def drift_refused(self, request: Request, reason: str) -> None:
        for r in self.reporters:
            r.drift_refused(request, reason)

    def job_failed(self, request: Request, failure: JobFailureText, what: str, contexts: Sequence[str]) -> None:
        for r in self.reporters:
            r.job_failed(request, failure, what, contexts)

    def ended_pending(self, request: Request, contexts: Sequence[str], failure: JobFailureText | None = None) -> None:
        for r in self.reporters:
            r.ended_pending(request, contexts, failure)
