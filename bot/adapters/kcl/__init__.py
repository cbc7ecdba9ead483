"""Stacks written in KCL: `main.k` and `kcl.mod` compiled with kcl-lib to Kusion's raw render.

`LocalKclCompiler` (the `KclCompiler` port) resolves the dependencies a Kusion `kcl.mod` names
to the KCL schemas shipped in `schemas/` (kam and the catalog modules Shipmate builds in) or to
local packages (`path = "..."`), and compiles in a bounded, isolated child process.
"""

from bot.adapters.kcl.compiler import LocalKclCompiler
from bot.adapters.kcl.kclmod import SHIPPED, Dependency, parse_kcl_mod

__all__ = ["SHIPPED", "Dependency", "LocalKclCompiler", "parse_kcl_mod"]
