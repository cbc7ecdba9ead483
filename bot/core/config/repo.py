"""A config repository's layout: find and parse everything one stack needs, list all stacks.

```
shipmate.yaml                 optional repository settings
workspaces/<ws>.yaml          workspaces
<project>/project.yaml        the nearest one above a stack is its project
<project>/<stack>/stack.yaml
<project>/<stack>/main.yaml   AppConfigurations
```

Problems in several files are reported together, one line each.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.core.affected import StackRef
from bot.core.config.appconfig import MAIN_FILE, AppFile, parse_app_configurations
from bot.core.config.project import (
    PROJECT_FILE,
    STACK_FILE,
    Project,
    Stack,
    parse_project,
    parse_stack,
)
from bot.core.config.settings import SETTINGS_FILE, RepoSettings, parse_settings
from bot.core.config.snapshot import ConfigSnapshot, join, normalize
from bot.core.config.workspace import Workspace, parse_workspace
from bot.core.errors import ConfigError, Problem

WORKSPACES_DIR = "workspaces"
T = TypeVar("T")


@dataclass(frozen=True)
class StackConfig:
    """Everything parsed for one stack."""

    path: str
    settings: RepoSettings
    project: Project
    stack: Stack
    workspace: Workspace
    apps: AppFile
    snapshot: ConfigSnapshot

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """What was read but ignored (unknown keys of project.yaml and stack.yaml), located."""
        return self.project.warnings + self.stack.warnings


def find_project_dir(snapshot: ConfigSnapshot, stack_path: str) -> str | None:
    """The nearest directory at or above `stack_path` holding project.yaml."""
    current = normalize(stack_path)
    while True:
        if snapshot.has(join(current, PROJECT_FILE)):
            return current
        if current == "":
            return None
        current = posixpath.dirname(current)


def workspace_file(snapshot: ConfigSnapshot, name: str) -> str | None:
    for suffix in (".yaml", ".yml"):
        path = f"{WORKSPACES_DIR}/{name}{suffix}"
        if snapshot.has(path):
            return path
    return None


def load_stack(snapshot: ConfigSnapshot, stack_path: str) -> StackConfig:
    """Parse the settings, project, stack, workspace and main.yaml of the stack at `stack_path`."""
    path = normalize(stack_path)
    problems: list[Problem] = []

    def attempt(fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    stack_file = join(path, STACK_FILE)
    stack_text = snapshot.read(stack_file)
    if stack_text is None:
        raise ConfigError([Problem(path or ".", 0, 0, "", f"not a stack directory: expected {STACK_FILE} here")])
    settings = attempt(lambda: parse_settings(SETTINGS_FILE, snapshot.read(SETTINGS_FILE)))
    stack = attempt(lambda: parse_stack(stack_file, stack_text, path))
    project_dir = find_project_dir(snapshot, path)
    project = None
    if project_dir is None:
        problems.append(Problem(stack_file, 1, 1, "", f"no {PROJECT_FILE} found in this stack's directory or above it"))
    else:
        project_file = join(project_dir, PROJECT_FILE)
        project = attempt(lambda: parse_project(project_file, snapshot.read(project_file) or "", project_dir))
    main_file = join(path, MAIN_FILE)
    main_text = snapshot.read(main_file)
    apps = None
    if main_text is None:
        problems.append(Problem(
            stack_file, 1, 1, "", f"missing {MAIN_FILE} next to this file: expected the stack's AppConfigurations"
        ))
    else:
        apps = attempt(lambda: parse_app_configurations(main_file, main_text))
    workspace = None
    if stack is not None:
        ws_file = workspace_file(snapshot, stack.workspace)
        if ws_file is None:
            line, col = stack.document.locate(("workspace",)) if stack.document else (0, 0)
            if stack.document is not None and "workspace" not in (stack.document.data or {}):
                line, col = stack.document.locate(("name",))
            problems.append(Problem(
                stack_file, line, col, "workspace",
                f"workspace {stack.workspace!r} not found: expected {WORKSPACES_DIR}/{stack.workspace}.yaml",
            ))
        else:
            ws_text = snapshot.read(ws_file) or ""
            workspace = attempt(lambda: parse_workspace(ws_file, ws_text, stack.workspace))
    if problems:
        raise ConfigError(problems)
    assert settings and stack and project and workspace and apps  # all parsed when no problems
    return StackConfig(path, settings, project, stack, workspace, apps, snapshot)


def list_stacks(snapshot: ConfigSnapshot) -> tuple[StackRef, ...]:
    """Every stack in the snapshot (directories holding stack.yaml under a project), by path.

    Stacks whose stack.yaml or project.yaml do not parse are listed with their directory
    names so that a change to them is still previewed (and its errors reported).
    """
    out: list[StackRef] = []
    for file in snapshot:
        if posixpath.basename(file) != STACK_FILE:
            continue
        path = posixpath.dirname(file)
        project_dir = find_project_dir(snapshot, path)
        if project_dir is None or project_dir == path:
            continue
        try:
            stack = parse_stack(file, snapshot.read(file) or "", path)
            name, workspace = stack.name, stack.workspace
        except ConfigError:
            name = workspace = posixpath.basename(path)
        try:
            project_file = join(project_dir, PROJECT_FILE)
            project = parse_project(project_file, snapshot.read(project_file) or "", project_dir).name
        except ConfigError:
            project = posixpath.basename(project_dir) or "."
        out.append(StackRef(path=path, project=project, name=name, workspace=workspace))
    return tuple(sorted(out))
