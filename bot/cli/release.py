"""`shipmate release`: list, show, unlock and roll back the releases of a project+workspace.

    shipmate release list     [-w STACK_DIR] [--project P --workspace W] [--backend SPEC] [-o text|json]
    shipmate release show     [--revision N] [-o yaml|json] [...]
    shipmate release unlock   [-o text|json] [...]
    shipmate release diff     A B [-o text|json] [...]
    shipmate release rollback --revision N [--yes] [--dry-run] [--timeout S] [-o text|json] [...]

`rollback` re-applies revision N's Spec as a new release (trigger `rollback`) through the same
preview, lock and apply path as `shipmate apply`; it needs the config repository (its
settings and runtimes), so run it from a stack directory or pass `-w`.

The project and workspace come from the stack directory (`-w`, default: the current
directory): the nearest `project.yaml` above it names the project, its `stack.yaml` the
workspace (default: the stack's name). `--project` and `--workspace` override them, and
together need no stack at all.

`--backend git:<path-or-url>[#branch]` or `--backend local:<dir>` selects the state backend.
The default is the state branch (`backend.branch` in shipmate.yaml, default
`shipmate-state`) of the git repository holding the stack: its `origin` remote when it has
one, else the repository itself.
"""

from __future__ import annotations

import json
import posixpath
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.adapters.gitstate import DEFAULT_BRANCH, StoreBackend, git_backend, open_backend
from bot.adapters.localfs import LocalConfigReader, find_repo_root
from bot.cli import options, stackcmd
from bot.cli.style import Style
from bot.core import release_diff
from bot.core.affected import StackRef
from bot.core.clock import rfc3339
from bot.core.config.project import PROJECT_FILE, STACK_FILE, parse_project, parse_stack
from bot.core.config.settings import SETTINGS_FILE, parse_settings
from bot.core.errors import ConfigError, Problem
from bot.core.lock import Lock
from bot.core.release import Release, Trigger
from bot.core.render import release_diff as render_diff
from bot.core.runplan import Operation, Provenance
from bot.core.yamlio import dump_data

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = """
shipmate release list                    # the releases of the stack in this directory
shipmate release list --project shop --workspace prod --backend git:../state.git -o json
shipmate release show --revision 3 -o json
shipmate release diff 2 3                # what changed between r2 and r3
shipmate release unlock                  # after an interrupted apply
shipmate release rollback --revision 2 --yes
"""


@dataclass(frozen=True, slots=True)
class Names:
    """The options naming a project+workspace and its backend: `-w`, `--project`,
    `--workspace`, `--backend`."""

    workdir: str = "."
    project: str | None = None
    workspace: str | None = None
    backend: str | None = None


def names_options(f: F) -> F:
    f = options.backend(f)
    f = click.option("--workspace", help="Workspace name (default: from stack.yaml).")(f)
    f = click.option("--project", help="Project name (default: from the nearest project.yaml).")(f)
    return options.workdir(f)


def output(*choices: str) -> Callable[[F], F]:
    return click.option("-o", "--output", type=click.Choice(choices), default=choices[0], show_default=True,
                        help="Output format.")


@options.group("release", "Releases of a project+workspace on the state backend (Kusion's layout): list, "
               "show, diff, unlock, roll back.", EXAMPLES,
               short="List, show, diff, unlock and roll back the releases of a stack.")
def command() -> None:
    """Releases of a project+workspace on the state backend."""


@command.command("list", help="Every release: revision, phase, stack, trigger, actor, times; and the lock.",
                 epilog=options.epilog("shipmate release list\nshipmate release list -o json"),
                 context_settings=options.CONTEXT)
@names_options
@output("text", "json")
def list_command(workdir: str, project: str | None, workspace: str | None, backend: str | None,
                 output: str) -> int:
    target = resolve(Names(workdir, project, workspace, backend))
    with target.backend as store:
        releases = store.list(target.project, target.workspace)
        locks = [lock for lock in store.list_locks()
                 if (lock.project, lock.workspace) == (target.project, target.workspace)]
    out = sys.stdout
    if output == "json":
        doc = {"project": target.project, "workspace": target.workspace, "backend": store.description,
               "releases": [_summary(r) for r in releases], "locks": [_lock(lock) for lock in locks]}
        out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
    out.write(f"{target.project}/{target.workspace} on {store.description}\n")
    if not releases:
        out.write("no releases yet\n")
    else:
        rows = [("REVISION", "PHASE", "STACK", "TRIGGER", "ACTOR", "PR", "CREATED", "MODIFIED")]
        for r in releases:
            rows.append((
                str(r.revision), str(r.phase), r.stack, str(r.trigger), r.actor or "-",
                f"#{r.pull_request}" if r.pull_request is not None else "-",
                rfc3339(r.create_time), rfc3339(r.modified_time),
            ))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    for lock in locks:
        out.write(_lock_line(lock) + "\n")
    return 0


