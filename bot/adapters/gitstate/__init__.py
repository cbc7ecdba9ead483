"""State backends: the Git state branch (GitPython) and the local directory, with locks.

`open_backend("git:<path-or-url>[#branch]")` or `open_backend("local:<dir>")` builds a
`StoreBackend` (the `bot.core.ports.StateBackend` implementation) on the matching store:

- `gitstore.GitStore`: an orphan branch (default `shipmate-state`) of a git repository;
- `dirstore.DirStore`: a directory with the same layout.

The rules (revisions, phases, locks, fencing) live once, in the core's
`bot.core.statebackend.StoreBackend`, shared with the in-memory backend; the layout and the
`Store` seam in `bot.core.statelayout`.
"""

from __future__ import annotations

import os

from bot.adapters.clock import SystemClock
from bot.adapters.gitstate.dirstore import DirStore
from bot.adapters.gitstate.gitstore import DEFAULT_BRANCH, GitStore, is_url, redact
from bot.core.errors import ConfigError, Problem
from bot.core.mask import Masker
from bot.core.ports import Clock
from bot.core.statebackend import StoreBackend
from bot.metrics import ShipmateMetrics

__all__ = [
    "DEFAULT_BRANCH",
    "DirStore",
    "GitStore",
    "StoreBackend",
    "SystemClock",
    "git_backend",
    "is_url",
    "local_backend",
    "open_backend",
    "redact",
]


def git_backend(
    target: str,
    branch: str = DEFAULT_BRANCH,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    timeout_seconds: float = 120.0,
    masker: Masker | None = None,
    metrics: ShipmateMetrics | None = None,
) -> StoreBackend:
    """The state branch `branch` of the repository at `target` (a path or any git URL);
    `masker`: the secrets no release or commit message may hold (see `StoreBackend`);
    `metrics`: where lost compare-and-swap rounds are counted."""
    return StoreBackend(
        GitStore(target, branch, data_dir, timeout_seconds=timeout_seconds, metrics=metrics),
        clock or SystemClock(), masker,
    )


def local_backend(
    root: str | os.PathLike[str], *, clock: Clock | None = None, masker: Masker | None = None
) -> StoreBackend:
    """A directory with the state branch's layout."""
    return StoreBackend(DirStore(root), clock or SystemClock(), masker)


def open_backend(
    spec: str,
    *,
    clock: Clock | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    default_branch: str = DEFAULT_BRANCH,
) -> StoreBackend:
    """`git:<path-or-url>[#branch]` or `local:<dir>`."""
    kind, sep, rest = spec.partition(":")
    if sep and kind == "git" and rest:
        target, hashmark, branch = rest.rpartition("#") if "#" in rest else (rest, "", "")
        return git_backend(
            target, branch if hashmark and branch else default_branch, data_dir=data_dir, clock=clock
        )
    if sep and kind == "local" and rest:
        return local_backend(rest, clock=clock)
    raise ConfigError(
        [Problem("--backend", 0, 0, "",
                 f"{spec!r} is not a backend (expected git:<path-or-url>[#branch] or local:<dir>)")]
    )
