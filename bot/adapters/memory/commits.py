"""Commits of in-memory repositories: a commit is a mapping path -> text, named by a SHA.

`Commits` is what the in-memory code host's branches point at and what the in-memory
checkouts read: `commit(repo, files)` records one and returns its SHA, a SHA-1 over the
repository name and the sorted files, so the same files give the same SHA (the order of a
test's steps never changes what a comment or status names). Commits never change once made.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from types import MappingProxyType

from bot.core.errors import RuntimeFailed


class Commits:
    """Every commit of every repository, by repository and SHA."""

    def __init__(self) -> None:
        self._commits: dict[tuple[str, str], Mapping[str, str]] = {}
        self._lock = threading.Lock()

    def commit(self, repo: str, files: Mapping[str, str]) -> str:
        """Record `files` (POSIX paths relative to the root -> text) as a commit of `repo`."""
        frozen = MappingProxyType(dict(sorted(files.items())))
        digest = hashlib.sha1(repo.encode())
        for path, text in frozen.items():
            digest.update(b"\0" + path.encode() + b"\0" + text.encode())
        sha = digest.hexdigest()
        with self._lock:
            self._commits.setdefault((repo, sha), frozen)
        return sha

    def files(self, repo: str, sha: str) -> Mapping[str, str]:
        """The files of `repo` at `sha`; RuntimeFailed, as a failed fetch is, when there is none."""
        with self._lock:
            found = self._commits.get((repo, sha))
        if found is None:
            raise RuntimeFailed(f"git fetch failed: {repo} has no commit {sha[:7]}")
        return found
