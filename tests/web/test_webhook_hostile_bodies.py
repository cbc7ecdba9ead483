"""Correctly signed but hostile webhook bodies: deep nesting, huge integers, non-JSON
constants and GitHub-shaped payloads with wrong types all get 400 with a reason, never 500,
and nothing is queued."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.adapters.github.webhooks import delivery_key, make_delivery, parse_event
from bot.core import jsonlimits
from bot.core.events import Delivery, MalformedEvent
from tests.web.helpers import SECRET, comment, encode, headers, pull_request, push
from tests.web.test_webhooks import URL, Env

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
HUGE_INT = b'{"action": "opened", "number": ' + b"7" * 5_000 + b"}"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.queue.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (DEEP_ARRAY, "nested deeper than 64 levels"),
        (DEEP_OBJECT, "nested deeper than 64 levels"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nested deeper than 64 levels"),
        (HUGE_INT, "an integer of more than 40 digits"),
        (b'{"action": "opened", "n": NaN}', "NaN is not a JSON value"),
        (b'{"action": "opened", "n": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"action": "\xff"}', "not UTF-8 text"),
        (b'{"action": ', "not valid JSON"),
        (b"[1, 2]", "body is not a JSON object"),
    ],
)
def test_hostile_json_gets_400_with_the_reason(env: Env, body: bytes, reason: str) -> None:
    response = env.post("pull_request", "guid-h", body)
    assert response.status_code == 400, response.data[:200]
    assert response.json is not None and response.json["reason"] == "malformed_body"
    assert reason in response.json["message"]
    assert env.queue.stats().pending == 0


def test_hostile_json_in_a_form_encoded_body_gets_400(env: Env) -> None:
    body = b"payload=" + quote(DEEP_ARRAY.decode()).encode()
    response = env.post("push", "guid-f", body, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert response.json is not None and "nested deeper than 64 levels" in response.json["message"]


def test_a_long_form_encoded_payload_is_decoded_in_bounded_memory(env: Env) -> None:
    import tracemalloc

    raw = b'[{"a":' * 200_000 + b"1"  # 1.2 MB; 3.6 MB percent-encoded
    body = b"payload=" + quote(raw.decode(), safe="").encode()
    tracemalloc.start()
    try:
        response = env.post("push", "guid-m", body, **{"Content-Type": "application/x-www-form-urlencoded"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert peak < 40 * 1024 * 1024, peak  # parse_qs took 230 MB for this body
    assert jsonlimits.form_field(b"a=1&payload=%7B%22x%22%3A+1%7D&b=2", "payload") == b'{"x": 1}'
    assert jsonlimits.form_field(b"apayload=1", "payload") is None


def test_too_many_objects_and_arrays_are_refused_before_decoding(env: Env) -> None:
    body = b'{"action": "opened", "x": [' + b"{}," * 100_000 + b"{}]}"
    response = env.post("pull_request", "guid-n", body)
    assert response.status_code == 400
    assert response.json is not None and "more than 100000 objects and arrays" in response.json["message"]


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return out


PR = pull_request("acme/config", 4, "a" * 40)
PUSH = push("acme/config", "refs/heads/main", "b" * 40)
COMMENT = comment("acme/config", 4, 99, "/preview")


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("pull_request", _with(PR, "pull_request.number", "4")),
        ("pull_request", _with(PR, "pull_request.head", ["not", "an", "object"])),
        ("pull_request", _with(PR, "pull_request.head.repo.full_name", 7)),
        ("pull_request", _with(PR, "pull_request.draft", "yes")),
        ("pull_request", _with(PR, "repository", 12)),
        ("pull_request", _with(PR, "action", {"opened": True})),
        ("pull_request", _with(PR, "installation", {"id": 1.5})),
        ("issue_comment", _with(COMMENT, "comment.body", ["/apply"])),
        ("issue_comment", _with(COMMENT, "issue.number", True)),
        ("push", _with(PUSH, "ref", None)),
        ("push", _with(PUSH, "commits", "all of them")),
        ("push", _with(PUSH, "head_commit", {"message": 5})),
        ("ping", {"zen": ["x"], "hook_id": "1"}),
    ],
)
def test_github_shaped_payloads_with_wrong_types_get_400(env: Env, event: str, body: dict[str, Any]) -> None:
    raw = encode(body)
    response = env.client.post(URL, data=raw, headers=headers(event, "guid-t", raw, SECRET))
    assert response.status_code in (400, 202), response.data[:300]
    if response.status_code == 400:
        assert response.json is not None and response.json["reason"] == "malformed_body"
    assert env.queue.stats().pending == (1 if response.status_code == 202 else 0)


def test_the_core_parser_says_why_and_orders_refused_bodies_alone() -> None:
    from datetime import UTC, datetime

    with pytest.raises(MalformedEvent, match="body refused: nested deeper than 64 levels"):
        make_delivery("d", "push", DEEP_ARRAY, datetime.now(UTC))
    stored = Delivery("d", "push", "", DEEP_OBJECT, datetime.now(UTC))  # as a worker reads it back
    with pytest.raises(MalformedEvent, match="nested deeper"):
        parse_event(stored)
    assert delivery_key(stored) == "!malformed:d"


def test_bounded_json_accepts_what_github_sends() -> None:
    text = json.dumps(PR)
    assert jsonlimits.loads(text) == PR
    assert jsonlimits.loads(b'{"id": 9223372036854775807, "f": 1e400}') == {"id": 2**63 - 1, "f": float("inf")}
    nested = '{"a":' * 64 + "1" + "}" * 64
    assert jsonlimits.loads(nested) is not None
    with pytest.raises(jsonlimits.JSONRefused, match="more than 3 digits"):
        jsonlimits.loads("[1234]", max_int_digits=3)
