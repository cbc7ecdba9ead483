"""The provider-neutral events: their storage form round-trips every event exactly, the
scheduler's events order per repository, and a delivery the bot made carries its event."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.events import (
    EVENT_NAMES,
    CheckDrift,
    Ignored,
    MalformedEvent,
    Parsed,
    PullRequestEvent,
    PushEvent,
    SweepLocks,
    decode_event,
    delivery_of,
    encode_event,
    ordering_key,
)

WHEN = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

_text = st.text(max_size=20)
_ints = st.integers(min_value=-(2**53), max_value=2**53)
_BY_TYPE: dict[str, st.SearchStrategy[object]] = {
    "str": _text,
    "int": _ints,
    "bool": st.booleans(),
    "str | None": st.none() | _text,
    "int | None": st.none() | _ints,
    "tuple[str, ...]": st.lists(_text, max_size=4).map(tuple),
    "tuple[int, ...]": st.lists(_ints, max_size=4).map(tuple),
}


def _event(cls: type[Parsed]) -> st.SearchStrategy[Parsed]:
    return st.builds(cls, **{f.name: _BY_TYPE[str(f.type)] for f in fields(cls)})


events = st.one_of(*(_event(t) for t in (*EVENT_NAMES, Ignored)))


@given(events)
def test_the_storage_form_round_trips_every_event(event: Parsed) -> None:
    text = encode_event(event)
    assert decode_event(text) == event
    assert encode_event(decode_event(text)) == text  # deterministic


def test_the_storage_form_refuses_what_it_did_not_write() -> None:
    for text in ("nope", "[]", '{"type": "Unknown"}', '{"type": "SweepLocks", "repo": "a/b"}'):
        with pytest.raises(MalformedEvent):
            decode_event(text)


def test_the_schedulers_events_order_per_repository() -> None:
    sweep = SweepLocks("locks:Acme/Config:1", "Acme/Config", None)
    drift = CheckDrift("drift:acme/config:t", "acme/config", 7, "2026-03-02T06:00:00Z")
    assert ordering_key(sweep) == ordering_key(drift) == "acme/config"
    pr = PullRequestEvent("d", "opened", "acme/config", "main", 1, "", "a", "a", False, False, None,
                          "s", "f", "acme/config", "main", "b", False, None)
    assert ordering_key(pr) == "acme/config#1" != ordering_key(sweep)


def test_a_delivery_the_bot_made_carries_its_event_and_no_body() -> None:
    push = PushEvent("poll-1", "acme/config", "main", "refs/heads/main", "a", "b", False, False, False,
                     "", "", "", (), None)
    delivery = delivery_of(push, WHEN)
    assert (delivery.id, delivery.event, delivery.action, delivery.body) == ("poll-1", "push", "", b"")
    assert delivery.parsed is push
    drift = delivery_of(CheckDrift("drift:x", "acme/config", None, "t"), WHEN)
    assert (drift.event, drift.parsed) == ("check_drift", CheckDrift("drift:x", "acme/config", None, "t"))
