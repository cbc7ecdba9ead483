"""Fuzz: webhook intake on generated hostile bodies, correctly signed.

Bodies are deep, huge-numbered, not JSON, truncated, random, or GitHub's own example payloads
with one value anywhere inside replaced by a generated one (wrong types where Shipmate reads
fields). Each goes through the real Flask app (a SQLite queue in a temp dir) with a valid
`X-Hub-Signature-256`: the answer is never 5xx, every 400 carries a reason, and the memory a
request takes stays bounded. The pure parser is driven the same way: it raises nothing but
`MalformedEvent`. Deterministic (`derandomize`) and bounded in time (`max_examples`) for CI.
"""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.github.webhooks import delivery_key, parse_event
from bot.core.events import Delivery, MalformedEvent
from tests.fuzz.strategies import JSON_VALUES, hostile_json, mutate
from tests.web.helpers import PAYLOADS, SECRET, headers
from tests.web.test_webhooks import URL, Env

MEMORY_LIMIT = 64 * 1024 * 1024
EXAMPLES = {
    "pull_request": ["pull_request/synchronize.payload.json", "pull_request/opened.payload.json",
                     "pull_request/closed.payload.json"],
    "issue_comment": ["issue_comment/created.payload.json"],
    "push": ["push/with-new-branch.payload.json"],
    "ping": ["ping/payload.json"],
}
SHAPES = [
    (event, json.loads((PAYLOADS / name).read_text()))
    for event, names in EXAMPLES.items() for name in names if (PAYLOADS / name).exists()
]
EVENTS = st.sampled_from(["pull_request", "issue_comment", "push", "ping", "check_run", "installation"])
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
_ids = itertools.count()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("intake"))
    yield e
    e.queue.close()


# The fields Shipmate reads (bot/core/events.py), where a wrong type matters most.
READ_FIELDS = [
    "action", "repository", "repository.full_name", "repository.default_branch", "pull_request",
    "pull_request.number", "pull_request.title", "pull_request.user.login", "pull_request.draft",
    "pull_request.merged", "pull_request.merge_commit_sha", "pull_request.head", "pull_request.head.sha",
    "pull_request.head.ref", "pull_request.head.repo", "pull_request.head.repo.full_name",
    "pull_request.base.ref", "pull_request.base.sha", "pull_request.base.repo.full_name", "comment",
    "comment.id", "comment.body", "comment.user", "comment.user.type", "comment.author_association",
    "issue.number", "issue.pull_request", "sender", "sender.login", "ref", "before", "after", "created",
    "deleted", "forced", "pusher", "pusher.name", "head_commit", "head_commit.message", "commits",
    "installation", "installation.id", "hook_id", "zen",
]


def _set(document: Any, path: str, value: Any) -> Any:
    if not isinstance(document, dict):
        return document
    head, _, rest = path.partition(".")
    out = dict(document)
    out[head] = _set(out.get(head, {}), rest, value) if rest else value
    return out


@st.composite
def shaped_payload(draw: st.DrawFn) -> tuple[str, bytes]:
    event, document = draw(st.sampled_from(SHAPES))
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            document = _set(document, draw(st.sampled_from(READ_FIELDS)), draw(JSON_VALUES))
        else:
            document = mutate(document, draw)
    return event, json.dumps(document).encode()


def _post(env: Env, event: str, body: bytes, form: bool = False) -> Any:
    delivery_id = f"fuzz-{next(_ids)}"
    hdrs = headers(event, delivery_id, body, SECRET)
    if form:
        from urllib.parse import quote_from_bytes

        body = b"payload=" + quote_from_bytes(body).encode()
        hdrs = {**headers(event, delivery_id, body, SECRET), "Content-Type": "application/x-www-form-urlencoded"}
    tracemalloc.start()
    try:
        response = env.client.post(URL, data=body, headers=hdrs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code < 500, (response.status_code, response.data[:300])
    assert peak < MEMORY_LIMIT, f"peak {peak} bytes"
    if response.status_code == 400:
        assert response.json is not None and response.json["reason"] and response.json["message"]
    return response


def _parse_only_malformed(event: str, body: bytes) -> None:
    delivery = Delivery(f"d-{next(_ids)}", event, "", body, datetime.now(UTC))
    try:
        parse_event(delivery)
    except MalformedEvent:
        pass
    assert delivery_key(delivery)


@FUZZ
@given(event=EVENTS, body=hostile_json(), form=st.booleans())
def test_hostile_bodies_never_get_a_5xx(env: Env, event: str, body: bytes, form: bool) -> None:
    _post(env, event, body, form)
    _parse_only_malformed(event, body)


@FUZZ
@given(shaped=shaped_payload())
def test_github_payloads_with_wrong_types_never_get_a_5xx(env: Env, shaped: tuple[str, bytes]) -> None:
    event, body = shaped
    response = _post(env, event, body)
    assert response.status_code in (200, 202, 400)
    _parse_only_malformed(event, body)


def test_the_payload_shapes_are_there() -> None:
    assert {event for event, _ in SHAPES} == set(EXAMPLES), [str(p) for p in Path(PAYLOADS).iterdir()]