def _summary(r: Release) -> dict[str, Any]:
    return {"revision": r.revision, "phase": str(r.phase), "stack": r.stack, "trigger": str(r.trigger),
            "actor": r.actor or None, "pullRequest": r.pull_request, "commit": r.commit or None,
            "createTime": rfc3339(r.create_time), "modifiedTime": rfc3339(r.modified_time),
            "error": r.error or None}


def _lock(lock: Lock) -> dict[str, Any]:
    return {"owner": lock.describe(), "token": lock.token, "expireTime": rfc3339(lock.expire_time)}


@command.command("show", help="One release in full (default: the latest).",
                 epilog=options.epilog("shipmate release show\nshipmate release show --revision 2 -o json"),
                 context_settings=options.CONTEXT)
@names_options
@click.option("--revision", type=options.POSITIVE, metavar="N", help="The revision to show.")
@output("yaml", "json")
def show_command(workdir: str, project: str | None, workspace: str | None, backend: str | None,
                 revision: int | None, output: str) -> int:
    target = resolve(Names(workdir, project, workspace, backend))
    with target.backend as store:
        if revision is None:
            release = store.latest(target.project, target.workspace)
            if release is None:
                raise ConfigError([Problem(store.description, 0, 0, "",
                                           f"{target.project}/{target.workspace} has no releases")])
        else:
            release = store.get(target.project, target.workspace, revision)
            if release is None:
                latest = store.index(target.project, target.workspace).latest_revision
                known = f"revisions are 1..{latest}" if latest else "there are no releases yet"
                raise ConfigError([Problem("--revision", 0, 0, "", f"{target.project}/{target.workspace} "
                                           f"has no revision {revision} ({known})")])
    sys.stdout.write(render(release, output))
    return 0


@command.command("diff", help="The difference between revisions A and B of a project+workspace: resources "
                 "added, removed and changed (field by field) in the Spec and in the State, and the release "
                 "fields that differ. Secret values are shown masked, as the state branch stores them.",
                 short_help="What changed between two revisions.",
                 epilog=options.epilog("shipmate release diff 1 3\nshipmate release diff 2 3 -o json"),
                 context_settings=options.CONTEXT)
@names_options
@click.argument("a", type=options.POSITIVE, metavar="A")
@click.argument("b", type=options.POSITIVE, metavar="B")
@output("text", "json")
def diff_command(workdir: str, project: str | None, workspace: str | None, backend: str | None,
                 a: int, b: int, output: str) -> int:
    target = resolve(Names(workdir, project, workspace, backend))
    with target.backend as store:
        before, after = (_revision(store, target, n) for n in (a, b))
    diff = release_diff.diff_releases(before, after)
    sys.stdout.write(render_diff.json(diff) if output == "json" else render_diff.text(diff))
    return 0


def _revision(backend: StoreBackend, target: Target, revision: int) -> Release:
    release = backend.get(target.project, target.workspace, revision)
    if release is None:
        latest = backend.index(target.project, target.workspace).latest_revision
        known = f"revisions are 1..{latest}" if latest else "there are no releases yet"
        raise ConfigError([Problem("revision", 0, 0, "", f"{target.project}/{target.workspace} "
                                   f"has no revision {revision} ({known})")])
    return release


def render(release: Release, output: str) -> str:
    if output == "json":
        return json.dumps(release.to_dict(), indent=2, sort_keys=True) + "\n"
    return dump_data(release.to_dict())


@command.command("unlock", help="Mark an interrupted release failed (keeping its state) and free the lock.",
                 short_help="Mark an interrupted release failed and free the lock.",
                 epilog=options.epilog("shipmate release unlock\nshipmate release unlock --project shop "
                                       "--workspace prod -o json"),
                 context_settings=options.CONTEXT)
@names_options
@output("text", "json")
def unlock_command(workdir: str, project: str | None, workspace: str | None, backend: str | None,
                   output: str) -> int:
    target = resolve(Names(workdir, project, workspace, backend))
    with target.backend as store:
        done = store.force_unlock(target.project, target.workspace, actor=stackcmd.user())
    key = f"{target.project}/{target.workspace}"
    if output == "json":
        r = done.release
        doc = {"project": target.project, "workspace": target.workspace,
               "release": None if r is None else {"revision": r.revision, "stack": r.stack,
                                                  "phase": str(r.phase), "resources": len(r.state.resources)},
               "lock": None if done.lock is None else _lock(done.lock)}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
    if done.release is None and done.lock is None:
        print(f"{key}: nothing to unlock (no release in progress, no lock held)")
        return 0
    if done.release is not None:
        r = done.release
        print(f"{key}: release r{r.revision} (stack {r.stack}) marked failed; "
              f"its state of {len(r.state.resources)} resources is kept for the next apply")
    if done.lock is not None:
        print(f"{key}: freed the lock of {done.lock.describe()} (token {done.lock.token})")
    return 0


