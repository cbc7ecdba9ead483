"""Protocols the core and the use cases depend on; adapters implement them.

Each port is narrow and batch-friendly: a runtime receives every resource of its type in one
call where that is cheaper (a runtime that declares `batch`, as Terraform plans a whole stack
at once), and per-resource calls where it is not. Sections are owned by the capability that
introduced them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.core.events import Delivery
from bot.core.lock import Lock
from bot.core.lockqueue import LockQueue, Waiting
from bot.core.release import Release, ReleaseMeta
from bot.core.spec import SENSITIVE_KEY as spec_sensitive_key
from bot.core.spec import Resource, State

JSON = dict[str, Any]


class Clock(Protocol):
    """The time source; the core never reads the clock itself."""

    def now(self) -> datetime: ...


# --- runtimes -------------------------------------------------------------------------------


class Runtime(Protocol):
    """One kind of infrastructure (Kubernetes, Terraform) that can read, dry-run and change resources.

    All methods take the prior `State` (the latest release's) so runtimes that keep state
    in the release (`recorded-state`, as Terraform) can rebuild their working copy from it.
    How a runtime is found and what else it declares: `bot.core.runtimes`.
    """

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        """Live objects by resource ID; `None` where the resource does not exist."""
        ...

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        """What each planned resource would look like after apply, by ID, without changing anything."""
        ...

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        """Create or update; returns the resource as it should be recorded in State, by ID."""
        ...

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        """Delete the given resources (absent ones are not an error)."""
        ...

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Block until the resource is ready by its kind's rule, or raise RuntimeFailed
        (called only for runtimes that declare `readiness`)."""
        ...


# --- event queue (webhook intake → workers) ----------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A delivery handed to one worker under a lease.

    `token` fences the claim: `complete`/`fail`/`extend` with a token that is no longer the
    current one (the lease expired and another worker re-claimed the job) are refused.
    `attempts` counts claims, this one included: a lease that expires (the worker died)
    used up an attempt. `max_attempts` is the queue's limit (0: unknown); a claim with
    `attempts > max_attempts` is handed out only to report the job dead-lettered (its
    earlier attempts all ended without an outcome), not to run it again.
    """

    id: int
    delivery: Delivery
    key: str
    attempts: int
    token: str
    worker_id: str
    lease_until: datetime
    max_attempts: int = 0

    @property
    def exhausted(self) -> bool:
        """True for a claim that may only report the job dead, not run it."""
        return 0 < self.max_attempts < self.attempts


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Job counts by state. `pending` includes jobs waiting for a retry backoff (`delayed`)."""

    pending: int
    delayed: int
    running: int
    done: int
    failed: int
    dead: int = 0  # dead-lettered: attempts used up (or a bug); kept until retried or dropped

    @property
    def depth(self) -> int:
        """Jobs not finished yet (pending and running)."""
        return self.pending + self.running


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job as an operator sees it (`shipmate queue`): where it stands and why.

    `state`: pending | running | done | failed (a permanent error, reported) | dead (a dead
    letter: attempts used up, or a bug). Times are POSIX seconds (None when not set)."""

    id: int
    delivery_id: str
    event: str
    action: str
    key: str
    state: str
    attempts: int
    last_error: str
    enqueued_at: float
    not_before: float | None = None
    lease_until: float | None = None
    worker_id: str = ""
    finished_at: float | None = None


class EventQueue(Protocol):
    """Durable, deduplicating job queue with per-key ordering.

    - `put` stores a delivery, with its typed event parsed at intake, once per delivery ID: it
      returns False (and stores nothing) when the ID was seen already, so redeliveries are
      no-ops. Once it returns, the delivery survives a crash of the process. `key` is the
      ordering key the intake computed (default: `events.ordering_key(delivery.parsed)`).
    - `claim` hands out the oldest runnable job whose ordering key has
      no earlier unfinished job; jobs of different keys are handed out in parallel. A running
      job whose lease expired (its worker crashed) is handed out again, in its place in line.
    - A job is finished only by `complete`, by `fail` without retry (state `failed`), or
      dead-lettered (state `dead`): by `fail` with retry past the last attempt, by `bury`,
      or by a claim that finds its lease expired with every attempt used up. `fail` with
      retry puts it back after an exponential backoff (at least `delay` seconds).
    - Dead jobs are kept until an operator requeues (`requeue`) or drops (`drop`) them.
    """

    def put(self, delivery: Delivery, key: str | None = None) -> bool: ...

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None: ...

    def extend(self, job: Job, lease_seconds: float) -> bool:
        """Renew a running job's lease; False when the claim is no longer this job's."""
        ...

    def complete(self, job: Job) -> bool:
        """Mark done; False when the claim is stale (the job was re-claimed after its lease)."""
        ...

    def fail(self, job: Job, error: str, retry: bool, delay: float = 0.0) -> bool:
        """Record a failure: retry later (bounded attempts, backoff of at least `delay`
        seconds), finish as failed (no retry), or dead-letter it (retry past the last attempt)."""
        ...

    def bury(self, job: Job, error: str) -> bool:
        """Dead-letter the claimed job now (a bug, or a claim that only reports it dead)."""
        ...

    def jobs(self, states: Sequence[str], limit: int = 100) -> list[JobRecord]:
        """Jobs in the given states (pending, running, failed, dead), oldest first."""
        ...

    def job(self, job_id: int) -> JobRecord | None: ...

    def requeue(self, job_id: int) -> int | None:
        """Put a dead (or failed) job back at the end of its key's line with fresh attempts,
        as a new job; its new ID, or None when `job_id` is not a dead or failed job."""
        ...

    def drop(self, job_id: int) -> bool:
        """Delete a job that is not running (its delivery ID stays known); False otherwise."""
        ...

    def stats(self) -> QueueStats: ...

    def ping(self) -> None:
        """Raise when the queue's storage is unreachable (readiness)."""
        ...

    def purge(self, finished_before: datetime) -> int:
        """Delete finished jobs older than the time (their delivery IDs are forgotten too)."""
        ...

    def close(self) -> None: ...


# --- code host (GitHub) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullRequestInfo:
    """What the bot needs to know about a pull request, read fresh from the code host."""

    repo: str
    number: int
    title: str
    author: str
    state: str  # open | closed
    merged: bool
    draft: bool
    head_sha: str
    head_ref: str
    head_repo: str  # "" when the fork was deleted (then is_fork: see bot.core.events.is_fork)
    base_ref: str
    base_sha: str
    is_fork: bool
    mergeable: bool | None
    merge_commit_sha: str | None = None
    html_url: str = ""


@dataclass(frozen=True, slots=True)
class CommentInfo:
    id: int
    author: str
    body: str


@dataclass(frozen=True, slots=True)
class ReviewInfo:
    author: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED
    commit_id: str
    author_is_bot: bool = False  # a GitHub App or other bot account: its approval never counts


class CodeHost(Protocol):
    """The pull-request side of GitHub (or a compatible host), narrowed to what the bot uses."""

    def pull_request(self, repo: str, number: int) -> PullRequestInfo: ...

    def open_pull_requests(self, repo: str) -> Sequence[PullRequestInfo]:
        """The open pull requests, from one list (their `mergeable` may be None: a list does
        not compute it; `pull_request` reads one fresh)."""
        ...

    def merged_pull_request_for(self, repo: str, sha: str) -> PullRequestInfo | None:
        """The merged pull request whose merge commit is `sha`, if any."""
        ...

    def changed_files(self, repo: str, number: int) -> Sequence[str]:
        """Paths the pull request changes; a rename contributes its old and new path."""
        ...

    def reviews(self, repo: str, number: int) -> Sequence[ReviewInfo]: ...

    def permission(self, repo: str, login: str) -> str:
        """admin | maintain | write | triage | read | none."""
        ...

    def team_members(self, org: str, team: str) -> Sequence[str]:
        """The logins of team `org/team`'s members (CODEOWNERS' `@org/team`); empty when the
        team does not exist or cannot be read (the App needs the organisation's Members: read)."""
        ...

    def comments(self, repo: str, number: int) -> Sequence[CommentInfo]: ...

    def create_comment(self, repo: str, number: int, body: str) -> int: ...

    def create_issue(self, repo: str, title: str, body: str) -> int:
        """Open an issue; its number."""
        ...

    def edit_issue(self, repo: str, number: int, *, body: str | None = None, state: str | None = None) -> None:
        """Change an issue's body and/or state (`open` | `closed`)."""
        ...

    def issue_state(self, repo: str, number: int) -> str:
        """`open` or `closed`."""
        ...

    def push_files(self, repo: str, branch: str, base_sha: str, files: Mapping[str, str], message: str) -> str:
        """Point `branch` (Shipmate's own: created, or reset when it exists) at commit `base_sha`
        with `files` (path → whole text) written on top; the SHA of the branch's new head. The
        texts are config files, written as given (never masked: the caller writes no secret)."""
        ...

    def create_pull_request(self, repo: str, head: str, base: str, title: str, body: str) -> int:
        """Open a pull request from branch `head` into `base`; its number."""
        ...

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete Shipmate's own `branch`; a branch that is gone already is no error."""
        ...

    def create_commit_comment(self, repo: str, sha: str, body: str) -> str:
        """Comment on a commit (an outcome with no pull request to tell); returns its web URL."""
        ...

    def edit_comment(self, repo: str, comment_id: int, body: str) -> None: ...

    def delete_comment(self, repo: str, comment_id: int) -> None: ...

    def react(self, repo: str, comment_id: int, content: str) -> None:
        """Add an emoji reaction (+1, eyes, rocket, confused, ...) to an issue comment."""
        ...

    def set_status(
        self, repo: str, sha: str, context: str, state: str, description: str, target_url: str = ""
    ) -> None:
        """Set a commit status (state: pending | success | failure | error)."""
        ...

    def branch_head(self, repo: str, branch: str) -> str: ...

    def default_branch(self, repo: str) -> str: ...

    def repository_url(self, repo: str) -> str:
        """The repository's web page (`https://github.com/owner/name`): statuses link there."""
        ...

    def bot_login(self) -> str:
        """The login the bot acts as (to find its own comments)."""
        ...


class Checkouts(Protocol):
    """Local working copies of a repository at a commit (a cache; never the state branch)."""

    def checkout(self, repo: str, sha: str) -> str:
        """Path to a clean work tree of `repo` at `sha`."""
        ...


# --- preview conventions (runtime read / dry_run results) -----------------------------------

SENSITIVE_KEY = spec_sensitive_key
"""Reserved key a runtime may add to an object returned by `Runtime.read` or `Runtime.dry_run`.

Its value is a tree shaped like the object with `true` at every sensitive leaf or subtree,
exactly Terraform's `sensitive_values` / `after_sensitive` format, e.g.
`{"password": true, "blocks": [{"token": true}]}`. The preview engine removes the key from the
object and records the paths so `bot.core.mask` hides those values before anything is rendered
or stored. Kubernetes runtimes need not set it: Secret `data`/`stringData` are always masked.
"""

REPLACE_KEY = "__replace__"
"""Reserved key a runtime may add to an object returned by `Runtime.dry_run` when applying
would delete the resource and create it again (Terraform's `["delete", "create"]` plan
actions). Its value is the list of attribute paths forcing that, each a list of keys and list
indexes (Terraform's `replace_paths`, e.g. `[["triggers"]]`; empty when something else
forces it). The preview engine removes the key and makes the step a **Replace**; applying it
is the runtime's own apply, like an update.
"""

KNOWN_AFTER_APPLY = "(known after apply)"
"""What a dry-run result holds for a value only known once applied (Terraform's `after_unknown`
attributes), so the preview shows it instead of reporting the attribute as removed."""


# --- state backend (releases and locks on the state branch) ---------------------------------


@dataclass(frozen=True, slots=True)
class Unlocked:
    """What `StateBackend.force_unlock` did: the release it failed and the lock it freed."""

    release: Release | None
    lock: Lock | None


class StateView(Protocol):
    """One consistent, read-only view of a state backend (one commit of the state branch),
    for readers that look at many stacks at once (the dashboard). `version` names what it
    shows (the branch's commit id, "" before the first write; None for a medium that cannot
    name it, such as a directory): two views with the same version hold the same files, so
    what is read from one may be cached under it. Each read costs one file, never history."""

    version: str | None

    def stacks(self) -> tuple[tuple[str, str], ...]:
        """Every (project, workspace) with a release index, sorted."""
        ...

    def stack_versions(self) -> Mapping[tuple[str, str], str] | None:
        """For every (project, workspace) of `stacks()`, a string that changes whenever its
        releases, lock or drift record do (on git: their object ids), so a reader re-reads
        only the stacks that changed; None when the medium cannot name versions."""
        ...

    def revisions(self, project: str, workspace: str) -> tuple[int, ...]:
        """The revisions the index lists, oldest first (the index is not parsed when it has
        Shipmate's canonical shape: `bot.core.release.peek_revisions`)."""
        ...

    def release(self, project: str, workspace: str, revision: int) -> Release | None: ...

    def lock(self, project: str, workspace: str) -> Lock | None:
        """The holder of the project+workspace's lock (expired ones included), or None."""
        ...

    def locks(self) -> tuple[Lock, ...]:
        """Every held lock (expired ones included), sorted by key."""
        ...

    def drift(self, project: str, workspace: str) -> Mapping[str, Any] | None:
        """The last drift check recorded for the project+workspace, or None."""
        ...

    def previews(self, pull_request: int) -> Mapping[str, Any] | None:
        """The pull request's latest preview as recorded (`StateBackend.write_previews`), or None."""
        ...


class StateBackend(Protocol):
    """Releases, their index and per project+workspace locks, with compare-and-swap writes.

    Every write is atomic (one commit on the state branch, or one locked transaction on a
    directory) and re-checked against the newest data when it is retried, so concurrent
    writers never lose or overwrite a revision. Reads never walk history. Writes that touch
    a release take the writer's `Lock` (or None when the writer holds none) and are refused
    with `StaleLock`/`LockHeld` (StateConflict) unless that lock is still the current one.
    """

    def latest(self, project: str, workspace: str) -> Release | None: ...

    def latest_many(self, keys: Sequence[tuple[str, str]]) -> Mapping[tuple[str, str], Release | None]:
        """The latest release of each (project, workspace), read from one snapshot (one fetch
        of a remote state branch for a whole run, not one per stack)."""
        ...

    def get(self, project: str, workspace: str, revision: int) -> Release | None: ...

    def list(self, project: str, workspace: str) -> tuple[Release, ...]:
        """Every release, oldest first (reads each one: for history views, not hot paths)."""
        ...

    def index(self, project: str, workspace: str) -> ReleaseMeta: ...

    def create(self, release: Release, lock: Lock | None = None) -> Release:
        """Record a new release as revision latest+1 (assigned atomically) and return it.

        Raises `ReleaseInProgress` while the latest release is not terminal.
        """
        ...

    def update(self, release: Release, lock: Lock | None = None) -> Release:
        """Overwrite a non-terminal release (a phase change or a state flush: one write)."""
        ...

    def finish(self, release: Release, lock: Lock | None) -> Release:
        """Write a release's terminal phase and free `lock`, in one write."""
        ...

    def acquire_lock(
        self,
        project: str,
        workspace: str,
        owner: str,
        lease_seconds: float,
        pull_request: int | None = None,
        run_id: str = "",
    ) -> Lock:
        """Take the lock with a new fencing token; `LockHeld` names a live other holder."""
        ...

    def renew_lock(self, lock: Lock, lease_seconds: float) -> Lock: ...

    def release_lock(self, lock: Lock) -> bool:
        """Free `lock` if it is still the current one; False when it no longer was."""
        ...

    def force_unlock(self, project: str, workspace: str, actor: str = "") -> Unlocked:
        """Mark a non-terminal latest release failed (keeping its state) and free the lock."""
        ...

    def list_locks(self) -> tuple[Lock, ...]:
        """Every held lock (expired ones included; check `Lock.expired`), sorted by key."""
        ...

    def release_pull_request_locks(self, pull_request: int) -> tuple[Lock, ...]:
        """Free every lock held for `pull_request` (on close or `/unlock`); returns them."""
        ...

    def sweep_expired_locks(self) -> tuple[Lock, ...]:
        """Free every lock whose lease has expired; returns them."""
        ...

    def write_drift(self, project: str, workspace: str, report: Mapping[str, Any]) -> None:
        """Record the last drift check at `drift/<project>/<workspace>.yaml`."""
        ...

    def queue(self, project: str, workspace: str) -> LockQueue:
        """The live line of pull requests waiting for project+workspace's lock."""
        ...

    def join_queue(self, project: str, workspace: str, entry: Waiting) -> int:
        """Put `entry` in the lock's line (a pull request waiting already keeps its place); its
        1-based position."""
        ...

    def leave_queues(self, pull_request: int, merges: bool = False) -> tuple[str, ...]:
        """Take `pull_request`'s `/apply` out of every line (with `merges`, the entry of its
        merge's apply too: `/unlock`); the `project/workspace` keys it left."""
        ...

    def next_in_queue(self, project: str, workspace: str) -> Waiting | None:
        """When the lock is free, the first live entry of its line, taken out of it."""
        ...

    def write_previews(self, pull_request: int, report: Mapping[str, Any]) -> None:
        """Record a pull request's latest preview, every stack of it in one write, at
        `previews/<pull request>.yaml`."""
        ...

    def view(self) -> StateView:
        """The newest files as one read-only `StateView` (one fetch of a remote branch)."""
        ...


# --- config repository files ----------------------------------------------------------------


class ConfigReader(Protocol):
    """Read access to a config repository's files (a checkout, or a git tree at a commit).

    Paths are POSIX and relative to the repository root. Hidden files and directories are
    never listed.
    """

    def read(self, path: str) -> str | None:
        """The text of a file, or None when there is no such file."""
        ...

    def list_files(self, directory: str, recursive: bool = False) -> list[str]:
        """Files directly in (or, recursively, below) a directory, sorted; [] when absent."""
        ...

    def is_dir(self, path: str) -> bool: ...


@dataclass(frozen=True)
class KclRender:
    """A KCL stack's raw render: the AppConfigurations as YAML text (schema instances carry
    `_type`), read like `main.yaml`, and where in the KCL sources each app is defined
    (`apps`: app name → (file, line, column)), to locate what is wrong with the render."""

    text: str
    apps: Mapping[str, tuple[str, int, int]]


class KclCompiler(Protocol):
    """Compiles a stack written in KCL (`main.k`, `kcl.mod`) to its raw render, as Kusion does.

    The stack's files, and the local packages its `kcl.mod` names, come from `reader`: a pull
    request's KCL is untrusted code.
    """

    def compile(self, reader: ConfigReader, stack_path: str) -> KclRender:
        """The render of the stack at `stack_path`; ConfigError (file, line, column) on bad input."""
        ...


class WriteLedger(Protocol):
    """Slots of a write budget in a sliding minute and hour, shared by whoever shares the
    ledger (every replica, on Redis): `bot.adapters.github.budget`."""

    def take(self, key: str, per_minute: int, per_hour: int, slack: float) -> float:
        """Take a slot of `key`'s budget and return 0, or return the seconds until one frees
        (nothing taken). A slot is used for its window plus `slack` seconds."""
        ...


class PolicySource(Protocol):
    """A policy file: its path in the config repository and its text
    (`bot.core.policy_code.PolicyFile`)."""

    @property
    def path(self) -> str: ...

    @property
    def text(self) -> str: ...


class PolicyEngine(Protocol):
    """Evaluates Rego policies (`bot.core.policy_code`) on one input document.

    Policies come from the trusted branch, the input from a pull request: the engine must not
    read files, the network or the environment on a policy's behalf.
    """

    def evaluate(
        self, files: Sequence[PolicySource], queries: Sequence[str], document: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Each query's value (a query no package defines is left out);
        `bot.core.policy_code.PolicyError` with the file and line when a file does not compile."""
        ...


class RepositoryBook(Protocol):
    """The repositories the bot has served, with the GitHub App installation each came from
    (None: the token's): the router records each event's repository, the scheduler's lock
    sweeps and drift checks go over them."""

    def remember(self, repo: str, installation_id: int | None) -> None: ...

    def repositories(self) -> dict[str, int | None]:
        """Repository → installation, sorted by repository."""
        ...


# --- the scheduled jobs' runs and memory, shared by the replicas ------------------------------


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a scheduled job, held under a lease: for `period` (the job's time slot,
    None for a run asked for outside the schedule), by `holder` (a replica). `token` is its
    fencing token: greater than that of every earlier run of the job, so what a run that was
    taken over (it stalled past its lease) still tries to write is refused."""

    job: str
    period: int | None
    holder: str
    token: int


class JobState(Protocol):
    """What the scheduled jobs share across the replicas that run them: which run of each job
    is current (a lease with a fencing token), which period was run last, and the small
    documents the jobs remember (`document` → key → JSON value, such as the poller's heads seen).

    - `begin` takes a job's run for `period`: None when that period (or a later one) already
      ran, or when another run of the job still holds a live lease (one run of a job at a
      time, across replicas). A run whose holder stopped renewing is taken over once its
      lease expired. `period` None always begins, fencing off any run in progress.
    - `renew` extends the lease; False when a newer run began (this one must stop).
    - `write` sets one key of a document only while the run is the job's newest (the fence);
      `finish` records its period as run and frees the lease (False when fenced off).
    """

    def begin(self, job: str, period: int | None, holder: str, lease_seconds: float) -> JobRun | None: ...

    def renew(self, run: JobRun, lease_seconds: float) -> bool: ...

    def finish(self, run: JobRun) -> bool: ...

    def read(self, document: str) -> dict[str, Any]:
        """The document's keys and values ({} when it was never written)."""
        ...

    def write(self, run: JobRun, document: str, key: str, value: Any) -> bool:
        """Set `key` of `document` to `value` (JSON); False, changing nothing, when fenced off."""
        ...
