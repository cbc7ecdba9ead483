"""Where things live on a state backend (Kusion's layout) and the storage seam under it.

```
README.md                                        what this branch is (git only)
releases/<project>/<workspace>/.metadata.yml     latestRevision, releaseMetaDatas[{revision, stack}]
releases/<project>/<workspace>/<revision>.yaml   one Release per apply/destroy attempt
locks/<project>/<workspace>.yaml                 lastToken and the holder (owner, PR, run, lease)
drift/<project>/<workspace>.yaml                 last drift check
previews/<pull request>.yaml                     the pull request's latest preview, per stack
queues/<project>/<workspace>.yaml                pull requests waiting for the lock, in order
```

`Store` is what the backend logic (`bot.core.statebackend`) needs from a medium: a consistent
`Snapshot` to read, and `transact`, which runs a function on the newest snapshot and
atomically applies the `Write` it returns, re-running it from scratch on a newer snapshot
when another writer got there first. The Git state branch and a plain directory
(`bot.adapters.gitstate`) and memory (`bot.adapters.memory`) implement it. Pure: paths and
protocols only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bot.core.errors import ConfigError, Problem
from bot.core.release import valid_name

T = TypeVar("T")

RELEASES = "releases"
LOCKS = "locks"
DRIFT = "drift"
PREVIEWS = "previews"
QUEUES = "queues"
README = "README.md"
INDEX = ".metadata.yml"
TOP_LEVEL = (README, RELEASES, LOCKS, DRIFT, PREVIEWS, QUEUES)

README_TEXT = """\
# Shipmate state

This branch is Shipmate's state backend and audit log; Shipmate writes it, people read it.
Every commit is one recorded change, with a message saying what it was.

    releases/<project>/<workspace>/.metadata.yml     latestRevision and the revision list
    releases/<project>/<workspace>/<revision>.yaml   one release per apply or destroy attempt
    locks/<project>/<workspace>.yaml                 who holds the lock, until when, fencing token
    drift/<project>/<workspace>.yaml                 the last drift check
    previews/<pull request>.yaml                     a pull request's latest preview, per stack

The release files use Kusion's format. Use `shipmate release list|show|unlock` rather than
editing them by hand.
"""


def check_name(kind: str, value: str) -> None:
    """Names become path segments: letters, digits, `.`, `_`, `-`, not starting with `.`."""
    if not isinstance(value, str) or not valid_name(value):
        raise ConfigError(
            [Problem(kind, 0, 0, "", f"{value!r} is not a valid {kind} name (letters, digits, . _ -)")]
        )


def check_key(project: str, workspace: str) -> None:
    check_name("project", project)
    check_name("workspace", workspace)


def release_dir(project: str, workspace: str) -> str:
    return f"{RELEASES}/{project}/{workspace}"


def index_path(project: str, workspace: str) -> str:
    return f"{release_dir(project, workspace)}/{INDEX}"


def release_path(project: str, workspace: str, revision: int) -> str:
    return f"{release_dir(project, workspace)}/{revision}.yaml"


def lock_path(project: str, workspace: str) -> str:
    return f"{LOCKS}/{project}/{workspace}.yaml"


def drift_path(project: str, workspace: str) -> str:
    return f"{DRIFT}/{project}/{workspace}.yaml"


def queue_path(project: str, workspace: str) -> str:
    return f"{QUEUES}/{project}/{workspace}.yaml"


def previews_path(pull_request: int) -> str:
    return f"{PREVIEWS}/{int(pull_request)}.yaml"


class Snapshot(Protocol):
    """One consistent view of the backend's files. A medium that can name the version a
    snapshot shows (the state branch: its commit id) gives it a `version` string, and one
    that can name each directory's and file's version (git: object ids) an `ids(path)`
    method, names inside `path` -> id; readers cache by them
    (`bot.core.statebackend.SnapshotView`). A directory can do neither."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when there is no such file."""
        ...

    def list_dir(self, path: str) -> tuple[str, ...]:
        """Names directly inside `path` (directories too), sorted; empty when absent."""
        ...

    def label(self, path: str) -> str:
        """How to name `path` in error messages (`shipmate-state:releases/a/b/3.yaml`)."""
        ...


@dataclass(frozen=True, slots=True)
class Write(Generic[T]):
    """Files to put (bytes) or remove (None), the commit message, and what to return."""

    changes: Mapping[str, bytes | None]
    message: str
    result: T
    order: tuple[str, ...] = field(default=())

    def ordered(self) -> list[tuple[str, bytes | None]]:
        """Changes in commit-point order: listed paths last, in the given order."""
        late = [p for p in self.order if p in self.changes]
        early = sorted(p for p in self.changes if p not in late)
        return [(p, self.changes[p]) for p in (*early, *late)]


class Done(Generic[T]):
    """Returned by a transaction function that has nothing to write."""

    def __init__(self, result: T) -> None:
        self.result = result


class Store(Protocol):
    """A medium the backend logic runs on (git state branch, directory)."""

    description: str

    def snapshot(self) -> Snapshot: ...

    def transact(self, fn: Callable[[Snapshot], Write[T] | Done[T]]) -> T:
        """Run `fn` on the newest snapshot and apply its Write atomically (retrying `fn`)."""
        ...
