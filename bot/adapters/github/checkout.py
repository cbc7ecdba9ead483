"""`Checkouts` with git: a cached clone per repository, and a clean tree per commit.

Trees are exported with `git archive` into `<cache>/<owner>/<repo>/trees/<sha>/`, so each is
immutable, needs no work-tree bookkeeping and can be shared by concurrent readers. The state
branch is never checked out here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from bot.core.errors import RuntimeFailed, TransientError

KEEP_TREES = 20


class GitCheckouts:
    """The `Checkouts` port: `checkout(repo, sha)` → a directory holding the repo at `sha`."""

    def __init__(self, cache_dir: str | Path, clone_url: Callable[[str], str]) -> None:
        self.cache_dir = Path(cache_dir)
        self._clone_url = clone_url
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, repo: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(repo, threading.Lock())

    def checkout(self, repo: str, sha: str) -> str:
        base = self.cache_dir / repo
        tree = base / "trees" / sha
        if (tree / ".shipmate-complete").exists():
            return str(tree)
        with self._lock(repo):
            if (tree / ".shipmate-complete").exists():
                return str(tree)
            mirror = base / "mirror.git"
            url = self._clone_url(repo)
            if not mirror.exists():
                mirror.parent.mkdir(parents=True, exist_ok=True)
                _git(["init", "--bare", "-q", str(mirror)])
            if not _has_commit(mirror, sha):
                _git(
                    ["fetch", "-q", "--no-tags", url, "+refs/heads/*:refs/heads/*", "+refs/pull/*:refs/pull/*"],
                    cwd=mirror,
                    allow_fail_message="refs/pull",
                )
                if not _has_commit(mirror, sha):
                    _git(["fetch", "-q", "--no-tags", url, sha], cwd=mirror)
            staging = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=base))
            try:
                archive = subprocess.run(
                    ["git", "archive", "--format=tar", sha],
                    cwd=mirror, capture_output=True, check=False,
                )
                if archive.returncode != 0:
                    raise RuntimeFailed(f"git archive {sha[:7]} of {repo}: {archive.stderr.decode().strip()}")
                tar_path = staging / ".tree.tar"
                tar_path.write_bytes(archive.stdout)
                with tarfile.open(tar_path) as tar:
                    tar.extractall(staging, filter="data")
                tar_path.unlink()
                (staging / ".shipmate-complete").write_text(sha + "\n")
                tree.parent.mkdir(parents=True, exist_ok=True)
                if tree.exists():
                    shutil.rmtree(tree)
                os.replace(staging, tree)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
            self._prune(tree.parent)
        return str(tree)

    def _prune(self, trees: Path) -> None:
        entries = sorted(trees.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP_TREES:]:
            shutil.rmtree(old, ignore_errors=True)


def _has_commit(mirror: Path, sha: str) -> bool:
    probe = subprocess.run(
        ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=mirror, capture_output=True, check=False
    )
    return probe.returncode == 0


def _git(args: list[str], cwd: Path | None = None, allow_fail_message: str = "") -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        if allow_fail_message and allow_fail_message in done.stderr:
            return
        message = re.sub(r"://[^/@\s]*@", "://", done.stderr.strip())
        failed = TransientError if args[0] == "fetch" else RuntimeFailed  # a fetch may work later
        raise failed(f"git {args[0]} failed: {message}")
