"""The queue of pull requests waiting for a stack's lock, first in first out.

When `/apply` finds a stack locked by another pull request it waits in line instead of
failing (`/apply --no-wait` keeps the refusal). The line of each project+workspace lives on
the state branch beside its lock, `queues/<project>/<workspace>.yaml`, written in the same
compare-and-swap transactions as the lock, so every replica and CI runner sees one line:

```yaml
project: shop
workspace: dev
waiting:
- pullRequest: 12
  actor: bob            # who asked; the apply runs as their /apply when its turn comes
  commentId: 4000012    # the comment that asked (its reactions and reply)
  command: /apply -p shop -s dev   # what runs as theirs when the lock frees
  queuedAt: '2026-12-05T15:00:00Z'
  expiresAt: '2026-12-06T15:00:00Z'
- pullRequest: 14       # a merged pull request whose apply on merge waits (`merge`)
  actor: carol          # who merged it
  commentId: null
  command: /apply
  merge: {commit: 5d6e7f8..., stacks: [shop/dev]}   # the merge commit and its stacks' paths
  queuedAt: '2026-12-05T15:10:00Z'
  expiresAt: '2026-12-06T15:10:00Z'
```

A pull request is in a line at most once (asking again keeps its place); `/unlock`, closing
or merging it takes its `/apply` out of every line (a merge's own entry leaves only with
`/unlock`, its turn or its expiry); an entry past `expiresAt` (`lockQueue.expiry` in
shipmate.yaml, default a day after it was queued) is dropped when the line is next read. When
the lock is freed, the first entry leaves the line and its apply runs (`bot.app.waiting`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import parse_time, rfc3339
from bot.core.release import StateChecker
from bot.core.yamlio import dump_data, load_data

DEFAULT_WAIT = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Waiting:
    """One pull request waiting for the lock."""

    pull_request: int
    actor: str
    comment_id: int | None
    queued_at: datetime
    expires_at: datetime
    command: str = "/apply"
    # A merged pull request's apply on merge waiting: the merge commit and the paths of the
    # stacks it changed ("" and (): an `/apply` of an open pull request).
    merge_commit: str = ""
    stacks: tuple[str, ...] = ()

    @property
    def is_merge(self) -> bool:
        return bool(self.merge_commit)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pullRequest": self.pull_request, "actor": self.actor, "commentId": self.comment_id,
                               "command": self.command}
        if self.is_merge:
            out["merge"] = {"commit": self.merge_commit, "stacks": list(self.stacks)}
        return {**out, "queuedAt": rfc3339(self.queued_at), "expiresAt": rfc3339(self.expires_at)}


@dataclass(frozen=True, slots=True)
class LockQueue:
    """The line for one project+workspace's lock, oldest first."""

    project: str
    workspace: str
    waiting: tuple[Waiting, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.project}/{self.workspace}"

    def position(self, pull_request: int) -> int | None:
        """1 for the first in line; None when the pull request is not waiting."""
        for index, entry in enumerate(self.waiting, start=1):
            if entry.pull_request == pull_request:
                return index
        return None

    def join(self, entry: Waiting) -> LockQueue:
        """The line with `entry` at its end, or unchanged when its pull request waits already."""
        if self.position(entry.pull_request) is not None:
            return self
        return replace(self, waiting=(*self.waiting, entry))

    def leave(self, pull_request: int, merges: bool = False) -> LockQueue:
        """The line without `pull_request`'s `/apply` (and, with `merges`, its merge's entry)."""
        return replace(self, waiting=tuple(e for e in self.waiting if e.pull_request != pull_request
                                           or (e.is_merge and not merges)))

    def behind_first(self) -> LockQueue:
        """The line once its first entry's turn came (that entry out, whatever its kind)."""
        return replace(self, waiting=self.waiting[1:])

    def live(self, now: datetime) -> LockQueue:
        """The line without the entries that expired by `now`."""
        return replace(self, waiting=tuple(e for e in self.waiting if e.expires_at > now))

    def to_yaml(self) -> str:
        return dump_data({"project": self.project, "workspace": self.workspace,
                          "waiting": [e.to_dict() for e in self.waiting]})

    @classmethod
    def from_yaml(cls, text: str, source: str = "") -> LockQueue:
        data = load_data(source, text, invalid="not valid YAML")
        check = StateChecker(source, text)
        if not isinstance(data, Mapping):
            raise check.error("", "expected a queue mapping")
        project, workspace = data.get("project"), data.get("workspace")
        if not isinstance(project, str) or not isinstance(workspace, str):
            raise check.error("project", "expected project and workspace names")
        raw = data.get("waiting") or []
        if not isinstance(raw, list):
            raise check.error("waiting", "expected a list")
        entries: list[Waiting] = []
        for index, item in enumerate(raw):
            try:
                comment = item.get("commentId")
                merge = item.get("merge") or {}
                stacks = merge.get("stacks") if isinstance(merge, Mapping) else "not a mapping"
                if not isinstance(stacks, list | None):
                    raise TypeError("merge: expected {commit, stacks: [...]}")
                stacks = stacks or []
                entries.append(Waiting(int(item["pullRequest"]), str(item["actor"]),
                                       None if comment is None else int(comment),
                                       parse_time(item["queuedAt"]), parse_time(item["expiresAt"]),
                                       str(item.get("command") or "/apply"), str(merge.get("commit") or ""),
                                       tuple(str(p) for p in stacks)))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise check.error(f"waiting[{index}]", f"malformed entry: {exc}") from None
        return cls(project, workspace, tuple(entries))


def ordinal(n: int) -> str:
    """`1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`: a place in line."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
