"""`shipmate serve`: the webhook server with its queue and worker pool in one process.

It builds the queue and the handler (`bot.wiring`), starts the worker pool, and serves the
Flask app (`bot.web`) with Werkzeug's threaded WSGI server: one thread per connection,
HTTP/1.1 requests (chunked bodies included), one request per connection (Werkzeug closes
after each response; GitHub opens a connection per delivery anyway). That server is enough
for the embedded mode: intake only verifies, stores and answers, so a request holds its
thread for milliseconds (`bench/webhooks.py` measures it against a bare Flask endpoint).
To run the app under another WSGI server, build it the way `build_server` does.

With GitHub credentials it also runs the scheduler (`bot.scheduler`: polling, lock sweeps,
drift checks) unless `--no-scheduler` is given.

SIGTERM and SIGINT stop it gracefully: stop accepting, let running handlers finish (up to
the queue lease), close the queue. Jobs still queued wait in the queue for the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot import wiring
from bot.app.workers import WorkerPool
from bot.core.ports import EventQueue
from bot.metrics import ShipmateMetrics
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import create_app

log = logging.getLogger("shipmate.serve")
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")


class RequestHandler(WSGIRequestHandler):
    """HTTP/1.1 and access logs through `logging` (probes at DEBUG)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
        logging.getLogger("shipmate.http").log(
            level, '%s "%s %s" %s %s', self.address_string(), self.command, path, code, size
        )

    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("shipmate.http").warning("%s " + format, self.address_string(), *args)


def make_wsgi_server(host: str, port: int, app: Any) -> BaseWSGIServer:
    """Werkzeug's threaded server for `app` on host:port (port 0: a free one)."""
    return make_server(host, port, app, threaded=True, request_handler=RequestHandler)


@dataclass
class Server:
    """A built, not yet running server: `serve()` blocks until `shutdown()`."""

    settings: Settings
    queue: EventQueue
    pool: WorkerPool
    http: BaseWSGIServer
    metrics: ShipmateMetrics
    scheduler: Scheduler | None = None
    bot: wiring.Bot | None = None

    @property
    def url(self) -> str:
        host = self.http.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.http.server_port}"

    def serve(self) -> None:
        self.pool.start()
        if self.scheduler is not None:
            self.scheduler.start()
        try:
            self.http.serve_forever(poll_interval=0.2)
        finally:
            self.http.server_close()
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=True)
            self.pool.stop(timeout=self.settings.queue_lease_seconds)
            self.queue.close()

    def shutdown(self) -> None:
        """Stop serving (call from another thread or a signal handler)."""
        threading.Thread(target=self.http.shutdown, name="shipmate-shutdown", daemon=True).start()


def build_server(settings: Settings, *, scheduler: bool = True, env: Mapping[str, str] | None = None) -> Server:
    """Queue, bot, workers, web app and (unless `scheduler` is False) the scheduler's jobs;
    `env` (default: the process environment) configures runtimes and secrets."""
    settings.require_webhook_secret()
    queue = wiring.build_queue(settings)
    bot = wiring.build_bot(settings, env)
    handler = bot.handler
    metrics = ShipmateMetrics()
    metrics.watch_queue(lambda: asdict(queue.stats()))
    pool = WorkerPool(
        queue, handler, workers=settings.workers, lease_seconds=settings.queue_lease_seconds, metrics=metrics
    )
    app = create_app(settings, queue, metrics, on_enqueued=pool.notify, ready_checks=[("workers", pool.alive)])
    http = make_wsgi_server(settings.listen_host, settings.listen_port, app)
    jobs = wiring.build_scheduler(settings, bot, queue, pool.notify) if scheduler else None
    return Server(settings, queue, pool, http, metrics, jobs, bot)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.listen is not None:
        env["SHIPMATE_LISTEN"] = args.listen
    if args.workers is not None:
        env["SHIPMATE_WORKERS"] = str(args.workers)
    settings = Settings.from_env(env, args.config)
    configure_logging(settings.log_level)
    server = build_server(settings, scheduler=not args.no_scheduler)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        server.shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"shipmate serving on {server.url} (queue: {settings.queue}, workers: {settings.workers}, "
        f"data: {settings.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    server.serve()
    log.info("stopped")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the webhook server with its queue and workers",
        description="Serve POST /webhooks/github, /healthz, /readyz and /metrics; settings come "
        "from SHIPMATE_* environment variables and an optional settings file.",
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (YAML or TOML); default: $SHIPMATE_CONFIG")
    parser.add_argument("--listen", metavar="HOST:PORT", help="overrides SHIPMATE_LISTEN")
    parser.add_argument("--workers", type=int, metavar="N", help="overrides SHIPMATE_WORKERS")
    parser.add_argument("--no-scheduler", action="store_true",
                        help="do not run the scheduled jobs (polling, lock sweeps, drift checks), e.g. "
                        "on all replicas but one")
    parser.set_defaults(func=run)
