"""The dashboard's read model: what `/ui` and `/api/v1` show of every repository the bot
serves - releases, their history and differences, locks, the queue, drift and open pull
requests - and the two actions they offer (unlock, retry), as values (`bot.app.dashboard_values`).

Reads are cheap however long the history: each request takes one `StateView` of a
repository's state branch (one fetch), lists its project+workspaces, and reads per stack
only its index, its latest release, its lock and its drift record; a history page reads the
releases on that page. Everything read is cached under the branch's commit id (a new
commit is a new version, so nothing stale is ever served) in a small LRU cache, so a page
shown again before the branch moves costs one fetch. The state branch each repository uses
comes from `shipmate.yaml` on its policy branch (as the handlers read it: `bot.app.trust`),
re-read after `BRANCH_TTL`.

Unlock is `shipmate release unlock`'s (`StateBackend.force_unlock`, recorded on the state
branch with the actor); retry is `shipmate queue retry`'s (`EventQueue.requeue`). Who may
read or act is the web layer's question (`bot.web.auth`), never this module's.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.app.dashboard_values import (
    Comparison,
    Counts,
    DriftChange,
    DriftField,
    DriftStatus,
    History,
    LockSummary,
    Overview,
    ProjectOverview,
    PullSummary,
    QueueJob,
    ReleaseDetail,
    ReleaseSummary,
    RepositoryOverview,
    Retried,
    StackPreview,
    StackSummary,
    Unlock,
)
from bot.app.services import Access, Services
from bot.core import mask, release_diff
from bot.core.config.settings import RepoSettings
from bot.core.errors import ConfigError, ShipmateError
from bot.core.lock import Lock
from bot.core.ports import (
    EventQueue,
    JobRecord,
    PullRequestInfo,
    RepositoryBook,
    StateBackend,
    StateView,
)
from bot.core.release import Release, valid_name
from bot.core.render import release_diff as render_diff

log = logging.getLogger("shipmate.dashboard")

T = TypeVar("T")

BRANCH_TTL = timedelta(seconds=60)
PULLS_TTL = timedelta(seconds=15)
CACHE_ENTRIES = 1024
FINISHED_ENTRIES = 50_000  # summaries of finished releases, a few hundred bytes each
HISTORY_LIMIT = 200  # the most releases one history page holds
QUEUE_STATES = ("pending", "running", "failed", "dead")
DRIFT_STATES = ("drifted", "in-sync", "failed", "unchecked")


class NotFound(LookupError):
    """What was asked for does not exist (a repository the bot does not serve, a stack, a
    revision, a job): the API's 404."""


class Invalid(ValueError):
    """The question is malformed (a bad name, revision or state): the API's 400."""


@dataclass(frozen=True, slots=True)
class _Stack:
    """What the overview holds of one project+workspace at one version of the branch."""

    summary: StackSummary  # without its lock: whether that expired is read at each request
    lock: Lock | None
    drift: DriftStatus | None


