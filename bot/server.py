"""The production HTTP server of `shipmate serve`: gunicorn, one worker process, threads.

What this module owns:

- `WsgiServer` / `ShipmateServer`: gunicorn's custom application (`BaseApplication`), run
  in-process by `shipmate serve`, so the CLI stays the entry point. The gunicorn master
  process binds the socket and forks ONE worker process; that worker builds the server's
  parts (`load`: `bot.wiring.build_server`, the one composition root), starts the job workers and the scheduler (`post_worker_init`), answers requests
  on a bounded thread pool, and on exit stops them (`worker_exit`). Everything that shares
  memory (queue connection, worker pool, scheduler, metrics) lives in that one process. If the
  worker dies, the master starts a new one; jobs it held are leased again later.
- `BoundedThreadWorker`: gunicorn's `gthread` worker with the limits a public endpoint
  needs. A request head is read by the worker's event loop, not by a thread: a connection
  only reaches a thread once its whole head (request line and headers) has arrived, so
  clients that send half a request hold no thread. A connection that has not sent its whole
  head within `SHIPMATE_HEADER_TIMEOUT_SECONDS` is answered 408 and closed; a request still
  running after `SHIPMATE_REQUEST_TIMEOUT_SECONDS` (a body that trickles in, say) has its
  connection shut down. At most `SHIPMATE_HTTP_MAX_CONNECTIONS` connections are open
  (the rest wait in the kernel's backlog of `SHIPMATE_HTTP_BACKLOG`), and
  `SHIPMATE_HTTP_THREADS` threads answer requests. Heads are capped at `MAX_HEAD_BYTES`,
  the request line at `LIMIT_REQUEST_LINE` bytes, headers at `LIMIT_REQUEST_FIELDS` fields of
  `LIMIT_REQUEST_FIELD_SIZE` bytes (larger: 4xx). One request per connection (no keep-alive:
  GitHub opens a connection per delivery). TLS is the ingress's job: the worker speaks
  plain HTTP/1.1.
- `ShipmateLogger`: gunicorn's messages through the process's `logging` set-up; the access
  line of each request is the app's (`bot.web`, with the delivery ID).

Shutdown: SIGTERM to the master stops accepting, and the worker drains: requests in flight
finish (each within its request timeout), the job workers stop claiming and running jobs get
until `SHIPMATE_GRACEFUL_TIMEOUT_SECONDS` after the signal, less a second. A job still
running then stays leased in the queue and runs again once its lease expires: durable, never
lost. The master kills the worker at the graceful timeout whatever happens, so keep it below
the pod's `terminationGracePeriodSeconds`. SIGINT and SIGQUIT stop at once (jobs stay leased).
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError
from gunicorn.workers.gthread import TConn, ThreadWorker

from bot import wiring
from bot.core.errors import ConfigError
from bot.metrics import LabelledCounter
from bot.settings import Settings

__all__ = [
    "LIMIT_REQUEST_FIELDS",
    "LIMIT_REQUEST_FIELD_SIZE",
    "LIMIT_REQUEST_LINE",
    "MAX_HEAD_BYTES",
    "BoundedThreadWorker",
    "ShipmateLogger",
    "ShipmateServer",
    "WsgiServer",
    "gunicorn_options",
]

log = logging.getLogger("shipmate.serve")

LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 50
LIMIT_REQUEST_FIELD_SIZE = 8190
MAX_HEAD_BYTES = 64 * 1024
WORKER_HEARTBEAT_SECONDS = 30
_STOP_MARGIN_SECONDS = 1.0
_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


# --- gunicorn ------------------------------------------------------------------------------


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """gunicorn's settings for `settings` (see the module docstring)."""
    return {
        "bind": [settings.http.listen],
        "workers": 1,
        "worker_class": BoundedThreadWorker,
        "threads": settings.http.threads,
        "worker_connections": settings.http.max_connections,
        "backlog": settings.http.backlog,
        "keepalive": 0,
        "timeout": WORKER_HEARTBEAT_SECONDS,
        "graceful_timeout": math.ceil(settings.http.graceful_timeout_seconds),
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        "logger_class": ShipmateLogger,
        "loglevel": settings.log.level.lower(),
        "proc_name": "shipmate",
        "control_socket_disable": True,
        "preload_app": False,
    }


class WsgiServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running the WSGI app `factory()` builds in its worker process, with the
    limits of `settings`; `run()` blocks until the server stops (it raises SystemExit)."""

    def __init__(self, settings: Settings, factory: Callable[[], Any]) -> None:
        self.settings = settings
        self.factory = factory
        self.stop_requested: float | None = None  # monotonic time of the worker's SIGTERM
        self.quick_stop = False
        super().__init__(prog="shipmate serve")

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            self.cfg.set(key, value)
        self.cfg.set("post_worker_init", self.started)
        self.cfg.set("worker_exit", self.exited)
        self.cfg.set("worker_int", self.interrupted)

    def load(self) -> Any:
        try:
            return self.factory()
        except ConfigError as exc:  # gunicorn prints it and stops, without a traceback
            raise AppImportError(str(exc)) from exc

    def started(self, worker: Any) -> None:
        """In the worker, once the app is built and before it accepts requests."""
        print(f"shipmate serving on {url_of(worker.sockets[0].getsockname())}", file=sys.stderr, flush=True)

    def stopping(self) -> None:
        """In the worker, right after SIGTERM (on the event loop's thread)."""
        if self.stop_requested is None:
            self.stop_requested = time.monotonic()

    def exited(self, arbiter: Any, worker: Any) -> None:
        """In the worker, after the last request was answered."""

    def interrupted(self, worker: Any) -> None:
        """In the worker, on SIGINT or SIGQUIT: stop at once (from the signal handler)."""
        self.quick_stop = True

    def timed_out(self, phase: str) -> None:
        """In the worker: a connection was closed at its `header` or `request` deadline."""

    def stop_budget(self) -> float:
        """Seconds left before the master's deadline (the graceful timeout after SIGTERM)."""
        since = self.stop_requested if self.stop_requested is not None else time.monotonic()
        return since + self.settings.http.graceful_timeout_seconds - _STOP_MARGIN_SECONDS - time.monotonic()


class ShipmateServer(WsgiServer):
    """`shipmate serve`: the server's parts built in the worker (`bot.wiring.build_server`
    from `settings` and the process environment `env` they were read from), its job workers
    and scheduler started before the first request and drained on SIGTERM."""

    def __init__(self, settings: Settings, env: Mapping[str, str], *, scheduler: bool = True) -> None:
        self.parts: wiring.ServerParts | None = None
        self._drain: threading.Thread | None = None
        self._timeouts: LabelledCounter | None = None
        self._scheduler = scheduler
        self._env = env
        super().__init__(settings, self._build)

    def _build(self) -> Flask:
        self.parts = wiring.build_server(self.settings, self._env, scheduler=self._scheduler)
        self._timeouts = self.parts.metrics.http_timeouts
        return self.parts.app

    def started(self, worker: Any) -> None:
        assert self.parts is not None
        self.parts.start()
        s = self.settings
        print(
            f"shipmate serving on {url_of(worker.sockets[0].getsockname())} (queue: {s.queue.url}, "
            f"workers: {s.queue.workers}, http threads: {s.http.threads}, data: {s.storage.data_dir})",
            file=sys.stderr,
            flush=True,
        )

    def stopping(self) -> None:
        super().stopping()
        if self._drain is None and self.parts is not None:
            # Job workers stop claiming now, while gunicorn drains the requests in flight.
            self._drain = threading.Thread(target=self._stop_parts, name="shipmate-drain", daemon=True)
            self._drain.start()

    def exited(self, arbiter: Any, worker: Any) -> None:
        if self.parts is None:
            return
        if self.quick_stop:
            self.parts.stop(0.0)  # running jobs stay leased
        elif self._drain is None:  # exiting for another reason than SIGTERM
            self._stop_parts()
        else:
            self._drain.join(max(0.0, self.stop_budget()) + 0.5)
        log.info("stopped")

    def timed_out(self, phase: str) -> None:
        if self._timeouts is not None:
            self._timeouts.inc(phase=phase)

    def _stop_parts(self) -> None:
        assert self.parts is not None
        budget = self.stop_budget()
        running = self.parts.pool.in_flight
        log.info("stopping: %d running job(s) get %.0f s to finish", running, max(0.0, budget))
        if not self.parts.stop(budget):
            log.warning("jobs still running at the deadline stay leased and run again after the lease")


class BoundedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker: heads read by the event loop within a deadline, requests cut
    at a deadline (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings: Settings = self.app.settings
        self.header_timeout = settings.http.header_timeout_seconds
        self.request_timeout = settings.http.request_timeout_seconds
        self._heads: dict[_Conn, float] = {}  # event loop only: connections sending their head
        self._running: dict[_Conn, float] = {}  # request deadlines, shared with the threads
        self._running_lock = threading.Lock()

    # Accepting and reading heads (the event loop's thread).

    def accept(self, listener: Any) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client, address, listener.getsockname())
        self._heads[conn] = time.monotonic() + self.header_timeout
        self.poller.register(conn.sock, _EVENT_READ, lambda _sock, c=conn: self._read_head(c))
        self._read_head(conn)

    def _read_head(self, conn: _Conn) -> None:
        try:
            while True:
                data = conn.sock.recv(65536)
                if not data:
                    self._drop(conn)  # the client went away before its request was whole
                    return
                seen = len(conn.head)
                conn.head += data
                start = max(0, seen - 3)
                if conn.head.find(b"\r\n\r\n", start) >= 0 or conn.head.find(b"\n\n", start) >= 0 \
                        or len(conn.head) > MAX_HEAD_BYTES:
                    self._dispatch(conn)  # gunicorn's parser answers 4xx to a head too large
                    return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)

    def _dispatch(self, conn: _Conn) -> None:
        self._heads.pop(conn, None)
        self._unregister(conn)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn: _Conn, answer: bytes = b"") -> None:
        self._heads.pop(conn, None)
        self._unregister(conn)
        if answer:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def _unregister(self, conn: _Conn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def murder_pending(self) -> None:
        """Every turn of the event loop: close heads past their deadline (all of them once
        the worker is stopping) and cut requests past theirs."""
        super().murder_pending()
        now = time.monotonic()
        expired = [c for c, deadline in self._heads.items() if deadline <= now or not self.alive]
        for conn in expired:
            if self.alive:
                self.log.debug("closed %s: no whole request head within %g s", _peer(conn), self.header_timeout)
                self.app.timed_out("header")
            self._drop(conn, _TIMEOUT_408)
        with self._running_lock:
            late = [c for c, deadline in self._running.items() if deadline <= now]
            for conn in late:
                del self._running[conn]
        for conn in late:
            self.log.warning("cut the request of %s: not done within %g s", _peer(conn), self.request_timeout)
            self.app.timed_out("request")
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # Requests (the threads).

    def handle(self, conn: _Conn) -> Any:
        if not conn.initialized:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(conn.head))
            conn.head = bytearray()
        with self._running_lock:
            self._running[conn] = time.monotonic() + self.request_timeout
        try:
            return super().handle(conn)
        finally:
            with self._running_lock:
                self._running.pop(conn, None)

    # Stopping.

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.alive:
            if self.app.stop_requested is None:
                self.app.stop_requested = time.monotonic()
            self.method_queue.defer(self.app.stopping)  # run by the event loop, not in the handler
        super().handle_exit(sig, frame)


class _Conn(TConn):  # type: ignore[misc]
    """A connection with the bytes of its request head read so far."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.head = bytearray()


_EVENT_READ = 1  # selectors.EVENT_READ


def _peer(conn: _Conn) -> str:
    client = conn.client
    return f"{client[0]}:{client[1]}" if isinstance(client, tuple) and len(client) >= 2 else str(client)


def url_of(address: Any) -> str:
    """`http://host:port` of a bound socket address (IPv6 in brackets)."""
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"
    return f"unix:{address}"


class ShipmateLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's log through the root logger's handlers and format, set up by the CLI (the
    access lines are the app's)."""

    def setup(self, cfg: Any) -> None:
        self.cfg = cfg
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self.error_log.propagate = True

    def access(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> None:
        """No line: `bot.web` logs every answer, with its delivery ID."""

    def reopen_files(self) -> None:
        pass

    def close_on_exec(self) -> None:
        pass
