"""Modules: typed generators selected by `_type: <module>.<Schema>`, and the registry that holds them."""

from __future__ import annotations

from bot.core.modules.base import (
    JSONPatcher,
    Module,
    ModuleInputError,
    ModuleRequest,
    ModuleResult,
    Patcher,
)
from bot.core.modules.registry import ENTRY_POINT_GROUP, ModuleRegistry, builtin_registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "JSONPatcher",
    "Module",
    "ModuleInputError",
    "ModuleRegistry",
    "ModuleRequest",
    "ModuleResult",
    "Patcher",
    "builtin_registry",
]
