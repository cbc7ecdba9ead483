"""A config repository on in-memory adapters, with the bot built over them as a server builds
it (`bot.wiring.build_bot` with `Adapters`), and the events GitHub would send.

Everything below the entry point is real: the code host, checkouts, state backend and
runtime are the `bot.adapters.memory` implementations of the ports, and each event goes
through `bot.app.workers.run_once`, the rules the job workers apply (a failure that ends the
job is reported on the pull request or commit). Tests assert only what ends up on the code
host (comments, statuses, reactions), in the state backend (releases, locks, drift) and in
the runtime's world: never how the bot gets there.

The repository `acme/config` has one project `shop` with stacks `dev` and `prod`, each with
an app `web` whose accessories are `Memory` objects in this test's world (`notes` in dev,
`site` in prod). `alice` is an admin, `bob` may write, `carol` maintains, `eve` may only read.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.adapters.memory import MemoryAdapters
from bot.adapters.memory.codehost import Status
from bot.adapters.memory.runtime import WORLD_KEY, World, worlds
from bot.app.services import Access
from bot.app.workers import JobFailure, run_once
from bot.core.events import (
    CheckDrift,
    IssueCommentEvent,
    Parsed,
    PullRequestEvent,
    PushEvent,
    SweepLocks,
    delivery_of,
)
from bot.core.lock import Lock
from bot.core.ports import PullRequestInfo
from bot.core.release import Release
from bot.metrics import ShipmateMetrics
from bot.settings import Settings
from bot.wiring import Adapters, build_bot
from tests.conftest import ManualClock

REPO = "acme/config"
BOT = "shipmate[bot]"
STATE_BRANCH = "shipmate-state"
PREVIEW, APPLY, DRIFT = "shipmate/preview", "shipmate/apply", "shipmate/drift"


def app(**objects: Mapping[str, Any]) -> str:
    """`main.yaml` of a stack whose app `web` has these Memory objects as accessories."""
    accessories = {name: {"_type": "memory.Object", **attrs} for name, attrs in objects.items()}
    return yaml.safe_dump({"web": {"accessories": accessories}}, sort_keys=True)


def object_id(name: str) -> str:
    return f"memory:object:web-{name}"


class Bench:
    """One repository, its bot and its world (see the module docstring)."""

    def __init__(self, tmp_path: Path, world: str, *, settings: str = "", env: Mapping[str, str] | None = None,
                 metrics: ShipmateMetrics | None = None) -> None:
        self.clock = ManualClock()
        self.memory = MemoryAdapters(self.clock, login=BOT)
        self.host = self.memory.host
        worlds.forget(world)
        self.world: World = worlds.open(world)
        self.world_name = world
        self.ids = itertools.count(1)
        files = {
            "workspaces/dev.yaml": yaml.safe_dump({"context": {WORLD_KEY: world}}),
            "workspaces/prod.yaml": yaml.safe_dump({"context": {WORLD_KEY: world}}),
            "shop/project.yaml": "name: shop\n",
            "shop/dev/stack.yaml": "name: dev\n",
            "shop/dev/main.yaml": app(notes={"text": "hello"}),
            "shop/prod/stack.yaml": "name: prod\n",
            "shop/prod/main.yaml": app(site={"text": "hello"}),
            "README.md": "# config\n",
        }
        if settings:
            files["shipmate.yaml"] = settings
        self.host.create_repo(REPO, files)
        for login, role in (("alice", "admin"), ("bob", "write"), ("carol", "maintain"), ("eve", "read")):
            self.host.grant(REPO, login, role)
        access = Access(self.host, self.memory.checkouts, self.memory.backend)
        built = build_bot(
            # Statuses written as they are set (no pending delay): the tests read every one in order.
            Settings.from_env({"SHIPMATE_DATA_DIR": str(tmp_path / "data"), "SHIPMATE_GITHUB_PENDING_DELAY": "0",
                               **(env or {})}), {},
            adapters=Adapters(access_for=lambda repo, installation: access, reader=self.memory.reader),
            metrics=metrics,
        )
        self.handler = built.handler

    # -- what people do ------------------------------------------------------------------------
    def files(self, ref: str = "main") -> dict[str, str]:
        return dict(self.host.files(REPO, ref))

    def open(self, changes: Mapping[str, str | None], *, author: str = "bob", deliver: bool = True,
             **options: Any) -> PullRequestInfo:
        """A pull request changing files of the default branch (None removes one), delivered."""
        pr = self.host.open_pull_request(REPO, self.changed(self.files(), changes), author=author, **options)
        if deliver:
            self.deliver(self.pull_event(pr, "opened"))
        return pr

    def update(self, pr: PullRequestInfo, changes: Mapping[str, str | None]) -> PullRequestInfo:
        files = self.changed(dict(self.host.files(REPO, pr.head_sha)), changes)
        pr = self.host.update_pull_request(REPO, pr.number, files)
        self.deliver(self.pull_event(pr, "synchronize"))
        return pr

    def say(self, login: str, pr: PullRequestInfo, body: str) -> int:
        """`login` comments `body` on the pull request; the comment's ID."""
        comment = self.host.comment_as(login, REPO, pr.number, body)
        self.deliver(IssueCommentEvent(
            delivery_id=self.next_id(), action="created", repo=REPO, default_branch="main",
            comment_id=comment.id, body=body, author=login, author_is_bot=False,
            author_association="MEMBER", issue_number=pr.number, is_pull_request=True, sender=login,
            installation_id=None,
        ))
        return comment.id

    def merge(self, pr: PullRequestInfo) -> str:
        """Merge the pull request: GitHub sends the closed pull request and the push."""
        before = self.host.branch_head(REPO, pr.base_ref)
        sha = self.host.merge(REPO, pr.number)
        self.deliver(self.pull_event(self.host.pull_request(REPO, pr.number), "closed"))
        self.deliver(self.push_event(pr.base_ref, before, sha, self.host.changed_files(REPO, pr.number)))
        return sha

    def push(self, changes: Mapping[str, str | None], branch: str = "main") -> str:
        """A direct push to `branch`, delivered."""
        before = self.host.branch_head(REPO, branch)
        old = self.files(branch)
        files = self.changed(old, changes)
        sha = self.host.push(REPO, branch, files)
        paths = tuple(sorted(p for p in set(old) | set(files) if old.get(p) != files.get(p)))
        self.deliver(self.push_event(branch, before, sha, paths))
        return sha

    def close(self, pr: PullRequestInfo) -> None:
        self.deliver(self.pull_event(self.host.close(REPO, pr.number), "closed"))

    def sweep(self) -> JobFailure | None:
        return self.deliver(SweepLocks(delivery_id=self.next_id(), repo=REPO, installation_id=None))

    def check_drift(self) -> JobFailure | None:
        due = self.clock.now().isoformat().replace("+00:00", "Z")
        return self.deliver(CheckDrift(delivery_id=self.next_id(), repo=REPO, installation_id=None, due=due))

    # -- events ----------------------------------------------------------------------------------
    def next_id(self) -> str:
        return f"delivery-{next(self.ids)}"

    def pull_event(self, pr: PullRequestInfo, action: str, *, sender: str | None = None) -> PullRequestEvent:
        return PullRequestEvent(
            delivery_id=self.next_id(), action=action, repo=REPO, default_branch="main", number=pr.number,
            title=pr.title, author=pr.author, sender=sender or pr.author, draft=pr.draft, merged=pr.merged,
            merge_commit_sha=pr.merge_commit_sha, head_sha=pr.head_sha, head_ref=pr.head_ref,
            head_repo=pr.head_repo or None, base_ref=pr.base_ref, base_sha=pr.base_sha, is_fork=pr.is_fork,
            installation_id=None,
        )

    def push_event(self, branch: str, before: str, after: str, paths: Any) -> PushEvent:
        return PushEvent(
            delivery_id=self.next_id(), repo=REPO, default_branch="main", ref=f"refs/heads/{branch}",
            before=before, after=after, created=False, deleted=False, forced=False, pusher="bob",
            sender="bob", head_commit_message="change", changed_paths=tuple(paths), installation_id=None,
        )

    def deliver(self, event: Parsed) -> JobFailure | None:
        """Run the event as a job worker would (one attempt); the failure that ended it, if any."""
        return run_once(self.handler, delivery_of(event, self.clock.now()), attempts=1)

    # -- what the bot left -------------------------------------------------------------------------
    def bodies(self, pr: PullRequestInfo, *, after: int = 0) -> list[str]:
        """The bot's comments on the pull request, oldest first (those after comment `after`)."""
        return [c.body for c in self.host.comments(REPO, pr.number) if c.author == BOT and c.id > after]

    def status(self, sha: str, context: str = PREVIEW) -> tuple[str, str] | None:
        found: Status | None = self.host.status(sha, context)
        return None if found is None else (found.state, found.description)

    def releases(self, stack: str = "dev") -> tuple[Release, ...]:
        return self.memory.backend(REPO, STATE_BRANCH).list("shop", stack)

    def locks(self) -> tuple[Lock, ...]:
        return self.memory.backend(REPO, STATE_BRANCH).list_locks()

    def state_file(self, path: str) -> bytes | None:
        return self.memory.backend(REPO, STATE_BRANCH).store.snapshot().read(path)

    @staticmethod
    def changed(files: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
        out = dict(files)
        for path, text in changes.items():
            if text is None:
                out.pop(path, None)
            else:
                out[path] = text
        return out
