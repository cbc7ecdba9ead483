"""The state branch: a `Store` on an orphan branch of a git repository (GitPython + plumbing).

Reading never walks history and never checks anything out: files are read from the tip
commit's tree through one persistent `git cat-file --batch` (`<tip>:<path>`).

Writing never touches a work tree either. A write builds new blob and tree objects for the
changed paths only (loose objects written straight into the object database), a commit whose
parent is the tip it read, and then moves the branch with compare-and-swap:

- a local repository (bare or not) is written in place and the ref moved with
  `git update-ref <branch> <new> <old>`, which fails if anyone moved it meanwhile;
- a remote (any git URL; credentials in the URL or through GIT_ASKPASS / a credential
  helper) is fetched into a bare cache repository under the data directory and written with
  a plain `git push <url> <commit>:refs/heads/<branch>` (no force), which the remote rejects
  unless its tip is still our commit's parent.

A lost race (ref moved, push rejected) fetches the new tip, re-runs the transaction on it
(so revisions are re-assigned and locks re-checked) and tries again after a jittered,
growing pause (each lost round counted in `shipmate_state_write_conflicts_total` when the store
has metrics). A branch that exists but does not look like a state branch (files other than
README.md, releases/, locks/, drift/ at its root) is refused before anything is written.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import os
import random
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import git
from git.refs.symbolic import SymbolicReference

from bot.core import statelayout as layout
from bot.core.childenv import passed
from bot.core.errors import ConfigError, Problem, ShipmateError, StateConflict, TransientError
from bot.core.statelayout import Done, Write
from bot.metrics import ShipmateMetrics

T = TypeVar("T")

DEFAULT_BRANCH = "shipmate-state"
_ZERO = "0" * 40
_TREE_MODE = b"40000"
_FILE_MODE = b"100644"
_ENTRY = re.compile(rb"(\d+) ([^\0]*)\0(.{20})", re.S)
_URL = re.compile(r"\A(?:[A-Za-z][A-Za-z0-9+.-]*://|[^/:@\s]+@[^/:\s]+:)")
# Trees above this size are stored uncompressed: they are mostly SHA-1 bytes. Blobs (release
# files: YAML) are always compressed, to a fifth or less of their size.
_COMPRESS_BELOW = 64 * 1024
GC_EVERY = 100  # successful writes between `git gc --auto` checks


def is_url(target: str) -> bool:
    return bool(_URL.match(target))


def redact(url: str) -> str:
    """The URL without credentials, for messages and cache keys."""
    return re.sub(r"(?<=://)[^/@]*@", "", url)


class GitStore:
    """A `layout.Store` on branch `branch` of a local repository path or a remote URL."""

    def __init__(
        self,
        target: str,
        branch: str = DEFAULT_BRANCH,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        timeout_seconds: float = 120.0,
        author: tuple[str, str] = ("Shipmate", "shipmate@localhost"),
        stale_lock_seconds: float = 30.0,
        metrics: ShipmateMetrics | None = None,
    ) -> None:
        if not branch or not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or ".." in branch:
            raise ConfigError([Problem("backend.branch", 0, 0, "", f"{branch!r} is not a branch name")])
        self.branch = branch
        self.ref = f"refs/heads/{branch}"
        self.timeout_seconds = timeout_seconds
        self.author = author
        self.stale_lock_seconds = stale_lock_seconds
        self.url: str | None = target if is_url(target) else None
        self.description = f"branch {branch} of {redact(target)}"
        self.attempts = 0  # commits tried, for diagnostics and benchmarks
        self.conflicts = 0  # lost compare-and-swap rounds
        self.metrics = metrics
        self._known_tip: str | None = None
        self._valid_roots: set[str] = set()
        self._trees: dict[str, _Tree] = {}  # parsed trees by id, most recently used last
        self._written = 0
        # GitPython keeps one `git cat-file --batch` process per repository and reads its answers
        # from one pipe: two threads asking at once (a snapshot read outside the backend's lock,
        # such as a lazy `view()`, beside a transaction) can take each other's answer and wait
        # for ever. Every object read goes through this lock.
        self._cat_file = threading.Lock()
        self._trees_lock = threading.Lock()
        if self.url is None:
            self.repo = _open_local(target)
            self._check_not_checked_out()
            self._cache_lock_path: Path | None = None
        else:
            root = Path(data_dir) if data_dir else Path.home() / ".cache" / "shipmate"
            key = hashlib.sha256(redact(self.url).encode()).hexdigest()[:16]
            cache = root / "state" / f"{key}.git"
            self._cache_lock_path = root / "state" / f"{key}.lock"
            cache.parent.mkdir(parents=True, exist_ok=True)
            with self._cache_lock():
                if not (cache / "objects").is_dir():
                    _Repo.init(cache, bare=True)
            self.repo = _Repo(cache)
        self.repo.git.update_environment(GIT_TERMINAL_PROMPT="0")
        self._objects = Path(self.repo.common_dir) / "objects"

    def close(self) -> None:
        self.repo.close()

    # --- Store ----------------------------------------------------------------------------

    def snapshot(self) -> GitSnapshot:
        return self._snapshot(self._tip(fresh=True))

    def transact(self, fn: Callable[[layout.Snapshot], Write[T] | Done[T]]) -> T:
        deadline = time.monotonic() + self.timeout_seconds
        fresh = self.url is None or self._known_tip is None
        tip = self._tip(fresh=fresh)
        rounds = 0
        while True:
            snap = self._snapshot(tip)
            try:
                out = fn(snap)
            except ShipmateError:
                if fresh:
                    raise
                out = None  # decided on a cached tip: decide again on the newest one
            if out is not None and isinstance(out, Done) and fresh:
                return out.result
            if isinstance(out, Write):
                commit = self._commit(tip, out)
                self.attempts += 1
                if self._publish(tip, commit, out.message):
                    self._written += 1
                    if self._written % GC_EVERY == 0:
                        self._maintain()
                    return out.result
                self.conflicts += 1
                if self.metrics is not None:
                    self.metrics.state_conflicts.inc()
                rounds += 1
                if time.monotonic() > deadline:
                    raise StateConflict(
                        f"could not write to {self.description} after {rounds} attempts in "
                        f"{self.timeout_seconds:.0f}s: other writers kept moving it (or a "
                        f"crashed one left {self.ref}.lock behind, removed after "
                        f"{self.stale_lock_seconds:.0f}s)"
                    )
                time.sleep(random.uniform(0, min(0.5, 0.004 * (2 ** min(rounds, 8)))))
            tip = self._tip(fresh=True)
            fresh = True

    # --- reading --------------------------------------------------------------------------

    def _tip(self, fresh: bool) -> str | None:
        if self.url is None:
            try:
                return str(SymbolicReference.dereference_recursive(self.repo, self.ref))
            except ValueError:
                return None
        if fresh or self._known_tip is None:
            self._known_tip = self._fetch()
        return self._known_tip

    def _fetch(self) -> str | None:
        assert self.url is not None
        local = f"refs/shipmate/{self.branch}"
        with self._cache_lock():
            try:
                self.repo.git.fetch("--quiet", "--no-tags", self.url, f"+{self.ref}:{local}")
            except git.GitCommandError as exc:
                text = str(exc.stderr)
                if "couldn't find remote ref" in text or "could not find remote ref" in text:
                    return None
                raise TransientError(  # the remote is unreachable or refused us: try the job later
                    f"cannot fetch {self.description}: {_clean(text, self.url)}"
                ) from None
            try:
                return str(SymbolicReference.dereference_recursive(self.repo, local))
            except ValueError:
                return None

    def _snapshot(self, tip: str | None) -> GitSnapshot:
        snap = GitSnapshot(self, tip)
        if tip is not None:
            self._check_layout(snap)
        return snap

    def _check_layout(self, snap: GitSnapshot) -> None:
        root = snap.root_tree()
        if root in self._valid_roots:
            return
        entries = _parse_tree(self._object(root, "tree"))
        names = [name.decode(errors="replace") + ("/" if mode == _TREE_MODE else "") for mode, name, _ in entries]
        expected = {layout.README: _FILE_MODE, **{d: _TREE_MODE for d in layout.TOP_LEVEL[1:]}}
        strangers = [
            shown for (mode, name, _), shown in zip(entries, names, strict=True)
            if expected.get(name.decode(errors="replace")) != mode
        ]
        if strangers or not entries:
            held = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "") if names else "nothing"
            raise ConfigError(
                [Problem(f"{self.branch}@{snap.tip[:12] if snap.tip else ''}", 0, 0, "",
                         f"{self.description} is not a Shipmate state branch: its root holds "
                         f"{held} (expected only {', '.join([layout.README, *(d + '/' for d in layout.TOP_LEVEL[1:])])}). "
                         "Choose another branch (`backend.branch` in shipmate.yaml, or "
                         "--backend git:<repo>#<branch>); nothing was written")]
            )
        if len(self._valid_roots) > 256:
            self._valid_roots.clear()
        self._valid_roots.add(root)

    def _object(self, ref: str, kind: str) -> bytes:
        with self._cat_file:
            _, found, _, data = self.repo.git.get_object_data(ref)
        if _str(found) != kind:
            raise ValueError(f"{ref} is a {_str(found)}, not a {kind}")
        return bytes(data)

    def _lookup(self, ref: str) -> tuple[str, bytes] | None:
        """(type, data) of `<tip>:<path>`, or None when there is no such path."""
        try:
            with self._cat_file:
                _, kind, _, data = self.repo.git.get_object_data(ref)
        except ValueError:
            return None
        return _str(kind), bytes(data)

    # --- writing --------------------------------------------------------------------------

    def _commit(self, tip: str | None, write: Write[T]) -> str:
        changes: dict[str, bytes | None] = dict(write.changes)
        base_tree = None
        if tip is None:
            changes.setdefault(layout.README, layout.README_TEXT.encode())
        else:
            base_tree = GitSnapshot(self, tip).root_tree()
        tree = self._build_tree(base_tree, changes)
        if tree is None:
            tree = self._put(b"tree", b"")
        name, email = self.author
        stamp = f"{int(time.time())} +0000"
        lines = [f"tree {tree}"]
        if tip is not None:
            lines.append(f"parent {tip}")
        lines.append(f"author {name} <{email}> {stamp}")
        lines.append(f"committer {name} <{email}> {stamp}")
        body = "\n".join(lines) + "\n\n" + write.message.rstrip("\n") + "\n"
        return self._put(b"commit", body.encode())

    def _build_tree(self, base: str | None, changes: Mapping[str, bytes | None]) -> str | None:
        """The tree `base` with `changes` applied (paths relative to it); None when empty.

        Only the trees along changed paths are rebuilt, by splicing entries into the parent
        tree's bytes, so a directory with 10,000 releases costs a copy, not a re-sort.
        """
        tree = self._tree(base) if base is not None else _Tree.empty()
        groups: dict[str, dict[str, bytes | None]] = {}
        for path, data in changes.items():
            head, _, rest = path.partition("/")
            if rest:
                groups.setdefault(head, {})[rest] = data
            elif data is None:
                tree = tree.without(head.encode())
            else:
                tree = tree.with_entry(head.encode(), _FILE_MODE, bytes.fromhex(self._put(b"blob", data)))
        for head, sub in groups.items():
            key = head.encode()
            current = tree.get(key)
            child_base = current[1].hex() if current and current[0] == _TREE_MODE else None
            child = self._build_tree(child_base, sub)
            if child is None:
                tree = tree.without(key)
            else:
                tree = tree.with_entry(key, _TREE_MODE, bytes.fromhex(child))
        if not tree.keys:
            return None
        sha = self._put(b"tree", tree.raw)
        self._remember(sha, tree)
        return sha

    def _tree(self, sha: str) -> _Tree:
        with self._trees_lock:
            tree = self._trees.pop(sha, None)
        if tree is None:
            tree = _Tree.parse(self._object(sha, "tree"))
        self._remember(sha, tree)
        return tree

    def _remember(self, sha: str, tree: _Tree) -> None:
        with self._trees_lock:  # threads share the cache (see `_cat_file`)
            self._trees[sha] = tree
            while len(self._trees) > 16:
                del self._trees[next(iter(self._trees))]

    def _put(self, kind: bytes, data: bytes) -> str:
        """Write a loose object (atomically: temp file + rename) and return its id."""
        header = b"%s %d\0" % (kind, len(data))
        digest = hashlib.sha1(header)
        digest.update(data)
        sha = digest.hexdigest()
        folder = self._objects / sha[:2]
        target = folder / sha[2:]
        if target.exists():
            return sha
        level = 1 if kind != b"tree" or len(data) < _COMPRESS_BELOW else 0
        packer = zlib.compressobj(level)
        try:
            fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=folder)
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(packer.compress(header))
                out.write(packer.compress(data))
                out.write(packer.flush())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            with _suppress_oserror():
                os.unlink(tmp)
            raise
        return sha

    def _publish(self, old: str | None, new: str, message: str) -> bool:
        """Move the branch from `old` to `new`; False when someone else moved it first."""
        if self.url is None:
            try:
                self.repo.git.update_ref("-m", message.splitlines()[0], self.ref, new, old or _ZERO)
            except git.GitCommandError as exc:
                text = str(exc.stderr)
                if "Unable to create" in text and ".lock" in text:
                    self._break_stale_ref_lock()
                    return False
                if "cannot lock ref" in text or "but expected" in text:
                    return False
                raise StateConflict(f"cannot update {self.description}: {_clean(text)}") from None
            return True
        try:
            self.repo.git.push("--porcelain", "--quiet", self.url, f"{new}:{self.ref}")
        except git.GitCommandError as exc:
            text = f"{exc.stdout}\n{exc.stderr}"
            retry = ("[rejected]", "non-fast-forward", "fetch first", "cannot lock ref",
                     "failed to update ref", "stale info", "[remote rejected]")
            if any(marker in text for marker in retry):
                return False
            raise TransientError(f"cannot push to {self.description}: {_clean(text, self.url)}") from None
        self._known_tip = new
        return True

    def _maintain(self) -> None:
        """`git gc --auto`: plumbing writes never trigger it, so loose objects would pile up.

        It returns at once when there is little to do and otherwise packs in the background
        (git detaches it); it only prunes objects unreachable for weeks, never ours in flight.
        """
        try:
            self.repo.git.gc("--auto", "--quiet")
        except git.GitCommandError:
            pass  # housekeeping; the next round tries again

    def _break_stale_ref_lock(self) -> None:
        """Remove the branch's `.lock` file when it is older than any live update could be.

        `git update-ref` holds it for microseconds; one left behind means its writer died
        mid-update (a killed machine), and git would refuse every later update.
        """
        lock = Path(self.repo.common_dir) / f"{self.ref}.lock"
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if age > self.stale_lock_seconds:
            with _suppress_oserror():
                lock.unlink()

    # --- helpers --------------------------------------------------------------------------

    def _check_not_checked_out(self) -> None:
        if self.repo.bare:
            return
        try:
            head = self.repo.head.reference.path
        except TypeError:  # detached HEAD
            return
        if head == self.ref:
            raise ConfigError(
                [Problem(str(self.repo.working_dir), 0, 0, "backend.branch",
                         f"{self.branch} is checked out here; the state branch must not be the "
                         "branch of a work tree")]
            )

    @contextmanager
    def _cache_lock(self) -> Iterator[None]:
        assert self._cache_lock_path is not None
        with open(self._cache_lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class GitSnapshot:
    """The files of one commit of the state branch (or of none, before the first write)."""

    def __init__(self, store: GitStore, tip: str | None) -> None:
        self.store = store
        self.tip = tip
        self._root: str | None = None

    @property
    def version(self) -> str:
        """The commit shown ("" before the branch's first write): what readers cache by."""
        return self.tip or ""

    def root_tree(self) -> str:
        if self._root is None:
            assert self.tip is not None
            head = self.store._object(self.tip, "commit").split(b"\n", 1)[0]
            self._root = head.split(b" ")[1].decode()
        return self._root

    def read(self, path: str) -> bytes | None:
        if self.tip is None:
            return None
        found = self.store._lookup(f"{self.tip}:{path}")
        if found is None or found[0] != "blob":
            return None
        return found[1]

    def list_dir(self, path: str) -> tuple[str, ...]:
        if self.tip is None:
            return ()
        found = self.store._lookup(f"{self.tip}:{path}")
        if found is None or found[0] != "tree":
            return ()
        return tuple(sorted(name.decode(errors="replace") for _, name, _ in _parse_tree(found[1])))

    def ids(self, path: str) -> dict[str, str]:
        """Names directly inside `path` with their object ids (a name's id changes exactly
        when something under it does): what readers cache one stack's files by."""
        if self.tip is None:
            return {}
        found = self.store._lookup(f"{self.tip}:{path}")
        if found is None or found[0] != "tree":
            return {}
        return {name.decode(errors="replace"): sha.hex() for _, name, sha in _parse_tree(found[1])}

    def label(self, path: str) -> str:
        return f"{self.store.branch}:{path}"


class _Tree:
    """A raw tree object plus its entries' sort keys and byte sizes, for cheap edits.

    Git orders entries by name, comparing a directory as if its name ended in `/`; `keys`
    holds exactly that, so `bisect` finds an entry or its insertion point, and the entry's
    byte offset is the sum of the sizes before it.
    """

    __slots__ = ("raw", "keys", "sizes")

    def __init__(self, raw: bytes, keys: list[bytes], sizes: list[int]) -> None:
        self.raw = raw
        self.keys = keys
        self.sizes = sizes

    @classmethod
    def empty(cls) -> _Tree:
        return cls(b"", [], [])

    @classmethod
    def parse(cls, raw: bytes) -> _Tree:
        keys: list[bytes] = []
        sizes: list[int] = []
        for mode, name, _ in _ENTRY.findall(raw):
            keys.append(name + b"/" if mode == _TREE_MODE else name)
            sizes.append(len(mode) + len(name) + 22)
        if sum(sizes) != len(raw):
            raise ValueError("malformed tree object")
        return cls(raw, keys, sizes)

    def _find(self, name: bytes) -> int | None:
        for key in (name, name + b"/"):
            i = bisect.bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                return i
        return None

    def get(self, name: bytes) -> tuple[bytes, bytes] | None:
        """(mode, binary sha) of the entry `name`, or None."""
        i = self._find(name)
        if i is None:
            return None
        start = sum(self.sizes[:i])
        entry = self.raw[start : start + self.sizes[i]]
        return entry[: entry.index(b" ")], entry[-20:]

    def without(self, name: bytes) -> _Tree:
        i = self._find(name)
        if i is None:
            return self
        start = sum(self.sizes[:i])
        raw = self.raw[:start] + self.raw[start + self.sizes[i] :]
        return _Tree(raw, self.keys[:i] + self.keys[i + 1 :], self.sizes[:i] + self.sizes[i + 1 :])

    def with_entry(self, name: bytes, mode: bytes, sha: bytes) -> _Tree:
        base = self.without(name)
        key = name + b"/" if mode == _TREE_MODE else name
        i = bisect.bisect_left(base.keys, key)
        start = sum(base.sizes[:i])
        entry = b"%s %s\0%s" % (mode, name, sha)
        keys = base.keys[:i] + [key] + base.keys[i:]
        sizes = base.sizes[:i] + [len(entry)] + base.sizes[i:]
        return _Tree(base.raw[:start] + entry + base.raw[start:], keys, sizes)


def _parse_tree(raw: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """Entries of a raw tree object: (mode, name, binary sha)."""
    return _ENTRY.findall(raw)


def _str(value: str | bytes) -> str:
    """GitPython hands back object types as bytes although it declares str."""
    return value.decode() if isinstance(value, bytes) else str(value)


# git's own ways to authenticate, kept for the state branch (an operator's deploy key or
# askpass program); everything else outside `bot.core.childenv`'s allowlist is dropped.
_GIT_KEEPS = frozenset(
    {"GIT_TERMINAL_PROMPT", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_SSH", "GIT_SSH_COMMAND", "SSH_AUTH_SOCK"}
)
_ENV_PROGRAM = shutil.which("env")


class _Git(git.Git):
    """GitPython starts git with the process environment plus its own additions; this one
    starts it through `env -u NAME ... git`, dropping every variable `bot.core.childenv`
    does not pass (the GitHub token, the webhook secrets, the salt, ...). Only names are
    on the command line, never values."""

    GIT_PYTHON_GIT_EXECUTABLE = _ENV_PROGRAM or git.Git.GIT_PYTHON_GIT_EXECUTABLE

    def __init__(self, working_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(working_dir)
        if _ENV_PROGRAM is not None:
            drop = sorted(n for n in os.environ if not passed(n) and n not in _GIT_KEEPS)
            options = [part for name in drop for part in ("-u", name)]
            self._persistent_git_options = [*options, str(git.Git.GIT_PYTHON_GIT_EXECUTABLE)]


class _Repo(git.Repo):
    GitCommandWrapperType = _Git


def _open_local(target: str) -> git.Repo:
    path = Path(target).expanduser()
    try:
        return _Repo(path)
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        raise ConfigError(
            [Problem(str(path), 0, 0, "backend", "is not a git repository (expected a bare "
                     "repository, a work tree's root, or a git URL)")]
        ) from None


def _clean(text: str, url: str | None = None) -> str:
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if url:
        text = text.replace(url, redact(url))
    return re.sub(r"(?<=://)[^/@\s]*@", "", text)


@contextmanager
def _suppress_oserror() -> Iterator[None]:
    try:
        yield
    except OSError:
        pass