class Dashboard:
    """The read model over `services` (state branches, code hosts), `book` (the repositories
    the bot serves) and `queue` (None: a process without the queue shows none)."""

    def __init__(self, services: Services, book: RepositoryBook, queue: EventQueue | None = None,
                 *, cache_entries: int = CACHE_ENTRIES) -> None:
        self.services = services
        self.book = book
        self.jobs = queue
        self._entries = cache_entries
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._branches: dict[str, tuple[datetime, str]] = {}
        self._pulls: dict[str, tuple[datetime, tuple[PullRequestInfo, ...]]] = {}
        self._finished: OrderedDict[tuple[str, str, str, str, int], ReleaseSummary] = OrderedDict()
        self._finished_entries = FINISHED_ENTRIES
        self._stack_cache: dict[tuple[str, str, str], tuple[str, _Stack | None]] = {}  # by the stack's version
        self._lock = threading.Lock()

    # --- repositories and the overview -----------------------------------------------------

    def repositories(self) -> tuple[str, ...]:
        """Every repository the bot serves, sorted."""
        return tuple(self.book.repositories())

    def overview(self, repos: Iterable[str], query: str = "", phase: str | None = None) -> Overview:
        """`repos`' projects and stacks with their latest release, lock and drift; `query`
        keeps stacks whose repository, project, workspace or stack name holds it (any case),
        `phase` those whose latest release is in that phase (`none`: never released)."""
        needle = query.strip().lower()
        if phase is not None and phase not in (*_PHASES, "none"):
            raise Invalid(f"phase {phase!r} is not one of {', '.join((*_PHASES, 'none'))}")
        shown = []
        for repo in repos:
            found = self._repository(repo)
            projects = []
            for project in found.projects:
                stacks = tuple(s for s in project.stacks if _matches(s, needle) and _in_phase(s, phase))
                if stacks:
                    projects.append(ProjectOverview(project.name, stacks))
            if projects or found.error is not None or not (needle or phase):
                shown.append(RepositoryOverview(found.repo, found.url, tuple(projects), found.error))
        return Overview(tuple(shown), _count(shown), query, phase)

    def stacks(self, repo: str) -> RepositoryOverview:
        """One repository's projects and stacks (the overview's row of it)."""
        self._known(repo)
        return self._repository(repo)

    def _repository(self, repo: str) -> RepositoryOverview:
        url = self._url(repo)
        try:
            view = self._view(repo)
            stacks = self._stacks(repo, view)
        except ShipmateError as exc:
            log.warning("%s: the state branch cannot be read: %s", repo, exc)
            return RepositoryOverview(repo, url, (), str(exc))
        by_project: dict[str, list[StackSummary]] = {}
        for stack in stacks:
            lock = self._lock_summary(repo, stack.lock) if stack.lock else None
            by_project.setdefault(stack.summary.project, []).append(replace(stack.summary, lock=lock))
        return RepositoryOverview(
            repo, url, tuple(ProjectOverview(name, tuple(rows)) for name, rows in sorted(by_project.items()))
        )

    def _stacks(self, repo: str, view: StateView) -> tuple[_Stack, ...]:
        def read() -> tuple[_Stack, ...]:
            versions = view.stack_versions()
            out = []
            for pair in (sorted(versions) if versions is not None else view.stacks()):
                version = versions[pair] if versions is not None else None
                key = (repo, *pair)
                with self._lock:
                    known = self._stack_cache.get(key)
                if version is None or known is None or known[0] != version:
                    known = (version or "", self._stack(repo, view, *pair))
                    if version is not None:
                        with self._lock:
                            self._stack_cache[key] = known
                if known[1] is not None:
                    out.append(known[1])
            return tuple(out)

        return self._cached((repo, view.version, "stacks"), view.version, read)

    def _stack(self, repo: str, view: StateView, project: str, workspace: str) -> _Stack | None:
        """One stack read whole: its index, latest release, lock and drift record."""
        revisions = view.revisions(project, workspace)
        if not revisions:
            return None
        latest = self._release(view, repo, project, workspace, revisions[-1])
        record = view.drift(project, workspace)
        drift = _drift(repo, project, workspace, record, self._url(repo)) if record is not None else None
        return _Stack(
            StackSummary(
                repo=repo, project=project, workspace=workspace, stack=latest.stack,
                releases=len(revisions), latest=self._summary(repo, latest),
                lock=None,
                drift=drift.status if drift else "unchecked",
            ),
            view.lock(project, workspace),
            drift,
        )

    # --- one stack's history ---------------------------------------------------------------

    def history(self, repo: str, project: str, workspace: str, before: int | None = None,
                limit: int = 50) -> History:
        """A page of the project+workspace's releases, newest first: at most `limit` of the
        revisions below `before` (all of them when None)."""
        self._key(repo, project, workspace)
        if not 1 <= limit <= HISTORY_LIMIT:
            raise Invalid(f"limit must be between 1 and {HISTORY_LIMIT}, got {limit}")
        if before is not None and before < 1:
            raise Invalid(f"before must be a revision (1 or more), got {before}")
        view = self._view(repo)

        def read() -> History:
            revisions = view.revisions(project, workspace)
            if not revisions:
                raise NotFound(f"{repo} has no releases of {project}/{workspace}")
            below = [r for r in reversed(revisions) if before is None or r < before]
            page = below[:limit]
            releases = tuple(self._finished_summary(repo, view, project, workspace, r) for r in page)
            return History(repo, project, workspace, len(revisions), releases,
                           page[-1] if len(below) > limit else None)

        page = self._cached((repo, view.version, "history", project, workspace, before, limit), view.version, read)
        held = self._cached((repo, view.version, "lock", project, workspace), view.version,
                            lambda: view.lock(project, workspace))
        return replace(page, lock=self._lock_summary(repo, held) if held else None)

    def release(self, repo: str, project: str, workspace: str, revision: int) -> ReleaseDetail:
        """One release whole (as stored: masked)."""
        self._key(repo, project, workspace)
        view = self._view(repo)
        found = self._release(view, repo, project, workspace, revision)
        return ReleaseDetail(repo, self._summary(repo, found), _shown(found).to_dict())

    def compare(self, repo: str, project: str, workspace: str, a: int, b: int) -> Comparison:
        """What changed from revision `a` to revision `b` (Spec, state and the release's own
        fields), as `shipmate release diff a b` shows it; masked, as stored."""
        self._key(repo, project, workspace)
        view = self._view(repo)

        def read() -> Comparison:
            before = _shown(self._release(view, repo, project, workspace, a))
            after = _shown(self._release(view, repo, project, workspace, b))
            diff = release_diff.diff_releases(before, after)
            return Comparison(repo, project, workspace, self._summary(repo, before), self._summary(repo, after),
                              render_diff.data(diff), render_diff.text(diff))

        return self._cached((repo, view.version, "compare", project, workspace, a, b), view.version, read)

    # --- locks -----------------------------------------------------------------------------

    def locks(self, repos: Iterable[str]) -> tuple[LockSummary, ...]:
        """Every lock held in `repos` (expired ones flagged), by repository and key."""
        out: list[LockSummary] = []
        for repo in repos:
            try:
                view = self._view(repo)
            except ShipmateError as exc:
                log.warning("%s: the state branch cannot be read: %s", repo, exc)
                continue
            out.extend(self._repo_locks(repo, view))
        return tuple(out)

    def _repo_locks(self, repo: str, view: StateView) -> tuple[LockSummary, ...]:
        held = self._cached((repo, view.version, "locks"), view.version, view.locks)
        return tuple(self._lock_summary(repo, lock) for lock in held)

    def unlock(self, repo: str, project: str, workspace: str, actor: str) -> Unlock:
        """Free the project+workspace's lock and mark an unfinished latest release failed
        (keeping its state), recorded on the state branch with `actor`, as `shipmate release
        unlock` does."""
        self._key(repo, project, workspace)
        done = self._backend(repo).force_unlock(project, workspace, actor=actor)
        log.info("%s: %s/%s unlocked by %s", repo, project, workspace, actor)
        return Unlock(repo, project, workspace, actor,
                      done.release.revision if done.release else None,
                      self._lock_summary(repo, done.lock) if done.lock else None)

    # --- the queue -------------------------------------------------------------------------

    def queue(self, states: Sequence[str] = QUEUE_STATES, repos: Iterable[str] | None = None,
              limit: int = 100) -> tuple[QueueJob, ...]:
        """Jobs in `states`, oldest first, of `repos` only when given (a job belongs to the
        repository its ordering key names)."""
        unknown = [s for s in states if s not in (*QUEUE_STATES, "done")]
        if unknown:
            raise Invalid(f"state {unknown[0]!r} is not one of {', '.join((*QUEUE_STATES, 'done'))}")
        if self.jobs is None:
            return ()
        wanted = None if repos is None else {r.lower() for r in repos}
        jobs = [_job(record) for record in self.jobs.jobs(list(states), limit=limit)]
        return tuple(j for j in jobs if wanted is None or j.repo in wanted)

    def job(self, job_id: int) -> QueueJob:
        if self.jobs is None or (record := self.jobs.job(job_id)) is None:
            raise NotFound(f"there is no job {job_id}")
        return _job(record)

    def retry(self, job_id: int, actor: str) -> Retried:
        """Put a dead-lettered (or failed) job back in line with fresh attempts."""
        if self.jobs is None:
            raise NotFound(f"there is no job {job_id}")
        new = self.jobs.requeue(job_id)
        if new is None:
            found = self.jobs.job(job_id)
            if found is None:
                raise NotFound(f"there is no job {job_id}")
            raise Invalid(f"job {job_id} is {found.state}: only a dead or failed job is retried")
        log.info("job %d retried by %s as job %d", job_id, actor, new)
        return Retried(job_id, new, actor)

    # --- drift and pull requests -----------------------------------------------------------

    def drift(self, repos: Iterable[str]) -> tuple[DriftStatus, ...]:
        """The last drift check of every checked stack of `repos`."""
        out: list[DriftStatus] = []
        for repo in repos:
            try:
                view = self._view(repo)
                out.extend(s.drift for s in self._stacks(repo, view) if s.drift is not None)
            except ShipmateError as exc:
                log.warning("%s: the state branch cannot be read: %s", repo, exc)
        return tuple(out)

    def pulls(self, repos: Iterable[str]) -> tuple[PullSummary, ...]:
        """The open pull requests of `repos`, the latest preview of each (per stack) and the
        locks each holds."""
        out: list[PullSummary] = []
        for repo in repos:
            view = self._view(repo)
            held: dict[int, list[LockSummary]] = {}
            for lock in self._repo_locks(repo, view):
                if lock.pull_request is not None:
                    held.setdefault(lock.pull_request, []).append(lock)
            for pull in self._open_pulls(repo):
                record = self._preview_record(repo, view, pull.number)
                commit = str(record.get("commit") or "") if record else None
                out.append(PullSummary(
                    repo, pull.number, pull.title, pull.author,
                    pull.html_url or self._pull_url(repo, pull.number) or "", pull.head_sha, pull.draft,
                    tuple(held.get(pull.number, ())), _previews(record) if record else (),
                    commit, str(record.get("previewTime") or "") if record else None,
                    bool(commit) and commit == pull.head_sha,
                ))
        return tuple(out)

    # --- reading helpers -------------------------------------------------------------------

    def _open_pulls(self, repo: str) -> Sequence[PullRequestInfo]:
        """The repository's open pull requests, asked of the code host at most once per
        `PULLS_TTL` (every viewer's page refreshes would otherwise spend the bot's API quota)."""
        now = self.services.clock.now()
        with self._lock:
            known = self._pulls.get(repo)
        if known is None or now - known[0] >= PULLS_TTL or now < known[0]:
            known = (now, tuple(self._access(repo).host.open_pull_requests(repo)))
            with self._lock:
                self._pulls[repo] = known
        return known[1]

    def _preview_record(self, repo: str, view: StateView, number: int) -> Mapping[str, Any] | None:
        def read() -> Mapping[str, Any] | None:
            return view.previews(number)

        return self._cached((repo, view.version, "previews", number), view.version, read)

    def _known(self, repo: str) -> None:
        if repo not in self.book.repositories():
            raise NotFound(f"Shipmate does not serve {repo}")

    def _key(self, repo: str, project: str, workspace: str) -> None:
        self._known(repo)
        for kind, name in (("project", project), ("workspace", workspace)):
            if not valid_name(name):
                raise Invalid(f"{name!r} is not a valid {kind} name (letters, digits, . _ -)")

    def _access(self, repo: str) -> Access:
        return self.services.access(repo, self.book.repositories().get(repo))

    def _backend(self, repo: str) -> StateBackend:
        backend: StateBackend = self._access(repo).backends(repo, self._branch_of(repo))
        return backend

    def _branch_of(self, repo: str) -> str:
        """The state branch `shipmate.yaml` on the policy branch names (re-read after `BRANCH_TTL`)."""
        now = self.services.clock.now()
        with self._lock:
            known = self._branches.get(repo)
        if known is None or now - known[0] >= BRANCH_TTL:
            try:
                branch = self.services.policy_tree(self._access(repo), repo).settings().backend.branch
            except ConfigError:
                branch = RepoSettings().backend.branch
            known = (now, branch)
            with self._lock:
                self._branches[repo] = known
        return known[1]

    def _view(self, repo: str) -> StateView:
        return self._backend(repo).view()

    def _release(self, view: StateView, repo: str, project: str, workspace: str, revision: int) -> Release:
        if revision < 1:
            raise Invalid(f"a revision is 1 or more, got {revision}")
        found = view.release(project, workspace, revision)
        if found is None:
            raise NotFound(f"{repo} has no release {project}/{workspace} r{revision}")
        return found

    def _cached(self, key: tuple[Any, ...], version: str | None, read: Callable[[], T]) -> T:
        if version is None:  # a medium that cannot name its version is read every time
            return read()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                found: T = self._cache[key]
                return found
        value = read()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return value

    def _url(self, repo: str) -> str:
        try:
            url: str = self._access(repo).host.repository_url(repo)
        except ShipmateError:
            return ""
        return url

    def _pull_url(self, repo: str, number: int | None) -> str | None:
        base = self._url(repo)
        return f"{base}/pull/{number}" if base and number is not None else None

    def _finished_summary(self, repo: str, view: StateView, project: str, workspace: str,
                          revision: int) -> ReleaseSummary:
        """A release's summary; a finished release never changes, so its summary is kept
        (by repository, state branch and revision) however the branch moves."""
        key = (repo, self._branch_of(repo), project, workspace, revision)
        with self._lock:
            found = self._finished.get(key)
            if found is not None:
                self._finished.move_to_end(key)
                return found
        summary = self._summary(repo, self._release(view, repo, project, workspace, revision))
        if summary.phase in _TERMINAL:
            with self._lock:
                self._finished[key] = summary
                while len(self._finished) > self._finished_entries:
                    self._finished.popitem(last=False)
        return summary

    def _summary(self, repo: str, release: Release) -> ReleaseSummary:
        base = self._url(repo)
        return ReleaseSummary(
            revision=release.revision, stack=release.stack, phase=str(release.phase),
            trigger=str(release.trigger), actor=release.actor, create_time=release.create_time,
            modified_time=release.modified_time, commit=release.commit,
            commit_url=f"{base}/commit/{release.commit}" if base and release.commit else None,
            pull_request=release.pull_request, pull_request_url=self._pull_url(repo, release.pull_request),
            resources=len(release.state.resources), error=release.error,
        )

    def _lock_summary(self, repo: str, lock: Lock) -> LockSummary:
        return LockSummary(
            repo=repo, project=lock.project, workspace=lock.workspace, owner=lock.owner, token=lock.token,
            acquire_time=lock.acquire_time, expire_time=lock.expire_time,
            expired=lock.expired(self.services.clock.now()), pull_request=lock.pull_request,
            pull_request_url=self._pull_url(repo, lock.pull_request), run_id=lock.run_id,
        )


