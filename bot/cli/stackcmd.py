"""What `shipmate preview`, `apply` and `destroy` share: finding the stack, the backend and the
runtimes, printing progress, asking for confirmation, and handling Ctrl-C / SIGTERM.

The stack directory (`-w`, default: the current directory) is read from disk; the state
backend defaults to the state branch of the git repository that holds it (see
`shipmate release --help`). Terraform working directories and discovery caches live under
`SHIPMATE_CACHE_DIR` (default `$XDG_CACHE_HOME/shipmate`, else `~/.cache/shipmate`; `bot.settings`).
"""

from __future__ import annotations

import getpass
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol, TextIO

import git

from bot.adapters.gitstate import StoreBackend, SystemClock, git_backend, open_backend, redact
from bot.adapters.localfs import LocalConfigReader, find_repo_root
from bot.app import builder
from bot.app.locking import cli_owner
from bot.app.runner import StackRunner
from bot.app.services import Tree
from bot.app.stacks import LoadedStack, RunOptions, StackOps
from bot.cli import environment
from bot.cli.progress import Progress
from bot.cli.reporter import JsonReporter, TerminalReporter, Verb, show_preview
from bot.cli.style import PLAIN, Style
from bot.core.affected import StackRef
from bot.core.config.settings import SETTINGS_FILE, RepoSettings, parse_settings
from bot.core.errors import ConfigError, Problem
from bot.core.outcome import RunResult
from bot.core.preview.model import ChangeSet
from bot.core.reporter import Reporter
from bot.core.runplan import Operation, Provenance, RunPlan
from bot.wiring import build_cli

__all__ = ["Show", "Verb", "Where", "operate", "plan_for", "show_preview"]


