"""`Checkouts` with git: a cached clone per repository, and a clean tree per commit.

Trees are exported with `git archive` into `<cache>/<owner>/<repo>/trees/<sha>/`, so each is
immutable, needs no work-tree bookkeeping and can be shared by concurrent readers. The state
branch is never checked out here.

Every git command gets a built environment (`bot.core.childenv`: no token, no webhook secret,
no salt). The clone URL's credentials never reach a file or git's configuration: they are
taken out of the URL and sent as an `http.extraHeader` given with `-c` to the one fetch that
needs them (git does not persist `-c`; FETCH_HEAD and the mirror's config name the bare URL).

The archive is extracted with tarfile's `data` filter where Python has it (3.12, 3.11.4+);
on older Pythons (Debian 12's 3.11.2) every member is checked the same way by hand: no
absolute names, no `..`, no link leading out of the tree, no device or FIFO, no set-id bits.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from bot.core.childenv import child_env
from bot.core.errors import RuntimeFailed, TransientError

KEEP_TREES = 20


# A fetch that fails with one of these will fail the same way later: the commit or the
# repository is not there, or the credentials are refused.
_FETCH_NEVER_WORKS = ("not our ref", "couldn't find remote ref", "could not find remote ref",
                      "Repository not found", "Authentication failed", "returned error: 401",
                      "returned error: 403", "returned error: 404")


class GitCheckouts:
    """The `Checkouts` port: `checkout(repo, sha)` → a directory holding the repo at `sha`."""

    def __init__(
        self,
        cache_dir: str | Path,
        clone_url: Callable[[str], str],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self._clone_url = clone_url
        # git's environment: the allowlist of `environ` (default: the process environment).
        self.env = child_env(
            os.environ if environ is None else environ,
            {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"},
        )
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
            url, auth = split_credentials(self._clone_url(repo))
            if not mirror.exists():
                mirror.parent.mkdir(parents=True, exist_ok=True)
                self._git(["init", "--bare", "-q", str(mirror)])
            if not self._has_commit(mirror, sha):
                self._git(
                    [*auth, "fetch", "-q", "--no-tags", url, "+refs/heads/*:refs/heads/*",
                     "+refs/pull/*:refs/pull/*"],
                    cwd=mirror,
                    allow_fail_message="refs/pull",
                )
                if not self._has_commit(mirror, sha):
                    self._git([*auth, "fetch", "-q", "--no-tags", url, sha], cwd=mirror)
            staging = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=base))
            try:
                archive = subprocess.run(
                    ["git", "archive", "--format=tar", sha],
                    cwd=mirror, capture_output=True, check=False, env=self.env,
                )
                if archive.returncode != 0:
                    raise RuntimeFailed(f"git archive {sha[:7]} of {repo}: {archive.stderr.decode().strip()}")
                tar_path = staging / ".tree.tar"
                tar_path.write_bytes(archive.stdout)
                with tarfile.open(tar_path) as tar:
                    extract_tree(tar, staging)
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


    def _has_commit(self, mirror: Path, sha: str) -> bool:
        probe = subprocess.run(
            ["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=mirror, capture_output=True,
            check=False, env=self.env,
        )
        return probe.returncode == 0

    def _git(self, args: list[str], cwd: Path | None = None, allow_fail_message: str = "") -> None:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=self.env,
                              check=False)
        if done.returncode != 0:
            if allow_fail_message and allow_fail_message in done.stderr:
                return
            message = re.sub(r"://[^/@\s]*@", "://", done.stderr.strip())
            command = next(a for a in args if not a.startswith("-") and "=" not in a)
            temporary = command == "fetch" and not any(m in message for m in _FETCH_NEVER_WORKS)
            failed = TransientError if temporary else RuntimeFailed  # a fetch may work later
            raise failed(f"git {command} failed: {message}")


def split_credentials(url: str) -> tuple[str, list[str]]:
    """An http(s) URL without its user:password, and the `-c http.extraHeader=...` git
    options that authenticate the same way (Basic) without the secret ever being stored."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.username is None:
        return url, []
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    header = "Authorization: Basic " + base64.b64encode(pair.encode()).decode()
    return bare, ["-c", f"http.extraHeader={header}"]


# --- extracting an archive ------------------------------------------------------------------


def extract_tree(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract `tar` into `dest` safely: tarfile's `data` filter, or the same checks by hand."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
    else:  # Python < 3.11.4 (Debian 12 has 3.11.2)
        extract_checked(tar, dest)


def extract_checked(tar: tarfile.TarFile, dest: Path) -> None:
    """What the `data` filter does, for Pythons without it; an unsafe member raises
    RuntimeFailed naming it and nothing after it is extracted."""
    root = os.path.realpath(dest)
    # Checked above; on Pythons that have filters, say so (no "unfiltered" warning).
    trusted: dict[str, str] = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return real == root or real.startswith(root + os.sep)

    for member in tar.getmembers():
        name = member.name

        def refuse(why: str, name: str = name) -> RuntimeFailed:
            return RuntimeFailed(f"unsafe archive member {name!r}: {why}")

        if name.startswith("/") or os.path.isabs(name):
            raise refuse("absolute path")
        if ".." in Path(name).parts:
            raise refuse("'..' in its path")
        target = os.path.join(root, name)
        if not inside(target):
            raise refuse("leads out of the tree")
        if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
            raise refuse("device or FIFO")
        if member.issym():
            link = member.linkname
            if os.path.isabs(link) or not inside(os.path.join(os.path.dirname(target), link)):
                raise refuse(f"symbolic link to {link!r} out of the tree")
        elif member.islnk():
            if os.path.isabs(member.linkname) or not inside(os.path.join(root, member.linkname)):
                raise refuse(f"hard link to {member.linkname!r} out of the tree")
        elif not (member.isfile() or member.isdir()):
            raise refuse("not a file, directory or link")
        if member.isfile() or member.isdir():
            mode = member.mode & 0o755  # no set-id, sticky or group/other write bits
            member.mode = mode | (0o700 if member.isdir() else 0o600)
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        tar.extract(member, root, set_attrs=not member.issym(), numeric_owner=True, **trusted)  # type: ignore[arg-type]  # `filter` exists from 3.11.4 only: passed through a dict the stub cannot type
