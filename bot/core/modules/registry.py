"""Modules by name: the built-ins plus whatever the caller registers (entry points, tests).

Discovery of the `shipmate.modules` entry-point group happens outside the core (it reads
installed package metadata); it registers what it finds into a `ModuleRegistry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bot.core.modules.base import Module

ENTRY_POINT_GROUP = "shipmate.modules"


class ModuleRegistry:
    """A name → module table; later registrations of the same name replace earlier ones."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self._modules: dict[str, Module] = {}
        for module in modules:
            self.register(module)

    def register(self, module: Module) -> None:
        name = getattr(module, "name", None)
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"a module needs a non-empty name without dots, got {name!r}")
        if not callable(getattr(module, "generate", None)):
            raise ValueError(f"module {name!r} has no generate(request, schema) method")
        self._modules[name] = module

    def get(self, name: str) -> Module | None:
        return self._modules.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._modules))

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules[n] for n in self.names())


def builtin_registry() -> ModuleRegistry:
    """A registry holding Shipmate's built-in modules."""
    from bot.core.modules import builtins

    return ModuleRegistry(builtins.BUILTINS)
