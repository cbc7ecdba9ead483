"""A delivery is parsed once, at intake: the webhook app parses it, the queue stores the typed
event with the ordering key the intake computed, and the router hands that event to its
handler without parsing the body again. Only a job queued by the previous version (no stored
event) is parsed by the router, once.

Parses are counted by behaviour: the router's `legacy` parser is the only parser it has, and
it is wrapped to count its calls.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.github.webhooks import parse_event
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.router import EventRouter
from bot.core.events import (
    Delivery,
    IssueCommentEvent,
    Parsed,
    PingEvent,
    PullRequestEvent,
    PushEvent,
)
from bot.metrics import ShipmateMetrics
from bot.settings import Settings, StorageSettings, WebhookSettings
from bot.web import create_app
from tests.web.helpers import SECRET, comment, encode, headers, payload, pull_request, push


@dataclass
class Counting:
    """The router's parser for old-format jobs, counting how often it is asked."""

    calls: list[str] = field(default_factory=list)

    def __call__(self, delivery: Delivery) -> Parsed:
        self.calls.append(delivery.id)
        return parse_event(delivery)


@dataclass
class World:
    queue: SqliteQueue
    post: Callable[[str, str, bytes], Any]
    parses: Counting
    router: EventRouter
    seen: list[Any]
    remembered: dict[str, int | None]


class Book:
    def __init__(self, into: dict[str, int | None]) -> None:
        self.into = into

    def remember(self, repo: str, installation_id: int | None) -> None:
        self.into[repo] = installation_id

    def repositories(self) -> dict[str, int | None]:
        return dict(sorted(self.into.items()))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    queue = SqliteQueue.in_data_dir(tmp_path)
    settings = Settings(webhook=WebhookSettings(secrets=(SECRET,)), storage=StorageSettings(data_dir=tmp_path))
    client = create_app(settings, queue, ShipmateMetrics()).test_client()
    parses = Counting()
    remembered: dict[str, int | None] = {}
    router = EventRouter(legacy=parses, book=Book(remembered))
    seen: list[Any] = []
    for kind in (PullRequestEvent, IssueCommentEvent, PushEvent, PingEvent):
        router.on(kind, seen.append)

    def post(event: str, delivery_id: str, body: bytes) -> Any:
        return client.post("/webhooks/github", data=body, headers=headers(event, delivery_id, body))

    yield World(queue, post, parses, router, seen, remembered)
    queue.close()


def drain(world: World) -> list[str]:
    keys = []
    while (job := world.queue.claim("w1", 30)) is not None:
        keys.append(job.key)
        world.router(job.delivery)
        world.queue.complete(job)
    return keys


def test_each_event_type_is_parsed_at_intake_only(world: World) -> None:
    deliveries = [
        ("pull_request", "pr-1", encode(pull_request("acme/config", 4, "a" * 40))),
        ("issue_comment", "c-1", encode(comment("acme/config", 4, 99, "/preview"))),
        ("push", "p-1", encode(push("acme/config", "refs/heads/main", "b" * 40))),
        ("ping", "ping-1", encode(payload("ping/payload.json"))),
    ]
    for event, delivery_id, body in deliveries:
        assert world.post(event, delivery_id, body).status_code == 202
    keys = drain(world)
    assert world.parses.calls == []  # the router parsed nothing: the queue handed back typed events
    assert [type(e) for e in world.seen] == [PullRequestEvent, IssueCommentEvent, PushEvent, PingEvent]
    assert [e.delivery_id for e in world.seen] == ["pr-1", "c-1", "p-1", "ping-1"]
    assert keys[:3] == ["acme/config#4", "acme/config#4", "acme/config@refs/heads/main"]
    pr, note, pushed = world.seen[:3]
    assert (pr.number, pr.head_sha, note.body, pushed.after) == (4, "a" * 40, "/preview", "b" * 40)
    assert "acme/config" in world.remembered  # the router recorded the repository


def test_the_queue_row_holds_the_event_and_the_key_the_intake_computed(world: World, tmp_path: Path) -> None:
    assert world.post("pull_request", "pr-9", encode(pull_request("Acme/Config", 9, "c" * 40))).status_code == 202
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        key, parsed = db.execute("SELECT key, parsed FROM jobs WHERE delivery_id = 'pr-9'").fetchone()
    assert key == "acme/config#9"
    assert parsed.startswith('{"action":"synchronize"') and '"type":"PullRequestEvent"' in parsed


def test_a_job_of_the_old_format_is_parsed_once_by_the_router(world: World, tmp_path: Path) -> None:
    assert world.post("pull_request", "old-1", encode(pull_request("acme/config", 5, "d" * 40))).status_code == 202
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:  # as the previous version stored it
        db.execute("UPDATE jobs SET parsed = NULL WHERE delivery_id = 'old-1'")
    drain(world)
    assert world.parses.calls == ["old-1"]
    assert [(type(e), e.number) for e in world.seen] == [(PullRequestEvent, 5)]


def test_a_router_without_a_parser_refuses_an_old_job_loudly() -> None:
    from datetime import UTC, datetime

    from bot.core.events import MalformedEvent

    router = EventRouter()
    with pytest.raises(MalformedEvent, match="carries no parsed event"):
        router(Delivery("old-2", "push", "", b"{}", datetime.now(UTC)))
