"""The one place that builds adapters from settings: the event queue and the event handler.

`build_handler(settings)` returns the callable the worker pool gives each delivery. It is
the dispatch point of the bot: an `EventRouter` that parses the delivery into a typed event
and calls the handlers registered for its type. The pull-request workflow and the comment
commands register theirs here; until a type has one, its events are logged as unhandled.

`SHIPMATE_HANDLER=module:factory` replaces the whole handler: `factory(settings)` must
return a `handle(delivery) -> None` callable. It is the extension point for deployments that
process events their own way (and what the intake tests use to record deliveries).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bot.adapters.queue import RetryPolicy
from bot.app.stacks import StackIdentity
from bot.app.workers import Handler
from bot.core.errors import ConfigError, Problem
from bot.core.events import Delivery, Event, Ignored, PingEvent, parse_event
from bot.core.ports import EventQueue, Runtime
from bot.core.spec import KUBERNETES, TERRAFORM
from bot.settings import ENVIRONMENT, Settings

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


def _log_ping(event: PingEvent) -> None:
    log.info("webhook %s is set up for %s: %s", event.hook_id, event.repo or "an organisation or App", event.zen)


def build_router(settings: Settings) -> EventRouter:
    """The router with every handler Shipmate has; the PR workflow registers here."""
    router = EventRouter()
    router.on(PingEvent, _log_ping)
    return router


def build_handler(settings: Settings) -> Handler:
    """The handler the workers call: `SHIPMATE_HANDLER`'s factory, or Shipmate's router."""
    if settings.handler:
        return load_handler(settings.handler, settings)
    return build_router(settings)


def load_handler(spec: str, settings: Settings) -> Handler:
    """Import `module:factory` and return `factory(settings)`."""

    def problem(message: str) -> ConfigError:
        return ConfigError([Problem(ENVIRONMENT, 0, 0, "SHIPMATE_HANDLER", message)])

    module_name, _, factory_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise problem(f"cannot import {module_name}: {exc}") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise problem(f"{spec} is not a callable factory")
    try:
        handler = factory(settings)
    except Exception as exc:
        raise problem(f"{spec}(settings) failed: {type(exc).__name__}: {exc}") from exc
    if not callable(handler):
        raise problem(f"{spec}(settings) did not return a callable")
    return handler  # type: ignore[no-any-return]


def build_queue(settings: Settings) -> EventQueue:
    """SQLite in the data directory, or Redis for `redis://`, `rediss://` and `unix://` URLs."""
    retry = RetryPolicy(max_attempts=settings.queue_max_attempts)
    if settings.queue == "sqlite":
        from bot.adapters.queue.sqlite import SqliteQueue

        return SqliteQueue.in_data_dir(settings.data_dir, retry=retry)
    try:
        from bot.adapters.queue.redis import RedisQueue
    except ImportError:
        raise ConfigError([Problem(ENVIRONMENT, 0, 0, "SHIPMATE_QUEUE",
                                   "a Redis queue needs the redis package: pip install 'shipmate[redis]'")]) from None
    return RedisQueue.from_url(settings.queue, retry=retry)


# --- runtimes -----------------------------------------------------------------------------


class _LazyRuntimes(Mapping[str, Runtime]):
    """Runtimes by resource type, each built on first use (a Terraform-only stack never
    needs a kubeconfig)."""

    def __init__(self, builders: Mapping[str, Callable[[], Runtime]]) -> None:
        self._builders = builders
        self._built: dict[str, Runtime] = {}
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> Runtime:
        with self._lock:
            if key not in self._built:
                self._built[key] = self._builders[key]()
            return self._built[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def build_runtime_factory(
    env: Mapping[str, str], *, cache_dir: Path, concurrency: int = 10, base_dir: Path | None = None
) -> Callable[[StackIdentity, Mapping[str, object]], Mapping[str, Runtime]]:
    """Runtimes for a stack: Kubernetes from the workspace context (or KUBECONFIG, or
    in-cluster), Terraform in a working directory per project/stack/workspace under
    `cache_dir`. Built runtimes are reused for the same stack and context."""
    from bot.adapters.kubernetes.runtime import KubernetesRuntime
    from bot.adapters.terraform.runtime import TerraformSettings

    terraform = TerraformSettings.from_env(env, cache_dir=cache_dir)
    cache: dict[tuple[str, str, str, str], Mapping[str, Runtime]] = {}
    guard = threading.Lock()

    def factory(identity: StackIdentity, context: Mapping[str, object]) -> Mapping[str, Runtime]:
        key = (identity.project, identity.stack, identity.workspace, json.dumps(context, sort_keys=True, default=str))
        with guard:
            if key not in cache:
                cache[key] = _LazyRuntimes({
                    KUBERNETES: lambda: KubernetesRuntime.from_context(
                        context, env, base_dir=base_dir, concurrency=concurrency
                    ),
                    TERRAFORM: lambda: terraform.runtime(
                        identity.project, identity.stack, identity.workspace, context
                    ),
                })
            return cache[key]

    return factory
