"""`shipmate serve`: the webhook server with its queue and worker pool in one process.

`run` serves with gunicorn (`bot.server.ShipmateServer`, run in-process, so this command
stays the entry point): a master process that holds the socket and one worker process with
the queue, the job workers, the scheduler and a bounded pool of request threads, with header
and request timeouts, a connection limit and a graceful drain on SIGTERM (see `bot.server`).

With GitHub credentials it also runs the scheduler (`bot.scheduler`: polling, lock sweeps,
drift checks) unless `--no-scheduler` is given.

`build_server` builds the same parts (`bot.wiring.build_server`) behind Werkzeug's threaded server in the calling
process, for the demo sandbox and in-process tests only (it has no header timeout nor
connection limit; it binds where its settings say, the sandbox binds loopback).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot import logs, wiring
from bot.app.workers import WorkerPool
from bot.cli import environment, options
from bot.core.ports import EventQueue
from bot.metrics import ShipmateMetrics
from bot.scheduler import Scheduler
from bot.server import ShipmateServer
from bot.settings import Settings

log = logging.getLogger("shipmate.serve")


class RequestHandler(WSGIRequestHandler):
    """HTTP/1.1; Werkzeug's own messages through `logging` (the app logs the access lines)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No line: `bot.web` logs every answer, with its delivery ID."""

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
            self.pool.stop(timeout=self.settings.queue.lease_seconds)
            self.queue.close()

    def shutdown(self) -> None:
        """Stop serving (call from another thread or a signal handler)."""
        threading.Thread(target=self.http.shutdown, name="shipmate-shutdown", daemon=True).start()


def build_server(settings: Settings, env: Mapping[str, str], *, scheduler: bool = True) -> Server:
    """The parts of `bot.wiring.build_server` behind Werkzeug's threaded server, in this
    process (the demo sandbox and in-process tests; `shipmate serve` runs gunicorn)."""
    parts = wiring.build_server(settings, env, scheduler=scheduler)
    http = make_wsgi_server(settings.http.host, settings.http.port, parts.app)
    return Server(settings, parts.queue, parts.pool, http, parts.metrics, parts.scheduler, parts.bot)


def configure_logging(settings: Settings) -> None:
    """The server's logging: `SHIPMATE_LOG_LEVEL`, in `SHIPMATE_LOG_FORMAT` (JSON unless set; `bot.logs`)."""
    logs.configure(settings.log.level, settings.log.format_for(server=True))


EXAMPLES = """
SHIPMATE_WEBHOOK_SECRET=... GITHUB_TOKEN=... shipmate serve
shipmate serve --listen 127.0.0.1:8080 --workers 4
shipmate serve --config shipmate-server.yaml --no-scheduler   # no polling, lock sweeps or drift checks here
"""


@options.command("serve", "Serve POST /webhooks/github, /healthz, /readyz and /metrics; settings come from "
                 "SHIPMATE_* environment variables and an optional settings file.", EXAMPLES,
                 short="Run the webhook server with its queue and workers.")
@click.option("--config", metavar="FILE", help="Settings file (YAML or TOML); default: $SHIPMATE_CONFIG.")
@click.option("--listen", metavar="HOST:PORT", help="Overrides SHIPMATE_LISTEN.")
@click.option("--workers", type=int, metavar="N", help="Overrides SHIPMATE_WORKERS (checked with the other settings).")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduled jobs (polling, lock sweeps, "
              "drift checks); replicas sharing a Redis queue each run them, once per period across them.")
def command(config: str | None, listen: str | None, workers: int | None, no_scheduler: bool) -> int:
    return run(config, listen, workers, no_scheduler)


def run(config: str | None, listen: str | None, workers: int | None, no_scheduler: bool) -> int:
    overrides = {}
    if listen is not None:
        overrides["SHIPMATE_LISTEN"] = listen
    if workers is not None:
        overrides["SHIPMATE_WORKERS"] = str(workers)
    given = environment.read(config, overrides)
    settings = given.settings
    configure_logging(settings)
    settings.require_webhook_secret()
    server = ShipmateServer(settings, given.env, scheduler=not no_scheduler)
    master = os.getpid()
    try:
        server.run()
    except SystemExit as exc:
        if os.getpid() != master:
            raise  # the worker process ends with gunicorn's own exit status, read by the master
        code = exc.code if isinstance(exc.code, int) else 1
        if code == 0:
            return 0
        print(f"shipmate serve stopped: {_EXIT_REASONS.get(code, f'exit status {code}')}", file=sys.stderr)
        return 2 if code == APP_LOAD_ERROR else 1
    return 0


APP_LOAD_ERROR = 4  # gunicorn's Arbiter.APP_LOAD_ERROR: the worker could not build the app
_EXIT_REASONS = {APP_LOAD_ERROR: "the server could not be set up (see above)",
                 3: "the worker process failed to start (see above)"}
