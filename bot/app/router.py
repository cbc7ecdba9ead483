"""The event router: hands each queued delivery's typed event to the handlers registered for it.

Handlers register per event type (`router.on(PullRequestEvent, handle)`); an event Shipmate
does not act on, or whose type has no handler, is logged and dropped. The worker pool calls
the router; the same router serves the webhook server, the poller's and the scheduler's
events and the GitHub Action.

The router does not parse: the intake parsed each delivery once, and the queue hands back
its typed event (`Delivery.parsed`). Only a job queued by a version that stored the raw body
alone comes without one; `legacy` (the code host's parser) reads its body, once.

Each event's repository (and the App installation it came from) is recorded in the
`RepositoryBook`, so the scheduler's lock sweeps and drift checks cover every repository the
bot has served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bot.core.events import Delivery, Event, Ignored, MalformedEvent, Parsed, PingEvent
from bot.core.ports import RepositoryBook

log = logging.getLogger("shipmate.router")

E = TypeVar("E", bound=Event)


class EventRouter:
    """Dispatches each delivery's typed event to the handlers registered for its type."""

    def __init__(
        self,
        *,
        legacy: Callable[[Delivery], Parsed] | None = None,
        book: RepositoryBook | None = None,
    ) -> None:
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._legacy = legacy
        self._book = book

    def on(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        """Call `handler(event)` for every event of `event_type`, in registration order."""
        self._handlers.setdefault(event_type, []).append(handler)

    def handled_types(self) -> tuple[str, ...]:
        return tuple(sorted(t.__name__ for t in self._handlers))

    def event_of(self, delivery: Delivery) -> Parsed:
        """The delivery's typed event; a job of the old format is parsed here, once."""
        if delivery.parsed is not None:
            return delivery.parsed
        if self._legacy is None:
            raise MalformedEvent(f"delivery {delivery.id} ({delivery.event}) carries no parsed event")
        return self._legacy(delivery)

    def __call__(self, delivery: Delivery) -> None:
        event = self.event_of(delivery)
        if isinstance(event, Ignored):
            log.info("delivery %s ignored: %s", delivery.id, event.reason)
            return
        handlers = self._handlers.get(type(event), [])
        if not handlers:
            log.info("delivery %s: no handler for %s (%s %s)", delivery.id, type(event).__name__,
                     delivery.event, delivery.action or "-")
            return
        if self._book is not None and not isinstance(event, PingEvent):
            self._book.remember(event.repo, event.installation_id)
        for handler in handlers:
            handler(event)