_PHASES = ("generating", "previewing", "applying", "destroying", "succeeded", "failed")
_TERMINAL = ("succeeded", "failed")


def _shown(release: Release) -> Release:
    """A release as it may be shown: the state branch stores it masked with every secret the
    writer knew; anything still shaped like a Kubernetes Secret is masked again here."""
    return mask.mask_release(release)


def _matches(stack: StackSummary, needle: str) -> bool:
    if not needle:
        return True
    return any(needle in name.lower() for name in (stack.repo, stack.project, stack.workspace, stack.stack))


def _in_phase(stack: StackSummary, phase: str | None) -> bool:
    if phase is None:
        return True
    return (stack.latest.phase if stack.latest else "none") == phase


def _count(repos: Sequence[RepositoryOverview]) -> Counts:
    stacks = [s for r in repos for p in r.projects for s in p.stacks]
    phases: dict[str, int] = {}
    for stack in stacks:
        if stack.latest is not None:
            phases[stack.latest.phase] = phases.get(stack.latest.phase, 0) + 1
    return Counts(
        repositories=len(repos), stacks=len(stacks), releases=sum(s.releases for s in stacks),
        locked=sum(1 for s in stacks if s.lock is not None),
        drifted=sum(1 for s in stacks if s.drift == "drifted"), phases=phases,
    )


