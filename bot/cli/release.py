"""`shipmate release`: list, show, unlock and roll back the releases of a project+workspace.

    shipmate release list     [-w STACK_DIR] [--project P --workspace W] [--backend SPEC]
    shipmate release show     [--revision N] [-o yaml|json] [...]
    shipmate release unlock   [...]
    shipmate release diff     A B [-o text|json] [...]
    shipmate release rollback --revision N [--yes] [--dry-run] [--timeout S] [...]

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

import argparse
import json
import posixpath
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.gitstate import DEFAULT_BRANCH, StoreBackend, git_backend, open_backend
from bot.adapters.localfs import LocalConfigReader, find_repo_root
from bot.cli import stackcmd
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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "release",
        help="list, show and unlock the releases on the state backend",
        description="Releases of a project+workspace on the state backend (Kusion's layout).",
    )
    sub = parser.add_subparsers(dest="release_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-w", "--workdir", default=".", metavar="STACK_DIR",
                       help="the stack directory (holding stack.yaml); default: the current directory")
        p.add_argument("--project", help="project name (default: from the nearest project.yaml)")
        p.add_argument("--workspace", help="workspace name (default: from stack.yaml)")
        p.add_argument("--backend", metavar="SPEC",
                       help="git:<path-or-url>[#branch] or local:<dir>; default: the state branch "
                       "of the repository holding the stack")

    listing = sub.add_parser("list", help="every release: revision, phase, stack, trigger, times")
    common(listing)
    listing.set_defaults(func=run_list)

    show = sub.add_parser("show", help="one release in full (default: the latest)")
    common(show)
    show.add_argument("--revision", type=int, metavar="N", help="the revision to show")
    show.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml",
                      help="output format (default: yaml)")
    show.set_defaults(func=run_show)

    unlock = sub.add_parser(
        "unlock",
        help="mark an interrupted release failed (keeping its state) and free the lock",
    )
    common(unlock)
    unlock.set_defaults(func=run_unlock)

    difference = sub.add_parser(
        "diff",
        help="what changed between two revisions: their Specs, states and release fields",
        description="The difference between revisions A and B of a project+workspace: resources added, "
        "removed and changed (field by field) in the Spec and in the State, and the release fields "
        "that differ. Secret values are shown masked, as the state branch stores them.",
    )
    common(difference)
    difference.add_argument("a", type=int, metavar="A", help="the earlier revision")
    difference.add_argument("b", type=int, metavar="B", help="the later revision")
    difference.add_argument("-o", "--output", choices=("text", "json"), default="text",
                            help="output format (default: text)")
    difference.set_defaults(func=run_diff)

    rollback = sub.add_parser(
        "rollback",
        help="re-apply an earlier revision's Spec as a new release",
        description="Re-apply the Spec of revision N as a new release (trigger rollback): "
        "preview it against the live objects, confirm, apply, record.",
    )
    common(rollback)
    rollback.add_argument("--revision", type=int, metavar="N", required=True,
                          help="the revision whose Spec to apply again")
    rollback.add_argument("-y", "--yes", action="store_true", help="apply without asking for confirmation")
    rollback.add_argument("--dry-run", action="store_true", help="preview only; write nothing")
    rollback.add_argument("--timeout", type=float, metavar="S", help="fail the release after S seconds")
    rollback.add_argument("--concurrency", type=int, metavar="N",
                          help="operations at once (default: shipmate.yaml's concurrency, else 10)")
    rollback.add_argument("--watch", action=argparse.BooleanOptionalAction, default=True,
                          help="wait until workloads are ready (default: on)")
    rollback.set_defaults(func=run_rollback)


@dataclass(frozen=True, slots=True)
class Target:
    project: str
    workspace: str
    backend: StoreBackend


def run_list(args: argparse.Namespace) -> int:
    target = resolve(args)
    with target.backend as backend:
        releases = backend.list(target.project, target.workspace)
        locks = [lock for lock in backend.list_locks()
                 if (lock.project, lock.workspace) == (target.project, target.workspace)]
    out = sys.stdout
    out.write(f"{target.project}/{target.workspace} on {backend.description}\n")
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


def run_show(args: argparse.Namespace) -> int:
    target = resolve(args)
    with target.backend as backend:
        if args.revision is None:
            release = backend.latest(target.project, target.workspace)
            if release is None:
                raise ConfigError([Problem(backend.description, 0, 0, "",
                                           f"{target.project}/{target.workspace} has no releases")])
        else:
            release = backend.get(target.project, target.workspace, args.revision)
            if release is None:
                latest = backend.index(target.project, target.workspace).latest_revision
                known = f"revisions are 1..{latest}" if latest else "there are no releases yet"
                raise ConfigError([Problem("--revision", 0, 0, "", f"{target.project}/{target.workspace} "
                                           f"has no revision {args.revision} ({known})")])
    sys.stdout.write(render(release, args.output))
    return 0


def run_diff(args: argparse.Namespace) -> int:
    target = resolve(args)
    with target.backend as backend:
        before, after = (_revision(backend, target, n) for n in (args.a, args.b))
    diff = release_diff.diff_releases(before, after)
    sys.stdout.write(render_diff.json(diff) if args.output == "json" else render_diff.text(diff))
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


def run_unlock(args: argparse.Namespace) -> int:
    target = resolve(args)
    with target.backend as backend:
        done = backend.force_unlock(target.project, target.workspace, actor=stackcmd.user())
    key = f"{target.project}/{target.workspace}"
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


def run_rollback(args: argparse.Namespace) -> int:
    project, workspace = names(args)
    ctx = stackcmd.open_context(args, watch=args.watch, concurrency=args.concurrency, timeout=args.timeout)
    settings = ctx.settings
    user = stackcmd.user()
    with ctx.backend:
        target = ctx.backend.get(project, workspace, args.revision)
        if target is None:
            latest = ctx.backend.index(project, workspace).latest_revision
            known = f"revisions are 1..{latest}" if latest else "there are no releases yet"
            raise ConfigError([Problem("--revision", 0, 0, "", f"{project}/{workspace} has no revision "
                                       f"{args.revision} ({known})")])
        provenance = Provenance(Trigger.ROLLBACK, actor=user, commit=target.commit)
        verb = stackcmd.Verb(prompt="roll back", name="rollback", nothing="nothing applied, nothing recorded",
                             done=f", rolled back to the Spec of r{args.revision}")
        plan = stackcmd.plan_for(Operation.ROLLBACK, StackRef("", project, target.stack, workspace), provenance,
                                 revision=args.revision)
        return stackcmd.operate(ctx, plan, verb, dry_run=args.dry_run, yes=args.yes, trusted=settings)


def _lock_line(lock: Lock) -> str:
    return (f"locked by {lock.describe()} until {rfc3339(lock.expire_time)} "
            f"(token {lock.token})")


# --- finding the project, workspace and backend ----------------------------------------------


def names(args: argparse.Namespace) -> tuple[str, str]:
    """(project, workspace): from --project/--workspace, else from the stack directory."""
    if args.project and args.workspace:
        return args.project, args.workspace
    stack_dir = Path(args.workdir)
    if not stack_dir.is_dir():
        raise ConfigError([Problem(str(stack_dir), 0, 0, "", "no such directory")])
    root = find_repo_root(stack_dir)
    project, workspace = _stack_names(LocalConfigReader(root), root, stack_dir)
    return args.project or project, args.workspace or workspace


def resolve(args: argparse.Namespace) -> Target:
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


