"""The pull-request reporter: runs and refusals told as comments, commit statuses and reactions.

`PullRequestReporter(host)` implements `bot.core.reporter.Reporter` on any `CodeHost` (the
GitHub adapter's, or the in-memory one of the handler tests). Every text comes from
`bot.core.render`; this module only decides where it goes:

| run | started | finished |
|---|---|---|
| preview (pull request, `/preview`) | `shipmate/preview` pending | the ONE summary comment, kept up to date; `shipmate/preview` |
| `/apply` | `shipmate/apply` pending | a result comment; `shipmate/apply` |
| `/destroy` | | a result comment |
| apply of a merge or push | | a comment on the merged pull request (else on the commit); `shipmate/apply` |
| drift check | | `shipmate/drift` on the default branch's head |

Every status links (`target_url`) to what explains it: a pending preview to the pull
request, a pending `/apply` to the comment that asked, a finished preview to the summary
comment, an `/apply`, a merge's apply or an invalid `shipmate.yaml` to the result comment, a
drift check to its records on the state branch (the one stack's record when one drifted or
failed), a drift check that could not run to the commit's files, and a job that failed to its
error comment. A status about a job that ended without a result links nowhere: no comment
says more than its description (the log has the delivery id).

Each comment the bot keeps up to date starts with a hidden marker
(`<!-- shipmate:<kind> key=<key> part=i/n -->`, see `bot.core.render.split`). `upsert`
finds the bot's comments with that kind and key, edits them in place (only when the text
changed), creates the parts that are new and deletes the parts no longer needed, so a pull
request carries ONE preview summary however often it is pushed to, and GitHub's write
budget is spent only on real changes. Results of commands (`/apply`, merges) are history
and are posted as new comments with `post`.

Status and reaction writes never fail a job: a missing status is shown as missing, the work
itself is done. A merge's outcome that cannot be posted is logged (it is in the Release).

A `pending` status waits `pending_delay` seconds before it is written (`HeldStatuses`): when
the run's result comes first, the result's status replaces it and the pending one is never
sent, so a quick preview costs GitHub one status write instead of two (with the comment list,
the comment, the pull request and its files: six calls in all). A result never overtakes the
pending status it replaces: when the pending one is already on its way, the result waits for
it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.core import mask, statelayout
from bot.core.errors import ShipmateError
from bot.core.lock import Lock
from bot.core.outcome import REPOSITORY, RunResult, drift_names
from bot.core.ports import CodeHost, CommentInfo
from bot.core.release import Trigger
from bot.core.render import comment, failures, refusals, results, split, statuses
from bot.core.render import rollout as rollout_text
from bot.core.reporter import APPLY_STATUS, DRIFT_STATUS, PREVIEW_STATUS, Reporter
from bot.core.rollout import Rollout
from bot.core.runplan import Operation, Request, RunPlan

log = logging.getLogger("shipmate.bot")

PREVIEW_KIND = "preview"
ERROR_KIND = "error"


def preview_key(number: int) -> str:
    return f"pr-{number}"


StatusKey = tuple[str, str, str]  # repository, commit, context


@dataclass(eq=False)
class _Held:
    timer: threading.Timer
    sending: bool = False
    sent: threading.Event = field(default_factory=threading.Event)


class HeldStatuses:
    """`pending` statuses held back for a while, by repository, commit and context, for the
    whole process (a job's result may be told by another reporter than its start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[StatusKey, _Held] = {}

    def hold(self, key: StatusKey, delay: float, write: Callable[[], None]) -> None:
        """Write `write`'s pending status after `delay`, unless `settle(key)` comes first."""
        def fire() -> None:
            with self._lock:
                if self._held.get(key) is not entry:
                    return
                entry.sending = True
            try:
                write()
            finally:
                with self._lock:
                    if self._held.get(key) is entry:
                        del self._held[key]
                entry.sent.set()

        entry = _Held(threading.Timer(delay, fire))
        entry.timer.daemon = True
        with self._lock:
            previous = self._held.pop(key, None)
            self._held[key] = entry
        if previous is not None:
            previous.timer.cancel()
        entry.timer.start()

    def settle(self, key: StatusKey) -> None:
        """A status that replaces any held `pending` one for `key` is about to be written: drop
        the held one, or wait until it has been sent."""
        with self._lock:
            entry = self._held.pop(key, None)
            if entry is None:
                return
            sending = entry.sending
            if not sending:
                entry.timer.cancel()
        if sending:
            entry.sent.wait(STATUS_SEND_WAIT)

    def held(self) -> int:
        with self._lock:
            return len(self._held)


HELD = HeldStatuses()
STATUS_SEND_WAIT = 60.0  # seconds a result waits for the pending status it replaces to be sent


class PullRequestReporter(Reporter):
    """Tells a pull request (or a commit) about runs; see the module docstring."""

    def __init__(self, host: CodeHost, *, pending_delay: float = 0.0, held: HeldStatuses = HELD) -> None:
        self.host = host
        self.pending_delay = pending_delay
        self.held = held

    # --- runs -------------------------------------------------------------------------------

    def started(self, plan: RunPlan) -> None:
        req = plan.request
        if plan.operation is Operation.PREVIEW and req.number is not None:
            self.status(req.repo, req.sha, PREVIEW_STATUS, "pending", "previewing the changed stacks",
                        target_url=req.html_url)
        elif plan.operation is Operation.APPLY and plan.provenance.trigger is Trigger.COMMENT:
            n = len(plan.stacks)
            self.status(req.repo, req.sha, APPLY_STATUS, "pending", f"applying {n} stack{'s' if n != 1 else ''}",
                        target_url=self.comment_url(req, req.comment_id))

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        op, trigger = plan.operation, plan.provenance.trigger
        if op is Operation.PREVIEW and plan.request.number is not None:
            self._preview(plan, result)
        elif op is Operation.DRIFT:
            self._drift(plan, result)
        elif trigger is Trigger.COMMENT and op in (Operation.APPLY, Operation.DESTROY):
            self._command(plan, result)
        elif trigger is Trigger.PUSH:
            self._merge(plan, result)

    def _preview(self, plan: RunPlan, result: RunResult) -> None:
        req = plan.request
        assert req.number is not None
        title = "Shipmate preview" + (f" ({' '.join(req.filters)})" if req.filters else "")
        bodies = comment.render(
            result.stacks, key=preview_key(req.number), meta={"head": req.sha[:12]}, title=title,
            commit=req.sha, secrets=result.secrets,
            notices=[*plan.notices, *results.locked_notice(result.locked)],
        )
        ids = self.upsert(req.repo, req.number, PREVIEW_KIND, preview_key(req.number), bodies)
        self.status(req.repo, req.sha, PREVIEW_STATUS, *statuses.preview(len(result.stacks), result.failed,
                                                                          result.counts),
                    target_url=self.comment_url(req, ids[0] if ids else None))

    def _command(self, plan: RunPlan, result: RunResult) -> None:
        req = plan.request
        assert req.number is not None
        runs = result.stacks
        if plan.operation is Operation.APPLY:
            body = results.operation_comment(
                runs, title="Shipmate apply", lead=results.apply_lead(req.actor, req.sha),
                secrets=result.secrets, state_branch=plan.state_branch,
                footer=[refusals.kept_locks(r.key for r in runs)],
            )
        else:
            ref = plan.stacks[0]
            body = results.operation_comment(
                runs, title="Shipmate destroy", lead=results.destroy_lead(req.actor, ref.project, ref.name),
                state_branch=plan.state_branch,
            )
        kind = str(plan.operation)
        ids = self.post(req.repo, req.number, kind, f"{preview_key(req.number)}-c{req.comment_id}", body)
        if plan.operation is Operation.APPLY:
            self.status(req.repo, req.sha, APPLY_STATUS, *statuses.apply_result(runs),
                        target_url=self.comment_url(req, ids[0] if ids else None))

    def _merge(self, plan: RunPlan, result: RunResult) -> None:
        req = plan.request
        runs = result.stacks
        merged = req.number is not None
        if not (runs or (merged and result.freed)):
            return
        footer: list[str] = []
        if result.freed:
            unique = list({lock.key: lock for lock in result.freed}.values())
            footer = ["The locks this pull request held are released:", "", *results.lock_lines(unique)]
        body = results.operation_comment(
            runs, title="Shipmate apply on merge" if merged else "Shipmate apply on push",
            lead=results.merge_lead(req.sha, merged=merged, branch=req.branch),
            secrets=result.secrets, state_branch=plan.state_branch, footer=footer,
        )
        link = self.tell(req, body)
        if runs:
            state, description = statuses.apply_result(runs)
            if state == "failure":
                description = statuses.apply_failure(runs, mask.Literals.of(result.secrets))
            self.status(req.repo, req.sha, APPLY_STATUS, state, description, target_url=link)

    def _drift(self, plan: RunPlan, result: RunResult) -> None:
        if not result.stacks:
            return
        checked, drifted, failed = drift_names(result)
        self.status(plan.request.repo, plan.request.sha, DRIFT_STATUS, *statuses.drift(checked, drifted, failed),
                    target_url=self.drift_url(plan, result))

    def rolled_out(self, plan: RunPlan, progress: Rollout) -> None:
        req = plan.request
        if req.number is None:
            return  # a push without a pull request: the result comment on the commit says it all
        lead = (results.apply_lead(req.actor, req.sha) if plan.provenance.trigger is Trigger.COMMENT
                else results.merge_lead(req.sha, merged=True, branch=req.branch))
        key = f"{preview_key(req.number)}-{plan.run_id or req.sha[:12]}"
        marker = split.make_marker("rollout", {"key": key})
        body = f"{marker.line(part='1/1')}\n{rollout_text.progress(progress, lead=lead)}"
        try:
            self.upsert(req.repo, req.number, "rollout", key, [body])
        except ShipmateError as exc:
            log.warning("%s#%s: could not show the rollout's progress: %s", req.repo, req.number, exc)

    def waiting(self, request: Request, key: str, text: str) -> None:
        assert request.number is not None
        slot = f"{preview_key(request.number)}-{key}"
        marker = split.make_marker("queue", {"key": slot})
        self.upsert(request.repo, request.number, "queue", slot, [f"{marker.line(part='1/1')}\n{text}"])

    def drift_refused(self, request: Request, reason: str) -> None:
        page = self.repository_url(request.repo)
        self.status(request.repo, request.sha, DRIFT_STATUS, "error", reason,
                    target_url=f"{page}/tree/{request.sha}" if page and request.sha else page)

    # --- around runs ------------------------------------------------------------------------

    def acknowledged(self, request: Request, reaction: str) -> None:
        if request.comment_id is None:
            return
        try:
            self.host.react(request.repo, request.comment_id, reaction)
        except ShipmateError as exc:
            log.warning("could not react %s to comment %s on %s: %s", reaction, request.comment_id, request.repo, exc)

    def refused(self, request: Request, asked: str, reason: str) -> None:
        assert request.number is not None
        self.host.create_comment(request.repo, request.number, results.refusal(reason, request.actor, asked))

    def replied(self, request: Request, text: str) -> None:
        assert request.number is not None
        self.host.create_comment(request.repo, request.number, text)

    def unlocked(self, request: Request, locks: Sequence[Lock], reason: str) -> None:
        assert request.number is not None
        self.post(request.repo, request.number, "locks", preview_key(request.number),
                  results.unlocked_comment(locks, reason))

    def skipped_fork(self, request: Request) -> None:
        assert request.number is not None
        marker = split.make_marker(PREVIEW_KIND, {"key": preview_key(request.number)})
        body = f"{marker.line(part='1/1')}\n{results.FORK_NOTICE}"
        self.upsert(request.repo, request.number, PREVIEW_KIND, preview_key(request.number), [body])

    def policy_unreadable(self, plan: RunPlan, branch: str, error: str) -> None:
        req = plan.request
        link = self.tell(req, results.invalid_policy_apply(merged=req.number is not None, branch=branch, error=error))
        self.status(req.repo, req.sha, APPLY_STATUS, "error", statuses.invalid_policy(error), target_url=link)

    def job_failed(self, request: Request, failure: failures.JobFailureText, what: str,
                   contexts: Sequence[str]) -> None:
        description = failures.status_description(failure)
        marker = split.make_marker(ERROR_KIND, {"key": f"delivery-{failure.delivery_id}"})
        body = "\n".join([marker.line(part="1/1"), *failures.error_lines(failure, what)])
        link = ""
        try:
            if request.number is not None:
                ids = self.upsert(request.repo, request.number, ERROR_KIND, f"delivery-{failure.delivery_id}", [body])
                link = self.comment_url(request, ids[0])
            elif request.sha:
                link = self.host.create_commit_comment(request.repo, request.sha, body)
        finally:  # the statuses leave `pending` even when the comment cannot be written
            for context in contexts:
                self.status(request.repo, request.sha, context, "error", description, target_url=link)

    def ended_pending(self, request: Request, contexts: Sequence[str],
                      failure: failures.JobFailureText | None = None) -> None:
        description = (failures.status_description(failure) if failure is not None
                       else "Shipmate ended without a result (see its log)")
        for context in contexts:
            self.status(request.repo, request.sha, context, "error", description)

    # --- comments and statuses ----------------------------------------------------------------

    def comment_url(self, req: Request, comment_id: int | None) -> str:
        """The web URL of comment `comment_id` on `req`'s pull request; "" when there is none
        or the pull request's page cannot be read (logged)."""
        if comment_id is None or req.number is None:
            return ""
        page = req.html_url
        if not page:
            try:
                page = self.host.pull_request(req.repo, req.number).html_url
            except ShipmateError as exc:
                log.warning("no link to comment %s: cannot read %s#%s: %s", comment_id, req.repo, req.number, exc)
        return f"{page}#issuecomment-{comment_id}" if page else ""

    def repository_url(self, repo: str) -> str:
        """The repository's web page; "" when it cannot be read (logged)."""
        try:
            return self.host.repository_url(repo)
        except ShipmateError as exc:
            log.warning("no link into %s: %s", repo, exc)
            return ""

    def drift_url(self, plan: RunPlan, result: RunResult) -> str:
        """Where a drift check's records are: the state branch's `drift/` folder, or the one
        stack's record when only one drifted or failed."""
        page = self.repository_url(plan.request.repo)
        if not page or not plan.state_branch:
            return page
        _, drifted, failed = drift_names(result)
        notable = [s for s in result.stacks if s.name in {*drifted, *failed} and s.project != REPOSITORY]
        if len(notable) == 1:
            return f"{page}/blob/{plan.state_branch}/{statelayout.drift_path(notable[0].project, notable[0].workspace)}"
        return f"{page}/tree/{plan.state_branch}/{statelayout.DRIFT}"

    def tell(self, req: Request, body: str) -> str:
        """Post an outcome on the pull request, or as a comment on the commit when there is
        none; returns the web URL of (the first part of) that comment, "" when it could not be
        posted (logged: the outcome is still in the Release and the log)."""
        try:
            if req.number is not None:
                ids = self.post(req.repo, req.number, "merge", preview_key(req.number), body)
                return f"{req.html_url}#issuecomment-{ids[0]}" if ids and req.html_url else ""
            marker = split.make_marker("merge", {"key": f"push-{req.sha[:12]}"})
            urls = [self.host.create_commit_comment(req.repo, req.sha, part)
                    for part in split.split_markdown(f"{marker.line()}\n{body}")]
            return urls[0] if urls else ""
        except ShipmateError as exc:
            where = f"#{req.number}" if req.number is not None else f"commit {req.sha[:7]}"
            log.warning("%s: could not post the apply outcome on %s: %s", req.repo, where, exc)
            return ""

    def upsert(self, repo: str, number: int, kind: str, key: str, bodies: Sequence[str]) -> list[int]:
        """Make the bot's `kind`/`key` comments on `number` read `bodies`; returns their IDs."""
        existing = marked(self.host.comments(repo, number), self.host.bot_login(), kind, key)
        ids: list[int] = []
        for index, body in enumerate(bodies):
            if index < len(existing):
                current = existing[index]
                if current.body != body:
                    self.host.edit_comment(repo, current.id, body)
                ids.append(current.id)
            else:
                ids.append(self.host.create_comment(repo, number, body))
        for extra in existing[len(bodies):]:
            self.host.delete_comment(repo, extra.id)
        return ids

    def post(self, repo: str, number: int, kind: str, key: str, body: str) -> list[int]:
        """Post `body` (Markdown without marker) as new comment(s), split to fit."""
        marker = split.make_marker(kind, {"key": key})
        return [self.host.create_comment(repo, number, part)
                for part in split.split_markdown(f"{marker.line()}\n{body}")]

    def status(self, repo: str, sha: str, context: str, state: str, description: str, target_url: str = "") -> None:
        """Set a commit status (`target_url`: where its details are); a failure is logged, not raised."""
        text = description if len(description) <= statuses.DESCRIPTION_LIMIT else description[:137] + "..."

        def write() -> None:
            try:
                self.host.set_status(repo, sha, context, state, text, target_url)
            except ShipmateError as exc:
                log.warning("could not set status %s on %s@%s: %s", context, repo, sha[:7], exc)

        key = (repo, sha, context)
        if state == "pending" and self.pending_delay > 0:
            self.held.hold(key, self.pending_delay, write)
            return
        self.held.settle(key)
        write()


def marked(comments: Sequence[CommentInfo], author: str, kind: str, key: str) -> list[CommentInfo]:
    """`author`'s comments carrying a `kind` marker with `key`, in part order."""
    found: list[tuple[int, int, CommentInfo]] = []
    for item in comments:
        if item.author.lower() != author.lower():
            continue
        marker = split.parse_marker(item.body)
        if marker is None or marker.kind != kind or marker.get("key") != key:
            continue
        part = marker.get("part", "1/1").partition("/")[0]
        found.append((int(part) if part.isdigit() else 0, item.id, item))
    return [c for _, _, c in sorted(found, key=lambda entry: (entry[0], entry[1]))]
