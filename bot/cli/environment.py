"""How the `shipmate` command reads its settings: the process environment, once per command.

`read(config, overrides)` is the one path every subcommand takes: `Settings.from_env` of the
process environment (with a subcommand's options, such as `serve --listen`, laid over it as
the variables they stand for) and the optional settings file, and that same environment,
which `bot.wiring` hands on only where a parent environment is needed (the children's
environment allowlist, runtime plug-ins' own variables, the masker's scan).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bot.settings import Settings


@dataclass(frozen=True)
class Environment:
    """The settings a command runs with, and the environment they were read from."""

    settings: Settings
    env: Mapping[str, str]


def read(config: str | None = None, overrides: Mapping[str, str] | None = None) -> Environment:
    """The process environment (with `overrides`) and the settings read from it over `config`
    (else `$SHIPMATE_CONFIG`); a `ConfigError` names every bad value."""
    env = {**os.environ, **(overrides or {})}
    return Environment(Settings.from_env(env, config), env)