class StackDir(Protocol):
    """Where a stack command works: the stack directory and the state backend it was given."""

    @property
    def workdir(self) -> str: ...

    @property
    def backend(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Where:
    """The stack options of a command line: `-w`, `--backend`, `--ignore-fields`."""

    workdir: str = "."
    backend: str | None = None
    ignore_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Show:
    """How a stack command prints: its style, `--detail`, and `-o json` (stdout holds one JSON
    document; the preview and the question go to stderr)."""

    style: Style = PLAIN
    detail: bool = True
    json: bool = False
    err: TextIO | None = field(default=None, compare=False)

    @property
    def preview_out(self) -> TextIO:
        return (self.err or sys.stderr) if self.json else sys.stdout


@dataclass
class Context:
    root: Path
    stack_path: str
    reader: LocalConfigReader
    settings: RepoSettings
    backend: StoreBackend
    ops: StackOps


def open_context(
    args: StackDir, *, watch: bool = True, concurrency: int | None = None,
    timeout: float | None = None,
) -> Context:
    stack_dir = Path(args.workdir)
    if not stack_dir.is_dir():
        raise ConfigError([Problem(str(stack_dir), 0, 0, "", "no such directory")])
    root = find_repo_root(stack_dir)
    rel = stack_dir.resolve().relative_to(root).as_posix()
    reader = LocalConfigReader(root)
    settings = parse_settings(SETTINGS_FILE, reader.read(SETTINGS_FILE))
    clock = SystemClock()
    if args.backend:
        backend = open_backend(args.backend, clock=clock, default_branch=settings.backend.branch)
    else:
        backend = git_backend(default_repo(root, stack_dir), settings.backend.branch, clock=clock)
    given = environment.read()  # Shipmate's own settings: cache, salt, the runtimes'
    ops = build_cli(given.settings, given.env, backend, root=root, concurrency=concurrency or settings.concurrency,
                    watch=watch, timeout=timeout, ignore_fields=tuple(getattr(args, "ignore_fields", ()) or ()))
    return Context(root, "" if rel == "." else rel, reader, settings, backend, ops)


def load(ctx: Context, workspace: str | None = None) -> LoadedStack:
    """The stack of the context, generated; `workspace` (`--workspace`, Kusion's flag) must be
    the one its stack.yaml names."""
    loaded = ctx.ops.load(ctx.reader, ctx.stack_path)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if workspace is not None and workspace != loaded.identity.workspace:
        ident = loaded.identity
        raise ConfigError([Problem("--workspace", 0, 0, "", f"stack {ident.project}/{ident.stack} runs in "
                                   f"workspace {ident.workspace!r}, not {workspace!r} (its stack.yaml "
                                   "names the workspace)")])
    return loaded


def stack_ref(loaded: LoadedStack) -> StackRef:
    ident = loaded.identity
    return StackRef(ident.path, ident.project, ident.stack, ident.workspace)


def user() -> str:
    """Who runs the command (recorded as the release's actor)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def owner() -> str:
    """The lock owner of this run: user, host and process."""
    return cli_owner(user())


def confirm_yes(show: Show = Show()) -> Callable[[ChangeSet], bool]:
    """`--yes`: show the preview and go ahead."""

    def go(changeset: ChangeSet) -> bool:
        show_preview(changeset, show.preview_out, color=show.style.color and not show.json, detail=show.detail)
        return True

    return go


def confirm_on_terminal(verb: str, show: Show = Show()) -> Callable[[ChangeSet], bool]:
    """Show the preview and ask; refuse to proceed without a terminal to ask on."""

    def ask(changeset: ChangeSet) -> bool:
        out = show.preview_out
        show_preview(changeset, out, color=show.style.color and not show.json, detail=show.detail)
        if not changeset.has_changes:
            return True
        if not sys.stdin.isatty():
            raise ConfigError([Problem("", 0, 0, "--yes", f"refusing to {verb} without confirmation: "
                                       "there is no terminal to ask on; pass --yes")])
        out.write(f"Do you want to {verb} these changes? [y/N] ")
        out.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    return ask


class Interrupts:
    """Ctrl-C and SIGTERM during a stack operation (`cancellable`).

    Before anything runs (while previewing or asking) a Ctrl-C interrupts at once: nothing was
    recorded. Once the operations run, the first signal sets `cancel`: operations in flight
    finish, the rest are skipped, and the release is recorded as interrupted; a second Ctrl-C
    interrupts at once. `exit_code` is then 128 + the signal (130 for Ctrl-C)."""

    def __init__(self, err: TextIO | None = None) -> None:
        self.cancel = threading.Event()
        self.running = False
        self.signal = 0
        self.err = err
        self.say: Callable[[str], None] = self._write

    def _write(self, text: str) -> None:
        err = self.err or sys.stderr
        err.write(text + "\n")
        err.flush()

    @property
    def exit_code(self) -> int:
        return 128 + self.signal if self.signal else 0

    def armed(self, confirm: Callable[[ChangeSet], bool]) -> Callable[[ChangeSet], bool]:
        """`confirm`, after which a signal stops the run instead of interrupting it."""

        def go(changeset: ChangeSet) -> bool:
            answer = confirm(changeset)
            self.running = answer
            return answer

        return go

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.running or (self.cancel.is_set() and signum == signal.SIGINT):
            raise KeyboardInterrupt
        if self.cancel.is_set():
            return
        self.signal = signum
        self.cancel.set()
        self.say("\nstopping: operations in flight will finish and be recorded (Ctrl-C again to abort at once)")


@contextmanager
def cancellable(err: TextIO | None = None) -> Iterator[Interrupts]:
    """`Interrupts` handling SIGINT and SIGTERM for the duration (on the main thread)."""
    interrupts = Interrupts(err)
    signals = (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.getsignal(sig) for sig in signals} if main else {}
    for sig in previous:
        signal.signal(sig, interrupts.handle)
    try:
        yield interrupts
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def operate(ctx: Context, plan: RunPlan, verb: Verb, *, dry_run: bool, yes: bool,
            loaded: tuple[LoadedStack, ...] = (), trusted: RepoSettings | None = None,
            show: Show = Show()) -> int:
    """The CLI's one way to run a stack operation, through the `StackRunner` like every entry
    point: a dry run only shows the preview; otherwise confirm (unless `yes`), show progress,
    stop cleanly on Ctrl-C, and report the release (`bot.cli.reporter`). `loaded`: the stack,
    already loaded to name it. Exit 0 when it succeeded, 1 when it failed or was declined,
    130 when Ctrl-C stopped it (143 for SIGTERM), the release recorded as interrupted."""
    reporter: Reporter = (JsonReporter(verb, dry_run=dry_run) if show.json else
                          TerminalReporter(verb, dry_run=dry_run, color=show.style.color, detail=show.detail))
    tree = Tree("", head_commit(ctx.root), ctx.reader)

    def runner(told: Reporter) -> StackRunner:
        return StackRunner(ctx.ops, tree, trusted or ctx.settings, told, contain=False, loaded=loaded)

    if dry_run:
        runner(reporter).run(plan, RunOptions(dry_run=True))
        return 0
    confirm = confirm_yes(show) if yes else confirm_on_terminal(verb.prompt, show)
    with cancellable(show.err) as interrupts, Progress(verb.name, show.style, show.err) as progress:
        interrupts.say = progress.note
        options = RunOptions(confirm=interrupts.armed(progress.watching(confirm)), on_event=progress,
                             cancel=interrupts.cancel)
        result = runner(AfterProgress(progress, reporter)).run(plan, options)
    if interrupts.exit_code:
        return interrupts.exit_code
    return 0 if all(s.ok and not s.declined for s in result.stacks) else 1


class AfterProgress(Reporter):
    """`reporter`, told that a run ended once the progress display has ended (the two share
    the terminal)."""

    def __init__(self, progress: Progress, reporter: Reporter) -> None:
        self.progress = progress
        self.reporter = reporter

    def started(self, plan: RunPlan) -> None:
        self.reporter.started(plan)

    def finished(self, plan: RunPlan, result: RunResult) -> None:
        self.progress.close()
        self.reporter.finished(plan, result)


def plan_for(operation: Operation, ref: StackRef, provenance: Provenance, *, revision: int | None = None) -> RunPlan:
    """The plan of one command on one stack, under this process's lock owner."""
    return builder.stacks(operation, [ref], provenance, owner(), revision=revision)


def default_repo(root: Path, stack_dir: Path) -> str:
    """The `origin` URL of the repository holding the stack, else that repository's path."""
    try:
        repo = git.Repo(stack_dir, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise ConfigError([Problem(str(root), 0, 0, "", "not inside a git repository: pass "
                                   "--backend git:<repo> or --backend local:<dir>")]) from None
    with repo:
        try:
            url = str(repo.remotes.origin.url)
        except (AttributeError, IndexError, ValueError):
            return str(repo.working_tree_dir or repo.git_dir)
        if "://" in url or "@" in url.split("/", 1)[0]:
            return url
        path = Path(url).expanduser()
        base = Path(repo.working_tree_dir or repo.git_dir)
        resolved = path if path.is_absolute() else (base / path).resolve()
        if not resolved.exists():
            raise ConfigError([Problem(str(base), 0, 0, "remote.origin.url",
                                       f"{redact(url)} does not exist")])
        return str(resolved)


def head_commit(root: Path) -> str:
    """The commit checked out in the repository holding `root` ("" outside git)."""
    try:
        with git.Repo(root, search_parent_directories=True) as repo:
            return str(repo.head.commit.hexsha)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return ""
