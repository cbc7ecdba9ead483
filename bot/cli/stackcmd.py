"""What `shipmate preview`, `apply` and `destroy` share: finding the stack, the backend and the
runtimes, printing progress, asking for confirmation, and handling Ctrl-C / SIGTERM.

The stack directory (`-w`, default: the current directory) is read from disk; the state
backend defaults to the state branch of the git repository that holds it (see
`shipmate release --help`). Terraform working directories and discovery caches live under
`SHIPMATE_CACHE_DIR` (default `$XDG_CACHE_HOME/shipmate`, else `~/.cache/shipmate`; `bot.settings`).
"""

from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

import git

from bot.adapters.gitstate import StoreBackend, SystemClock, git_backend, open_backend, redact
from bot.adapters.localfs import LocalConfigReader, find_repo_root
from bot.app import builder, executor
from bot.app.locking import cli_owner
from bot.app.runner import StackRunner
from bot.app.services import Tree
from bot.app.stacks import LoadedStack, RunOptions, StackOps
from bot.cli.reporter import TerminalReporter, Verb, show_preview

__all__ = ["Verb", "operate", "plan_for", "show_preview"]
from bot.cli import environment
from bot.core.affected import StackRef
from bot.core.config.settings import SETTINGS_FILE, RepoSettings, parse_settings
from bot.core.errors import ConfigError, Problem
from bot.core.preview.model import ChangeSet
from bot.core.runplan import Operation, Provenance, RunPlan
from bot.wiring import build_cli


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--workdir", default=".", metavar="STACK_DIR",
                        help="the stack directory (holding stack.yaml); default: the current directory")
    parser.add_argument("--backend", metavar="SPEC",
                        help="git:<path-or-url>[#branch] or local:<dir>; default: the state branch "
                        "of the repository holding the stack")
    parser.add_argument("--ignore-fields", nargs="+", default=[], metavar="PATH",
                        help="dotted paths to leave out of the comparison (e.g. metadata.annotations)")


def add_apply_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-y", "--yes", action="store_true", help="apply without asking for confirmation")
    parser.add_argument("--dry-run", action="store_true", help="preview only; write nothing")
    parser.add_argument("--timeout", type=float, metavar="S", help="fail the release after S seconds")
    parser.add_argument("--concurrency", type=int, metavar="N",
                        help="operations at once (default: shipmate.yaml's concurrency, else 10)")


@dataclass
class Context:
    root: Path
    stack_path: str
    reader: LocalConfigReader
    settings: RepoSettings
    backend: StoreBackend
    ops: StackOps


def open_context(
    args: argparse.Namespace, *, watch: bool = True, concurrency: int | None = None,
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


def load(ctx: Context) -> LoadedStack:
    return ctx.ops.load(ctx.reader, ctx.stack_path)


def user() -> str:
    """Who runs the command (recorded as the release's actor)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def owner() -> str:
    """The lock owner of this run: user, host and process."""
    return cli_owner(user())


def confirm_yes(changeset: ChangeSet) -> bool:
    """`--yes`: show the preview and go ahead."""
    show_preview(changeset)
    return True


def confirm_on_terminal(verb: str) -> Callable[[ChangeSet], bool]:
    """Show the preview and ask; refuse to proceed without a terminal to ask on."""

    def ask(changeset: ChangeSet) -> bool:
        show_preview(changeset)
        if not changeset.has_changes:
            return True
        if not sys.stdin.isatty():
            raise ConfigError([Problem("", 0, 0, "--yes", f"refusing to {verb} without confirmation: "
                                       "there is no terminal to ask on; pass --yes")])
        sys.stdout.write(f"Do you want to {verb} these changes? [y/N] ")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    return ask


class Progress:
    """Operation progress: a one-line bar on a terminal, plain lines otherwise.

    `watching(confirm)` wraps the confirmation so the total comes from the change set the
    person confirmed (the operations that will run), with no extra read of the backend.
    """

    def __init__(self, total: int = 1, out: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self._lock = threading.Lock()

    def watching(self, confirm: Callable[[ChangeSet], bool]) -> Callable[[ChangeSet], bool]:
        def counted(changeset: ChangeSet) -> bool:
            self.total = max(len(changeset.changed_steps()), 1)
            return confirm(changeset)

        return counted

    def __call__(self, event: executor.Event) -> None:
        with self._lock:
            if event.kind in ("done", "failed", "skipped"):
                self.done += 1
            if self.tty:
                width = 30
                filled = int(width * self.done / self.total)
                bar = "#" * filled + "-" * (width - filled)
                line = f"\r[{bar}] {self.done}/{self.total} {event.kind:<7} {event.id}"[:160]
                self.out.write(line.ljust(160))
                if self.done >= self.total:
                    self.out.write("\n")
            else:
                detail = f": {event.message}" if event.message else ""
                self.out.write(f"{event.kind:<7} {event.action:<9} {event.id}{detail}\n")
            self.out.flush()


@contextmanager
def cancellable() -> Iterator[threading.Event]:
    """A cancel event set by Ctrl-C or SIGTERM; a second Ctrl-C interrupts at once."""
    cancel = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\nstopping: operations in flight will finish and be recorded "
                         "(Ctrl-C again to abort at once)\n")

    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, handler)
    try:
        yield cancel
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, old in previous.items():
                signal.signal(sig, old)


def operate(ctx: Context, plan: RunPlan, verb: Verb, *, dry_run: bool, yes: bool,
            loaded: tuple[LoadedStack, ...] = (), trusted: RepoSettings | None = None) -> int:
    """The CLI's one way to run a stack operation, through the `StackRunner` like every entry
    point: a dry run only shows the preview; otherwise confirm (unless `yes`), show progress,
    stop cleanly on Ctrl-C, and report the release (`bot.cli.reporter`). `loaded`: the stack,
    already loaded to name it. Exit 0 when it succeeded, 1 when it failed or was declined."""
    reporter = TerminalReporter(verb, dry_run=dry_run)
    tree = Tree("", head_commit(ctx.root), ctx.reader)
    runner = StackRunner(ctx.ops, tree, trusted or ctx.settings, reporter, contain=False, loaded=loaded)
    if dry_run:
        runner.run(plan, RunOptions(dry_run=True))
        return 0
    confirm = confirm_yes if yes else confirm_on_terminal(verb.prompt)
    progress = Progress()
    with cancellable() as cancel:
        result = runner.run(plan, RunOptions(confirm=progress.watching(confirm), on_event=progress, cancel=cancel))
    return 0 if all(s.ok and not s.declined for s in result.stacks) else 1


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