def _drift(repo: str, project: str, workspace: str, record: Mapping[str, Any], base: str) -> DriftStatus:
    """A drift record (`bot.app.drift.report`) as a value; anything unexpected in it is
    shown as a failed check rather than trusted."""
    drifted = record.get("drifted")
    error = record.get("error")
    status = "failed" if error or drifted is None else ("drifted" if drifted else "in-sync")
    counts = record.get("counts")
    changes = record.get("changes")
    found = record.get("diffs")
    diffs: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    commit = str(record.get("commit") or "")
    return DriftStatus(
        repo=repo, project=project, workspace=workspace, stack=str(record.get("stack") or ""), status=status,
        check_time=str(record.get("checkTime") or ""), commit=commit,
        commit_url=f"{base}/commit/{commit}" if base and commit else None,
        counts={str(k): v for k, v in counts.items() if isinstance(v, int)} if isinstance(counts, Mapping) else {},
        changes=tuple(
            DriftChange(str(c.get("id", "")), str(c.get("action", "")), _fields(diffs.get(str(c.get("id", "")))))
            for c in (changes if isinstance(changes, list) else []) if isinstance(c, Mapping)
        ),
        error=str(error) if error else None,
        issue_url=_link(base, "issues", record.get("issue")) if drifted else None,
        pull_request_url=_link(base, "pull", (record.get("pullRequest") or {}).get("number")
                               if isinstance(record.get("pullRequest"), Mapping) else None) if drifted else None,
    )


