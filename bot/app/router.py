"""The event router: parses a queued delivery into a typed event and calls its handlers.

Handlers register per event type (`router.on(PullRequestEvent, handle)`); a delivery whose
event Shipmate does not act on, or whose type has no handler, is logged and dropped. The
worker pool calls the router; the same router serves the webhook server, the poller's
synthetic deliveries and the GitHub Action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bot.core.events import Delivery, Event, Ignored, parse_event

log = logging.getLogger("shipmate.router")

E = TypeVar("E", bound=Event)


class EventRouter:
    """Parses deliveries and dispatches each typed event to the handlers registered for it."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def on(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        """Call `handler(event)` for every event of `event_type`, in registration order."""
        self._handlers.setdefault(event_type, []).append(handler)

    def handled_types(self) -> tuple[str, ...]:
        return tuple(sorted(t.__name__ for t in self._handlers))

    def __call__(self, delivery: Delivery) -> None:
        event = parse_event(delivery)
        if isinstance(event, Ignored):
            log.info("delivery %s ignored: %s", delivery.id, event.reason)
            return
        handlers = self._handlers.get(type(event), [])
        if not handlers:
            log.info("delivery %s: no handler for %s (%s %s)", delivery.id, type(event).__name__,
                     delivery.event, delivery.action or "-")
            return
        for handler in handlers:
            handler(event)
