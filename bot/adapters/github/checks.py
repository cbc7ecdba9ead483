"""Check runs for GitHub App installations: one per stack, with an **Apply** button.

`CheckRunReporter` is a `Reporter` the bot adds beside the pull-request reporter when it acts
as a GitHub App (a token cannot create check runs; token installations keep commit statuses
alone). Texts come from `bot.core.render.checks`:

| run | started | finished |
|---|---|---|
| preview of a pull request | | a completed check run per stack, Apply on those with changes |
| `/apply` (a comment or a click) | an `in_progress` check run per stack | the same runs, completed with the result |

A click on Apply comes back as a `check_run` webhook (`bot.core.events.CheckRunAction`) and is
handled as the clicker's `/apply -p <project> -s <stack>` (`bot.app.comments`).

Check-run writes never fail a job: a run GitHub refuses is logged (the preview comment and
the Release say the same).
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from bot.core.errors import ShipmateError
from bot.core.outcome import REPOSITORY, RunResult
from bot.core.release import Trigger
from bot.core.render import checks
from bot.core.render.checks import CheckRunText
from bot.core.reporter import Reporter
from bot.core.runplan import Operation, RunPlan

log = logging.getLogger("shipmate.bot")


@runtime_checkable
class CheckRunHost(Protocol):
    """What the reporter needs of GitHub: `bot.adapters.github.host.GitHubHost` as an App."""

    def create_check_run(self, repo: str, sha: str, run: CheckRunText) -> int: ...

    def update_check_run(self, repo: str, run_id: int, run: CheckRunText) -> None: ...


class CheckRunReporter(Reporter):
    """Tells a pull request's head commit about each stack in check runs (module docstring)."""

    def __init__(self, host: CheckRunHost) -> None:
        self.host = host
        self._applying: dict[tuple[str, str, str], int] = {}  # (repo, sha, check name) -> run ID

    def started(self, plan: RunPlan) -> None:
        req = plan.request
        if not self._command_apply(plan):
            return
        for ref in plan.stacks:
            run = checks.applying_run(ref.project, ref.name, req.actor, req.sha)
            made = self._create(req.repo, req.sha, run)
            if made is not None:
                self._applying[(req.repo, req.sha, run.name)] = made

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        req = plan.request
        if plan.operation is Operation.PREVIEW and req.number is not None:
            for outcome in result.stacks:
                if outcome.project != REPOSITORY:
                    self._create(req.repo, req.sha, checks.preview_run(outcome, secrets=result.secrets,
                                                                        details_url=req.html_url))
        elif self._command_apply(plan):
            for outcome in result.stacks:
                run = checks.applied_run(outcome, actor=req.actor, sha=req.sha, secrets=result.secrets,
                                         state_branch=plan.state_branch, details_url=req.html_url)
                made = self._applying.pop((req.repo, req.sha, run.name), None)
                if made is None:
                    self._create(req.repo, req.sha, run)
                else:
                    self._update(req.repo, made, run)

    @staticmethod
    def _command_apply(plan: RunPlan) -> bool:
        return (plan.operation is Operation.APPLY and plan.provenance.trigger is Trigger.COMMENT
                and plan.request.number is not None)

    def _create(self, repo: str, sha: str, run: CheckRunText) -> int | None:
        try:
            return self.host.create_check_run(repo, sha, run)
        except ShipmateError as exc:
            log.warning("could not create check run %s on %s@%s: %s", run.name, repo, sha[:7], exc)
            return None

    def _update(self, repo: str, run_id: int, run: CheckRunText) -> None:
        try:
            self.host.update_check_run(repo, run_id, run)
        except ShipmateError as exc:
            log.warning("could not update check run %s (%s) on %s: %s", run.name, run_id, repo, exc)