def _link(base: str, kind: str, number: object) -> str | None:
    """`<repository page>/issues/<n>` or `/pull/<n>` for a number a record holds (else None)."""
    if not base or not isinstance(number, int) or isinstance(number, bool):
        return None
    return f"{base}/{kind}/{number}"


def _previews(record: Mapping[str, Any]) -> tuple[StackPreview, ...]:
    """A preview record's stacks (`bot.app.dashboard_previews`) as values."""
    stacks = record.get("stacks")
    out = []
    for item in stacks if isinstance(stacks, list) else []:
        if not isinstance(item, Mapping):
            continue
        counts = item.get("counts")
        error = item.get("error")
        out.append(StackPreview(
            str(item.get("project", "")), str(item.get("workspace", "")), str(item.get("stack", "")),
            str(item.get("status", "")),
            {str(k): v for k, v in counts.items() if isinstance(v, int)} if isinstance(counts, Mapping) else {},
            str(error) if error else None,
        ))
    return tuple(out)


def _fields(items: Any) -> tuple[DriftField, ...]:
    return tuple(
        DriftField(str(f.get("path", "")), str(f.get("kind", "")), str(f.get("before", "")), str(f.get("after", "")))
        for f in (items if isinstance(items, list) else []) if isinstance(f, Mapping)
    )


def _job(record: JobRecord) -> QueueJob:
    repo = record.key.split("#", 1)[0].split("@", 1)[0].split("!", 1)[0]
    return QueueJob(
        id=record.id, delivery_id=record.delivery_id, event=record.event, action=record.action, key=record.key,
        repo=repo, state=record.state, attempts=record.attempts, last_error=record.last_error,
        enqueued_at=_time(record.enqueued_at),
        finished_at=_time(record.finished_at) if record.finished_at is not None else None,
    )


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
