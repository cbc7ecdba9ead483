"""What both queues store of a delivery besides its raw fields: the typed event, parsed once
at intake, in its storage form, and its ordering key.

A row or hash without a stored event (queued by a version that kept the raw body alone) is
read back with `Delivery.parsed` None; the router parses its body once, the old way.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.events import Delivery, decode_event, encode_event, ordering_key


def stored_event(delivery: Delivery) -> str:
    """The delivery's typed event as the queues store it; a delivery must come parsed."""
    if delivery.parsed is None:
        raise ValueError(f"delivery {delivery.id} has no parsed event: parse it at intake")
    return encode_event(delivery.parsed)


def key_of(delivery: Delivery, key: str | None) -> str:
    """The ordering key the intake computed, or else that of the delivery's typed event."""
    if key is not None:
        return key
    if delivery.parsed is None:
        raise ValueError(f"delivery {delivery.id} has no parsed event: parse it at intake")
    return ordering_key(delivery.parsed)


def restored(
    delivery_id: str, event: str, action: str, body: bytes, received_at: str, parsed: str | None
) -> Delivery:
    """A delivery read back from a queue; `parsed` None or empty for a job of the old format."""
    return Delivery(
        id=delivery_id,
        event=event,
        action=action,
        body=body,
        received_at=datetime.fromisoformat(received_at),
        parsed=decode_event(parsed) if parsed else None,
    )
