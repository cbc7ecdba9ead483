"""The one composition root: everything the server, the CLI and the Action run, built from
one `Settings` (`bot.settings`, the only reader of the environment) and the process
environment the entry point passes in (only for the children's environment allowlist, the
runtime plug-ins' own variables and the masker's scan for secret-looking variables).

- `build_server(settings, env)`: `shipmate serve`'s `ServerParts` - the queue (`build_queue`),
  the bot, the job workers, the web app and the scheduler (`build_scheduler`); `bot.server`
  only runs them under gunicorn. The app carries the dashboard (`build_dashboard`: GitHub
  sign-in and the read model, `bot.web.register_dashboard`), or says why it is off.
- `build_book(settings)`, `build_job_state(settings, clock)`: the repositories served and the
  scheduled jobs' leases and memory, in Redis beside a Redis queue (shared by the replicas),
  else in the data directory.
- `build_cli(settings, env, backend, root=...)`: the stack commands' use cases.
- `build_bot(settings, env)`: the bot the server and the Action run - an `EventRouter`
  (`bot.app.router`) with the pull-request workflow installed (`bot.app.handlers`) over
  `Services` built here: a `GitHubHost` per credentials (the token's, or one per GitHub App
  installation), a git checkout cache and the state branch of each config repository (both
  under `SHIPMATE_DATA_DIR`) and the stack use cases (`build_stack_ops`: the runtimes of
  `build_runtime_factory`, the modules, the salt). The GitHub Action passes its inputs as
  `Overrides`; tests may hand the bot their own `Adapters` (code host, checkouts, state
  backends). Without GitHub credentials or adapters the router only logs pings.
  `build_handler(settings, env)` is its handler: the callable the worker pool gives each
  delivery.

`SHIPMATE_HANDLER=module:factory` replaces the whole handler: `factory(settings)` must
return a `handle(delivery) -> None` callable. It is the extension point for deployments that
process events their own way (and what the intake tests use to record deliveries).

The salt and the cache directory come from `settings.storage` like every other setting; the
runtime plug-ins get `settings.runtime_options()` (`settings.terraform`,
`settings.kubernetes`), never variables of their own from the environment.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.adapters import logmask
from bot.adapters.github.checks import CheckRunHost, CheckRunReporter
from bot.adapters.github.reporter import PullRequestReporter
from bot.adapters.github.webhooks import parse_event
from bot.adapters.localfs.datafiles import JsonRepositoryBook
from bot.adapters.localfs.jobstate import LocalJobState
from bot.adapters.queue import RetryPolicy
from bot.app.handlers import install
from bot.app.outcomes import Outcomes
from bot.app.router import EventRouter
from bot.app.services import Access, Services
from bot.app.stacks import RuntimeFactory, StackIdentity, StackOps
from bot.app.workers import Handler, WorkerPool
from bot.core import secrets
from bot.core.errors import ConfigError, Problem
from bot.core.events import PingEvent
from bot.core.mask import Masker
from bot.core.ports import (
    Clock,
    CodeHost,
    ConfigReader,
    EventQueue,
    JobState,
    PolicyEngine,
    RepositoryBook,
    Runtime,
    StateBackend,
    WriteLedger,
)
from bot.core.reporter import Reporter, Reporters
from bot.core.runtimes import ENTRY_POINT_GROUP as RUNTIME_GROUP
from bot.core.runtimes import (
    Capability,
    RuntimeLoadError,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
    StackRuntimes,
    checked_plugin,
)
from bot.metrics import ShipmateMetrics

if TYPE_CHECKING:
    from flask import Flask

    from bot.adapters.gitstate import StoreBackend
    from bot.web import DashboardOff, DashboardParts
from bot.scheduler import Scheduler
from bot.settings import ENVIRONMENT, Settings

__all__ = [
    "Adapters",
    "Bot",
    "Overrides",
    "ServerParts",
    "build_bot",
    "build_cli",
    "build_book",
    "build_handler",
    "build_job_state",
    "build_masker",
    "build_queue",
    "build_router",
    "build_runtime_factory",
    "build_scheduler",
    "build_dashboard",
    "build_server",
    "build_services",
    "build_stack_ops",
    "discover_runtimes",
    "load_handler",
]

log = logging.getLogger("shipmate.router")


def _log_ping(event: PingEvent) -> None:
    log.info("webhook %s is set up for %s: %s", event.hook_id, event.repo or "an organisation or App", event.zen)


@dataclass(frozen=True)
class Overrides:
    """What a caller decides over the settings and each repository's `shipmate.yaml` (the
    GitHub Action's inputs): `backend_branch`, the state branch of every repository;
    `concurrency`, Terraform's and Kubernetes' parallelism; `reporter`, told about every run
    beside the pull request (the Action's outputs and job summary)."""

    backend_branch: str | None = None
    concurrency: int | None = None
    reporter: Reporter | None = None


@dataclass(frozen=True)
class Adapters:
    """Adapters given to the bot instead of those its settings would build (in-memory ones in
    tests, another code host): `access_for(repo, installation)` gives a repository's code
    host, checkouts and state backends; `reader(checkout)` reads what those checkouts give
    (default: a directory). The bot handles pull requests with them even without GitHub
    credentials."""

    access_for: Callable[[str, int | None], Access]
    reader: Callable[[str], ConfigReader] | None = None


@dataclass
class Bot:
    """The assembled bot: the handler the workers call, and (with GitHub credentials) the
    services and repository book the scheduler shares."""

    handler: Handler
    services: Services | None = None
    book: RepositoryBook | None = None


def build_bot(
    settings: Settings,
    env: Mapping[str, str],
    *,
    overrides: Overrides | None = None,
    adapters: Adapters | None = None,
    metrics: ShipmateMetrics | None = None,
) -> Bot:
    """`SHIPMATE_HANDLER`'s handler, or Shipmate's router with the pull-request workflow
    (with `overrides` of the settings, see `Overrides`; over given `adapters`, else GitHub's);
    with `metrics`, what it runs and the GitHub and state-branch calls it makes are counted there."""
    environ = dict(env)
    masker = build_masker(settings, environ)
    if settings.queue.handler:
        return Bot(load_handler(settings.queue.handler, settings))
    if settings.github.auth is None and adapters is None:
        router = EventRouter(legacy=parse_event)
        router.on(PingEvent, _log_ping)
        log.warning("no GitHub credentials (GITHUB_TOKEN or a GitHub App): pull requests, comments "
                    "and pushes are not handled")
        return Bot(router)
    book = build_book(settings)
    router = EventRouter(legacy=parse_event, book=book)  # the router records each event's repository
    router.on(PingEvent, _log_ping)
    outcomes = Outcomes(router, build_services(settings, environ, masker=masker, overrides=overrides,
                                                 adapters=adapters, metrics=metrics))
    services = outcomes.services  # their accesses record the statuses set, for the outcome of each job
    install(router, services, policy_branch=settings.bot.policy_branch)
    return Bot(outcomes, services, book)  # errors and final statuses on the PR


def build_router(settings: Settings, env: Mapping[str, str]) -> EventRouter:
    """The router with every handler Shipmate has (only pings without GitHub credentials)."""
    handler = build_bot(replace(settings, queue=replace(settings.queue, handler=None)), env).handler
    if isinstance(handler, Outcomes):
        handler = handler.router
    assert isinstance(handler, EventRouter)
    return handler


def build_handler(settings: Settings, env: Mapping[str, str]) -> Handler:
    """The handler the workers call: `SHIPMATE_HANDLER`'s factory, or Shipmate's router."""
    return build_bot(settings, env).handler


def build_scheduler(settings: Settings, bot: Bot, queue: EventQueue, notify: Callable[[], None]) -> Scheduler | None:
    """The scheduler's jobs over the bot's services; None when the bot has none."""
    if bot.services is None or bot.book is None:
        return None
    polled = []
    for repo in settings.poll.repositories:
        if settings.bot.repository_allowed(repo):
            polled.append(repo)
        else:
            log.warning("SHIPMATE_POLL_REPOSITORIES: %s is outside SHIPMATE_REPOSITORIES; not polled", repo)
    return Scheduler(
        bot.services, queue, build_job_state(settings, bot.services.clock), bot.book, notify=notify,
        poll_repositories=polled, poll_seconds=settings.poll.seconds, lease_seconds=settings.queue.lease_seconds,
    )


def _shares_redis(settings: Settings) -> bool:
    return settings.queue.url != "sqlite"


def build_book(settings: Settings) -> RepositoryBook:
    """The repositories the bot has served: in Redis beside a Redis queue (every replica's
    router writes it, every scheduler reads it), else `repositories.json` in the data dir."""
    if _shares_redis(settings):
        from bot.adapters.queue.redis_jobs import RedisRepositoryBook, connect

        book = RedisRepositoryBook(connect(settings.queue.url))
        for repo, installation in JsonRepositoryBook(settings.storage.data_dir).repositories().items():
            book.remember(repo, installation)  # what this replica served before the book moved to Redis
        return book
    return JsonRepositoryBook(settings.storage.data_dir)


def build_job_state(settings: Settings, clock: Clock) -> JobState:
    """The scheduled jobs' leases and memory: in Redis beside a Redis queue, shared by the
    replicas (each job runs once per period across them), else in the data dir."""
    if _shares_redis(settings):
        from bot.adapters.queue.redis_jobs import RedisJobState, connect

        return RedisJobState(connect(settings.queue.url), clock=clock)
    return LocalJobState(settings.storage.data_dir, clock)


# --- the server ---------------------------------------------------------------------------


@dataclass
class ServerParts:
    """The queue, the job workers, the scheduler and the web app of one serving process,
    however it is served (`bot.server` runs them under gunicorn, `bot.cli.serve.build_server`
    behind Werkzeug for the sandbox and in-process tests)."""

    settings: Settings
    queue: EventQueue
    pool: WorkerPool
    metrics: ShipmateMetrics
    app: Flask
    scheduler: Scheduler | None = None
    bot: Bot | None = None

    def start(self) -> None:
        self.pool.start()
        if self.scheduler is not None:
            self.scheduler.start()

    def stop(self, timeout: float) -> bool:
        """Stop scheduling and claiming, wait up to `timeout` seconds for running jobs; True
        when every job finished (then the queue is closed). A job still running keeps its
        lease and runs again after it expires."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        stopped = self.pool.stop(timeout=max(0.0, timeout))
        if stopped:
            self.queue.close()
        return stopped


def build_server(settings: Settings, env: Mapping[str, str], *, scheduler: bool = True) -> ServerParts:
    """Queue, bot, job workers, web app and (unless `scheduler` is False) the scheduler's
    jobs of `shipmate serve`; `env` is the process environment the entry point read
    `settings` from (the runtimes' children start from it, the masker scans it)."""
    from bot.adapters.clock import SystemClock
    from bot.web import create_app, register_dashboard

    settings.require_webhook_secret()
    queue = build_queue(settings)
    metrics = ShipmateMetrics()
    metrics.watch_process()
    bot = build_bot(settings, env, metrics=metrics)
    metrics.watch_queue(lambda: asdict(queue.stats()))
    pool = WorkerPool(
        queue, bot.handler, workers=settings.queue.workers, lease_seconds=settings.queue.lease_seconds,
        metrics=metrics, clock=SystemClock(),
    )
    app = create_app(settings, queue, metrics, on_enqueued=pool.notify, ready_checks=[("workers", pool.alive)])
    register_dashboard(app, build_dashboard(settings, bot, queue))
    jobs = build_scheduler(settings, bot, queue, pool.notify) if scheduler else None
    return ServerParts(settings, queue, pool, metrics, app, jobs, bot)


def build_dashboard(settings: Settings, bot: Bot, queue: EventQueue) -> DashboardParts | DashboardOff:
    """The dashboard over the bot's services: GitHub sign-in with the OAuth App of
    `settings.dashboard` and the read model; off without those settings or GitHub credentials."""
    from bot.adapters.github.oauth import GitHubSignIn
    from bot.app.dashboard import Dashboard
    from bot.web import DashboardOff, DashboardParts

    dashboard = settings.dashboard
    if not dashboard.enabled or not dashboard.client_id or not dashboard.client_secret:
        return DashboardOff("the dashboard is off: set SHIPMATE_OAUTH_CLIENT_ID, SHIPMATE_OAUTH_CLIENT_SECRET "
                            "and SHIPMATE_SESSION_SECRET to serve it")
    if bot.services is None or bot.book is None:
        return DashboardOff("the dashboard is off: it reads the repositories with the bot's GitHub credentials "
                            "(GITHUB_TOKEN or a GitHub App), and none are set")
    sign_in = GitHubSignIn(settings.github.api_url, dashboard.client_id, dashboard.client_secret, dashboard.scopes)
    return DashboardParts(dashboard, sign_in, Dashboard(bot.services, bot.book, queue))


# --- the stack commands -------------------------------------------------------------------


def build_cli(
    settings: Settings,
    env: Mapping[str, str],
    backend: StateBackend,
    *,
    root: Path,
    concurrency: int,
    watch: bool = True,
    timeout: float | None = None,
    ignore_fields: tuple[str, ...] = (),
) -> StackOps:
    """The stack use cases of `shipmate preview`, `apply`, `destroy` and `release rollback`
    over `backend`: the runtimes under the user's cache directory (`settings.storage`) with
    the workspaces' relative paths taken from the config repository at `root`, Shipmate's
    secrets masked in everything printed, and the command's options (`concurrency`
    operations at once, readiness `watch`, `timeout` seconds, `ignore_fields`)."""
    stack_ops = build_stack_ops(settings, env, masker=build_masker(settings, env), server=False,
                                concurrency=concurrency, base_dir=root)
    return replace(stack_ops(backend), watch=watch, timeout_seconds=timeout, ignore_fields=ignore_fields)


# --- secrets ------------------------------------------------------------------------------

# Environment variables holding Shipmate's own secrets besides its settings (the salt, a
# GitHub Actions runtime token, ...); `_PATH`/`_FILE` variables name files, not secrets.
_SECRET_VARIABLE = re.compile(r"^(SHIPMATE|GITHUB|ACTIONS)_\w*(SECRET|TOKEN|PASSWORD|PRIVATE_KEY|SALT)\w*$")
_NOT_A_SECRET = re.compile(r"_(PATH|FILE|URL)$")


def build_masker(settings: Settings, env: Mapping[str, str]) -> Masker:
    """Shipmate's own secrets — the secret settings, `SHIPMATE_SECRET_SALT` and any other
    `SHIPMATE_*`/`GITHUB_*`/`ACTIONS_*` variable named like a secret — in a `Masker` that
    every comment, status, commit message and log record of the process goes through (the
    stacks' secrets are added as they are loaded). Installed for log records here."""
    own = [*settings.secret_values]
    own.extend(v for k, v in env.items() if v and _SECRET_VARIABLE.match(k) and not _NOT_A_SECRET.search(k))
    lossless = [p.type for p in discover_runtimes() if Capability.RECORDED_STATE in p.capabilities]
    masker = Masker(own=own, lossless=lossless)
    logmask.install(masker)
    return masker


# --- GitHub, checkouts, state branches ------------------------------------------------------


def build_services(
    settings: Settings,
    env: Mapping[str, str],
    *,
    masker: Masker | None = None,
    overrides: Overrides | None = None,
    adapters: Adapters | None = None,
    metrics: ShipmateMetrics | None = None,
) -> Services:
    """The bot's `Services` for settings with GitHub credentials; `masker` (default: built
    from `settings` and `env`) is shared by the hosts, state backends and stack use cases.
    `env`, the process environment, is the parent of git's and the runtimes' children's
    environment (`bot.core.childenv`'s allowlist of it)."""
    overrides = overrides or Overrides()
    masker = masker if masker is not None else build_masker(settings, env)
    from bot.adapters.gitstate import SystemClock
    from bot.adapters.localfs import LocalConfigReader

    accesses = _Accesses(settings, masker, env, metrics).get if adapters is None else adapters.access_for
    stack_ops = build_stack_ops(settings, env, masker=masker, server=True, metrics=metrics)
    services = Services(
        access_for=accesses if overrides.backend_branch is None else _on_branch(accesses, overrides.backend_branch),
        reader=adapters.reader if adapters and adapters.reader else lambda directory: LocalConfigReader(Path(directory)),
        stack_ops=stack_ops,
        clock=SystemClock(),
        concurrency=overrides.concurrency,
        policy_branch=settings.bot.policy_branch,
        stack_concurrency=settings.bot.stack_concurrency,
        policy_engine=_policy_engine(),
    )
    extra = overrides.reporter
    delay = settings.github.pending_delay

    app = settings.github.app_id is not None

    def reporter_for(host: CodeHost) -> Reporter:
        told: Reporter = PullRequestReporter(host, pending_delay=delay)
        if app and isinstance(host, CheckRunHost):  # an App's installation: check runs per stack too
            told = Reporters(told, CheckRunReporter(host))
        return told if extra is None else Reporters(told, extra)

    return replace(services, reporter_for=reporter_for)


def _policy_engine() -> PolicyEngine:
    """Evaluates the repositories' Rego policies (regopy, in process)."""
    from bot.adapters.rego import RegoEngine

    return RegoEngine()


def build_stack_ops(
    settings: Settings,
    env: Mapping[str, str],
    *,
    masker: Masker,
    server: bool,
    concurrency: int = 10,
    base_dir: Path | None = None,
    metrics: ShipmateMetrics | None = None,
) -> Callable[[StateBackend], StackOps]:
    """The stack use cases over a state backend, for the bot (`server`) and the stack
    commands alike: the runtimes of the `shipmate.runtimes` plug-ins under the settings' cache
    directory (the bot's runtimes also keep their scratch files there), the modules, the salt
    and `masker`. `concurrency` and `base_dir` are the runtimes' (the CLI's stack directory)."""
    from bot.adapters.gitstate import SystemClock
    from bot.adapters.kcl import LocalKclCompiler
    from bot.app.configrepo import default_registry

    cache = settings.storage.cache_root(server=server)
    runtimes = build_runtime_factory(settings, env, cache_dir=cache, concurrency=concurrency, base_dir=base_dir,
                                     scratch_dir=cache if server else None, masker=masker)
    clock = SystemClock()
    registry = default_registry()

    def stack_ops(backend: StateBackend) -> StackOps:
        return StackOps(backend=backend, runtimes=runtimes, clock=clock, registry=registry,
                        secret_salt=settings.storage.secret_salt, masker=masker, concurrency=concurrency,
                        metrics=metrics, kcl=LocalKclCompiler())
    return stack_ops


def _on_branch(access_for: Callable[[str, int | None], Access], branch: str) -> Callable[[str, int | None], Access]:
    """Accesses whose state backends are on `branch`, whatever `shipmate.yaml` names."""

    def access(repo: str, installation: int | None) -> Access:
        found = access_for(repo, installation)
        backends = found.backends

        def on_branch(r: str, _named: str) -> StateBackend:
            return backends(r, branch)
        return replace(found, backends=on_branch)
    return access


class _Accesses:
    """One `Access` per credentials: the token's, or each GitHub App installation's."""

    def __init__(
        self, settings: Settings, masker: Masker, env: Mapping[str, str], metrics: ShipmateMetrics | None = None
    ) -> None:
        self.settings = settings
        self.masker = masker
        self.metrics = metrics
        self.env = env  # the parent of git's environment allowlist
        self._lock = threading.Lock()
        self._accesses: dict[int | None, Access] = {}
        self._installations: dict[str, int] = {}
        self._login: str | None = None
        self._backends: dict[tuple[str, str], tuple[str, StoreBackend]] = {}

    def get(self, repo: str, installation_id: int | None) -> Access:
        key = None if self.settings.github.auth == "token" else (installation_id or self._installation_of(repo))
        with self._lock:
            access = self._accesses.get(key)
        if access is None:
            built = self._build(key)
            with self._lock:
                access = self._accesses.setdefault(key, built)
        return access

    def _integration(self) -> Any:
        from github import Auth, GithubIntegration

        github = self.settings.github
        app_id, key = github.app_id, github.app_private_key
        assert app_id is not None and key is not None
        return GithubIntegration(auth=Auth.AppAuth(app_id, key), base_url=github.api_url)

    def _installation_of(self, repo: str) -> int:
        """The App's installation on `repo` (scheduled jobs have no event naming it)."""
        with self._lock:
            known = self._installations.get(repo)
        if known is not None:
            return known
        owner, _, name = repo.partition("/")
        installation = int(self._integration().get_repo_installation(owner, name).id)
        with self._lock:
            self._installations[repo] = installation
        return installation

    def _app_login(self) -> str:
        """`<slug>[bot]`: an installation token cannot read `/user`, the App's JWT reads its slug."""
        with self._lock:
            login = self._login
        if login is None:
            login = f"{self._integration().get_app().slug}[bot]"
            with self._lock:
                self._login = login
        return login

    def _write_ledger(self) -> WriteLedger | None:
        """The write budget's slots: the fleet's beside a Redis queue (GitHub counts per
        installation, not per replica), else this process's (None)."""
        if not _shares_redis(self.settings):
            return None
        from bot.adapters.queue.redis_jobs import connect
        from bot.adapters.queue.redis_ledger import RedisWriteLedger

        return RedisWriteLedger(connect(self.settings.queue.url))

    def _build(self, installation_id: int | None) -> Access:
        from bot.adapters.github.budget import WriteBudget
        from bot.adapters.github.checkout import GitCheckouts
        from bot.adapters.github.host import Credentials, GitHubHost

        github, data_dir = self.settings.github, self.settings.storage.data_dir
        if github.auth == "token":
            credentials = Credentials(api_url=github.api_url, token=github.token)
        else:
            credentials = Credentials(api_url=github.api_url, app_id=str(github.app_id),
                                      private_key=github.app_private_key, installation_id=installation_id,
                                      bot_login=self._app_login())
        budget = WriteBudget(github.writes_per_minute, github.writes_per_hour, metrics=self.metrics,
                             ledger=self._write_ledger(), key=str(installation_id or "token"))
        host = GitHubHost(credentials, throttle=github.throttle, masker=self.masker, metrics=self.metrics,
                          budget=budget)
        checkouts = GitCheckouts(data_dir / "checkouts", host.clone_url, environ=self.env)

        def backends(repo: str, branch: str) -> StateBackend:
            from bot.adapters.gitstate import git_backend, redact

            url = host.clone_url(repo)  # carries the current token (an App's changes hourly)
            key = (redact(url), branch)
            with self._lock:
                known = self._backends.get(key)
                if known is not None and known[0] == url:
                    return known[1]
                # A renewed token replaces the backend; the old one may still be in use by
                # a running job, so it is left to the garbage collector, not closed here.
                backend = git_backend(url, branch, data_dir=data_dir, masker=self.masker, metrics=self.metrics)
                self._backends[key] = (url, backend)
                return backend

        return Access(host, checkouts, backends)


def load_handler(spec: str, settings: Settings) -> Handler:
    """Import `module:factory` and return `factory(settings)`."""

    def problem(message: str) -> ConfigError:
        return ConfigError([Problem(ENVIRONMENT, 0, 0, "SHIPMATE_HANDLER", message)])

    module_name, _, factory_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise problem(f"cannot import {module_name}: {exc}") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise problem(f"{spec} is not a callable factory")
    try:
        handler: Handler = factory(settings)
    except Exception as exc:
        raise problem(f"{spec}(settings) failed: {type(exc).__name__}: {exc}") from exc
    if not callable(handler):
        raise problem(f"{spec}(settings) did not return a callable")
    return handler


def build_queue(settings: Settings) -> EventQueue:
    """SQLite in the data directory, or Redis for `redis://`, `rediss://` and `unix://` URLs."""
    retry = RetryPolicy(max_attempts=settings.queue.max_attempts)
    if settings.queue.url == "sqlite":
        from bot.adapters.queue.sqlite import SqliteQueue

        return SqliteQueue.in_data_dir(settings.storage.data_dir, retry=retry)
    try:
        from bot.adapters.queue.redis import RedisQueue
    except ImportError:
        raise ConfigError([Problem(ENVIRONMENT, 0, 0, "SHIPMATE_QUEUE",
                                   "a Redis queue needs the redis package: pip install 'shipmate[redis]'")]) from None
    return RedisQueue.from_url(settings.queue.url, retry=retry)


# --- runtimes -----------------------------------------------------------------------------


def discover_runtimes(group: str = RUNTIME_GROUP) -> tuple[RuntimePlugin, ...]:
    """Every runtime plug-in the installed packages declare under `group` (Shipmate's own
    Kubernetes and Terraform are found there too), sorted by resource type. A broken one, or
    two packages serving one type, is a `RuntimeLoadError` naming the entry point."""
    found: dict[str, tuple[RuntimePlugin, str]] = {}
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
        try:
            plugin = checked_plugin(ep.name, ep.load())
        except Exception as exc:
            raise RuntimeLoadError(
                f"runtime entry point {ep.name!r} ({ep.value}) in group {group} cannot be used: {exc}"
            ) from None
        if ep.name in found and found[ep.name][1] != ep.value:
            raise RuntimeLoadError(
                f"runtime entry points {found[ep.name][1]} and {ep.value} in group {group} both serve {ep.name!r}"
            )
        found[ep.name] = (plugin, ep.value)
    return tuple(found[t][0] for t in sorted(found))


def build_runtime_factory(
    settings: Settings,
    env: Mapping[str, str],
    *,
    cache_dir: Path,
    concurrency: int = 10,
    base_dir: Path | None = None,
    scratch_dir: Path | None = None,
    masker: Masker | None = None,
) -> RuntimeFactory:
    """The runtimes of a stack, from the plug-ins of the `shipmate.runtimes` entry-point group:
    each is configured here once (`RuntimeSettings`: a bad setting fails now) and built for a
    stack the first time the stack needs a resource of its type. Built runtimes are reused for
    the same stack and context.

    With `scratch_dir` (a long-running bot) each runtime of a stack gets
    `<scratch_dir>/<type>/<project>/<stack>/<workspace>-<context hash>` (the Kubernetes
    runtime's discovery cache and kubeconfig certificates); without it, temporary directories.
    Each plug-in is handed the groups of `settings` meant for the runtimes
    (`Settings.runtime_options`: `terraform`, `kubernetes`) and `env`, the parent environment
    its children's environment starts from (`bot.core.childenv`). A stack's workspace secret
    store gives its runtimes `RuntimeTarget.resolve_secret`; every value resolved through it
    joins `masker`."""
    given = RuntimeSettings(env=env, cache_dir=cache_dir, concurrency=concurrency, base_dir=base_dir,
                            scratch_dir=scratch_dir, options=settings.runtime_options())
    plugins = discover_runtimes()
    builders = {p.type: p.configure(given) for p in plugins}
    capabilities = {p.type: p.capabilities for p in plugins}
    cache: dict[tuple[str, str, str, str], StackRuntimes] = {}
    guard = threading.Lock()

    def factory(identity: StackIdentity, context: Mapping[str, object],
                secret_store: Mapping[str, Any] | None = None, /) -> StackRuntimes:
        context_json = json.dumps(context, sort_keys=True, default=str)
        key = (identity.project, identity.stack, identity.workspace,
               context_json + json.dumps(secret_store, sort_keys=True, default=str))
        digest = hashlib.sha256(context_json.encode()).hexdigest()[:12]
        learn = (lambda value: masker.add([value])) if masker is not None else (lambda _value: None)
        resolve_secret = secrets.resolver(secret_store, learn) if secret_store else None

        def target(rtype: str) -> RuntimeTarget:
            scratch = None if scratch_dir is None else (
                scratch_dir / rtype.lower() / identity.project / identity.stack / f"{identity.workspace}-{digest}"
            )
            return RuntimeTarget(identity.project, identity.stack, identity.workspace, context, scratch,
                                 resolve_secret)

        def build(rtype: str) -> Callable[[], Runtime]:
            return lambda: builders[rtype](target(rtype))

        with guard:
            if key not in cache:
                cache[key] = StackRuntimes({t: build(t) for t in builders}, capabilities)
            return cache[key]

    return factory
