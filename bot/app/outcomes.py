"""How a job ended, told where people look: an error comment and final commit statuses.

`Outcomes` is the handler the workers call (it wraps the event router) and the pool's
`JobReporter`. For each job:

- Every commit status the job sets is recorded, per job (the pool runs each job in its own
  `contextvars` context): the code host the handlers get is wrapped to note each
  `set_status`.
- When the job succeeds, a status it left `pending` is set to `error` (a handler returned
  without a result: a bug, said so rather than left spinning).
- When the job fails for good (a config or usage error, temporary errors until the last
  attempt, a bug, or every attempt's worker stopped), each status it left `pending` becomes
  `error`, and so does the status of the operation the event stands for (`shipmate/preview`
  for pull-request events and `/preview`, `shipmate/apply` for `/apply`, `/destroy` and
  pushes) when the job never got to set it: a process that was killed mid-job has no record.
  The pull request (for a push: the merged pull request, else a commit comment) gets ONE
  error comment, keyed by the delivery, so a repeated report edits it. A bug's comment names
  the incident id that the log holds next to its traceback, never the exception text.

Reporting never raises: a code host that is down as well is logged.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from bot.app.router import EventRouter
from bot.app.services import APPLY_STATUS, PREVIEW_STATUS, Access, Services
from bot.app.workers import JobFailure
from bot.core import commands
from bot.core.events import Delivery, IssueCommentEvent, PullRequestEvent, PushEvent
from bot.core.ports import CodeHost
from bot.core.render import failures
from bot.core.runplan import Request

log = logging.getLogger("shipmate.bot")

_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s]+@")


@dataclass
class _Ledger:
    """The statuses one job set: (repo, sha, context) → (state, host)."""

    statuses: dict[tuple[str, str, str], tuple[str, CodeHost]] = field(default_factory=dict)

    def pending(self) -> list[tuple[str, str, str, CodeHost]]:
        return [(r, s, c, host) for (r, s, c), (state, host) in self.statuses.items() if state == "pending"]


_ledger: contextvars.ContextVar[_Ledger | None] = contextvars.ContextVar("shipmate_job_statuses", default=None)


def _current() -> _Ledger:
    ledger = _ledger.get()
    if ledger is None:
        ledger = _Ledger()
        _ledger.set(ledger)
    return ledger


class _RecordingHost:
    """A `CodeHost` that notes each status it sets in the current job's ledger."""

    def __init__(self, host: CodeHost) -> None:
        self._host = host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    def set_status(
        self, repo: str, sha: str, context: str, state: str, description: str, target_url: str = ""
    ) -> None:
        self._host.set_status(repo, sha, context, state, description, target_url)
        _current().statuses[(repo, sha, context)] = (state, cast(CodeHost, self))


@dataclass(frozen=True)
class _Target:
    """Where a failed job is reported: the pull request (or commit) and the status it owns."""

    access: Access
    repo: str
    number: int | None
    sha: str | None
    context: str | None
    what: str


def clean(text: str) -> str:
    """An error message fit for a comment: no credentials in URLs."""
    return _CREDENTIALS_IN_URL.sub(r"\1", text)


class Outcomes:
    """The workers' handler (the router's events) and reporter of how each job ended."""

    def __init__(self, router: EventRouter | Callable[[Delivery], None], services: Services) -> None:
        self.router = router
        access_for = services.access_for
        wrapped: dict[int, tuple[Access, Access]] = {}  # one recording Access per Access
        lock = threading.Lock()

        def recording(repo: str, installation: int | None) -> Access:
            access = access_for(repo, installation)
            with lock:
                if id(access) not in wrapped:
                    wrapped[id(access)] = (access, _recording(access))
                return wrapped[id(access)][1]

        # Each Access the handlers get records the statuses it sets: the handlers are given
        # these services (`bot.wiring` installs them), not the ones passed in.
        self.services = replace(services, access_for=recording)

    def __call__(self, delivery: Delivery) -> None:
        self.router(delivery)

    # --- JobReporter --------------------------------------------------------------------------

    def succeeded(self, delivery: Delivery) -> None:
        for repo, sha, context, host in _current().pending():
            log.error("delivery %s left %s pending on %s@%s; set to error", delivery.id, context, repo, sha[:7])
            self.services.reporter_for(host).ended_pending(Request(repo, sha=sha), [context])

    def failed(self, failure: JobFailure) -> None:
        ledger = _current()
        text = _text(failure)
        target = self._target(failure.delivery)
        for repo, sha, context, host in ledger.pending():
            if target is None or (repo, sha) != (target.repo, target.sha):
                self.services.reporter_for(host).ended_pending(Request(repo, sha=sha), [context], text)
        if target is None:
            return
        contexts = [c for r, s, c, _ in ledger.pending() if (r, s) == (target.repo, target.sha)]
        if target.sha and target.context and (target.repo, target.sha, target.context) not in ledger.statuses:
            contexts.append(target.context)
        request = Request(target.repo, target.number, target.sha or "")
        self.services.reporter(target.access).job_failed(request, text, target.what, contexts)

    def _target(self, delivery: Delivery) -> _Target | None:
        try:
            event = self.router.event_of(delivery) if isinstance(self.router, EventRouter) else delivery.parsed
        except Exception as exc:  # a payload the router could not read either
            log.warning("delivery %s: cannot say where to report its failure: %s", delivery.id, exc)
            return None
        if isinstance(event, PullRequestEvent):
            access = self.services.access(event.repo, event.installation_id)
            context = None if event.action == "closed" else PREVIEW_STATUS
            return _Target(access, event.repo, event.number, event.head_sha, context,
                           f"pull request event `{event.action}`")
        if isinstance(event, IssueCommentEvent):
            if not event.is_pull_request:
                return None
            access = self.services.access(event.repo, event.installation_id)
            parsed = commands.parse(event.body)
            verb = parsed.verb if isinstance(parsed, commands.Command) else None
            context = {commands.Verb.PREVIEW: PREVIEW_STATUS, commands.Verb.APPLY: APPLY_STATUS,
                       commands.Verb.DESTROY: APPLY_STATUS}.get(verb) if verb else None
            sha = access.host.pull_request(event.repo, event.issue_number).head_sha if context else None
            what = f"`/{verb.value}`" if verb else "comment"
            return _Target(access, event.repo, event.issue_number, sha, context, what)
        if isinstance(event, PushEvent):
            access = self.services.access(event.repo, event.installation_id)
            merged = access.host.merged_pull_request_for(event.repo, event.after)
            to_default = event.ref == f"refs/heads/{event.default_branch}"
            return _Target(access, event.repo, merged.number if merged else None, event.after,
                           APPLY_STATUS if to_default else None, f"push of `{event.after[:7]}`")
        return None


def _recording(access: Access) -> Access:
    if isinstance(access.host, _RecordingHost):
        return access
    return replace(access, host=cast(CodeHost, _RecordingHost(access.host)))


def _text(failure: JobFailure) -> failures.JobFailureText:
    return failures.JobFailureText(kind=failure.kind, error=clean(failure.error), attempts=failure.attempts,
                                   incident=failure.incident, job_id=failure.job_id,
                                   delivery_id=failure.delivery.id)
