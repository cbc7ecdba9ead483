"""The config model: repository settings, workspaces, projects, stacks and AppConfigurations.

Parsing works on text (`parse_*`) or on a `ConfigSnapshot` of the repository (`load_stack`);
every problem is reported as `file:line:col: field: what was expected`.
"""

from __future__ import annotations

from bot.core.config.appconfig import AppConfiguration, AppFile, Block, parse_app_configurations
from bot.core.config.project import Project, Stack, parse_project, parse_stack, resolve_namespace
from bot.core.config.repo import StackConfig, find_project_dir, list_stacks, load_stack
from bot.core.config.settings import RepoSettings, parse_settings
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.config.workspace import ModuleConfig, Workspace, parse_workspace

__all__ = [
    "AppConfiguration",
    "AppFile",
    "Block",
    "ConfigSnapshot",
    "ModuleConfig",
    "Project",
    "RepoSettings",
    "Stack",
    "StackConfig",
    "Workspace",
    "find_project_dir",
    "list_stacks",
    "load_stack",
    "parse_app_configurations",
    "parse_project",
    "parse_settings",
    "parse_stack",
    "parse_workspace",
    "resolve_namespace",
]