@command.command("rollback", help="Re-apply the Spec of revision N as a new release (trigger rollback): "
                 "preview it against the live objects, confirm, apply, record.",
                 short_help="Re-apply an earlier revision's Spec as a new release.",
                 epilog=options.epilog("shipmate release rollback --revision 2\n"
                                       "shipmate release rollback --revision 2 --dry-run --no-detail\n"
                                       "shipmate release rollback --revision 2 -y -o json"),
                 context_settings=options.CONTEXT)
@names_options
@click.option("--revision", type=options.POSITIVE, metavar="N", required=True,
              help="The revision whose Spec to apply again.")
@options.apply_options
@options.watch
@click.option("--no-style", is_flag=True, help="No colour or styling (also: NO_COLOR set).")
def rollback_command(workdir: str, project: str | None, workspace: str | None, backend: str | None,
                     revision: int, yes: bool, dry_run: bool, timeout: float | None, concurrency: int | None,
                     detail: bool, output: str, watch: bool, no_style: bool) -> int:
    where = Names(workdir, project, workspace, backend)
    project, workspace = names(where)
    show = stackcmd.Show(Style.detect(no_style=no_style), detail, output == "json")
    ctx = stackcmd.open_context(stackcmd.Where(workdir, backend), watch=watch, concurrency=concurrency,
                                timeout=timeout)
    settings = ctx.settings
    user = stackcmd.user()
    with ctx.backend:
        target = ctx.backend.get(project, workspace, revision)
        if target is None:
            latest = ctx.backend.index(project, workspace).latest_revision
            known = f"revisions are 1..{latest}" if latest else "there are no releases yet"
            raise ConfigError([Problem("--revision", 0, 0, "", f"{project}/{workspace} has no revision "
                                       f"{revision} ({known})")])
        provenance = Provenance(Trigger.ROLLBACK, actor=user, commit=target.commit)
        verb = stackcmd.Verb(prompt="roll back", name="rollback", nothing="nothing applied, nothing recorded",
                             done=f", rolled back to the Spec of r{revision}")
        plan = stackcmd.plan_for(Operation.ROLLBACK, StackRef("", project, target.stack, workspace), provenance,
                                 revision=revision)
        return stackcmd.operate(ctx, plan, verb, dry_run=dry_run, yes=yes, trusted=settings, show=show)


@dataclass(frozen=True, slots=True)
class Target:
    project: str
    workspace: str
    backend: StoreBackend


def _lock_line(lock: Lock) -> str:
    return (f"locked by {lock.describe()} until {rfc3339(lock.expire_time)} "
            f"(token {lock.token})")


# --- finding the project, workspace and backend ----------------------------------------------


def names(args: Names) -> tuple[str, str]:
    """(project, workspace): from --project/--workspace, else from the stack directory."""
    if args.project and args.workspace:
        return args.project, args.workspace
    stack_dir = Path(args.workdir)
    if not stack_dir.is_dir():
        raise ConfigError([Problem(str(stack_dir), 0, 0, "", "no such directory")])
    root = find_repo_root(stack_dir)
    project, workspace = _stack_names(LocalConfigReader(root), root, stack_dir)
    return args.project or project, args.workspace or workspace


def resolve(args: Names) -> Target:
    project, workspace = args.project, args.workspace
    stack_dir = Path(args.workdir)
    root: Path | None = None
    branch = DEFAULT_BRANCH
    if not (project and workspace) or not args.backend:
        if not stack_dir.is_dir():
            raise ConfigError([Problem(str(stack_dir), 0, 0, "", "no such directory")])
        root = find_repo_root(stack_dir)
        reader = LocalConfigReader(root)
        branch = parse_settings(SETTINGS_FILE, reader.read(SETTINGS_FILE)).backend.branch
        if not (project and workspace):
            found_project, found_workspace = _stack_names(reader, root, stack_dir)
            project = project or found_project
            workspace = workspace or found_workspace
    if args.backend:
        backend = open_backend(args.backend, default_branch=branch)
    else:
        assert root is not None
        backend = git_backend(stackcmd.default_repo(root, stack_dir), branch)
    return Target(project, workspace, backend)


def _stack_names(reader: LocalConfigReader, root: Path, stack_dir: Path) -> tuple[str, str]:
    rel = stack_dir.resolve().relative_to(root).as_posix()
    rel = "" if rel == "." else rel
    stack_file = posixpath.join(rel, STACK_FILE) if rel else STACK_FILE
    text = reader.read(stack_file)
    if text is None:
        raise ConfigError([Problem(str(stack_dir), 0, 0, "", f"not a stack directory: expected {STACK_FILE} "
                                   "here (or pass --project and --workspace)")])
    stack = parse_stack(stack_file, text, rel)
    current = rel
    while True:
        project_file = posixpath.join(current, PROJECT_FILE) if current else PROJECT_FILE
        project_text = reader.read(project_file)
        if project_text is not None:
            return parse_project(project_file, project_text, current).name, stack.workspace
        if not current:
            raise ConfigError([Problem(stack_file, 0, 0, "", f"no {PROJECT_FILE} found in this directory "
                                       "or above it (or pass --project)")])
        current = posixpath.dirname(current)


