"""`shipmate serve` as a process, its settings errors, and the router `bot.wiring` builds."""

from __future__ import annotations

import http.client
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.github.webhooks import make_delivery
from bot.app.router import EventRouter
from bot.core.errors import ConfigError
from bot.core.events import IssueCommentEvent, PingEvent
from bot.settings import QueueSettings, Settings, StorageSettings
from bot.wiring import build_handler, build_queue
from tests.web.helpers import ROOT, SECRET, ServerProcess, comment, encode, headers, payload

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIPMATE_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=60,
    )


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    result = run_cli({"SHIPMATE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip() == "environment: SHIPMATE_WEBHOOK_SECRET: is required: the server refuses to accept unsigned webhooks"


def test_serve_reports_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    result = run_cli({"SHIPMATE_WEBHOOK_SECRET": "x", "SHIPMATE_DATA_DIR": str(tmp_path)}, "--workers", "0",
                     "--listen", "nowhere")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "environment: SHIPMATE_WORKERS: must be between 1 and 256, got 0",
        "environment: SHIPMATE_LISTEN: must be host:port (e.g. 0.0.0.0:8080), got 'nowhere'",
    ]


def get(server: ServerProcess, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_a_served_delivery_reaches_the_router(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    server = ServerProcess({"SHIPMATE_WEBHOOK_SECRET": SECRET, "SHIPMATE_DATA_DIR": str(tmp_path / "data"),
                            "SHIPMATE_LOG_LEVEL": "INFO"}, log)
    try:
        assert get(server, "/healthz") == (200, '{"status":"ok"}\n')
        assert get(server, "/readyz") == (200, '{"status":"ready"}\n')
        body = encode(payload("ping/payload.json"))
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        conn.request("POST", "/webhooks/github", body=body, headers=headers("ping", "ping-1", body))
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())["status"]) == (202, "queued")
        # an oversized body sent in chunks, without a Content-Length, over real HTTP
        conn.putrequest("POST", "/webhooks/github")
        for name, value in headers("ping", "ping-2", b"").items():
            conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(30):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close the connection as soon as it has answered 413
        assert conn.getresponse().status == 413
        conn.close()
        deadline = time.monotonic() + 30
        while "webhook 109948940 is set up for Octocoders/Hello-World" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.02)
        status, metrics = get(server, "/metrics")
        assert status == 200
        lines = metrics.splitlines()
        assert 'shipmate_webhook_deliveries_total{event="ping",outcome="queued"} 1.0' in lines
        assert 'shipmate_webhook_rejected_total{reason="too_large"} 1.0' in lines
        assert 'shipmate_jobs_processed_total{event="ping"} 1.0' in lines
        assert 'shipmate_queue_jobs{state="done"} 1.0' in lines
    finally:
        assert server.stop() == 0
    # JSON lines by default; the printed "serving on" line is the only other one
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    said = {(r["logger"], r["message"]) for r in records}
    assert ("gunicorn.error", "Handling signal: term") in said and ("shipmate.serve", "stopped") in said
    [access] = [r for r in records if r["logger"] == "shipmate.http" and r.get("delivery") == "ping-1"]
    assert (access["method"], access["path"], access["status"], access["event"]) == ("POST", "/webhooks/github",
                                                                                      202, "ping")
    [handled] = [r for r in records if r["logger"] == "shipmate.workers" and r.get("delivery") == "ping-1"]
    assert handled["outcome"] == "succeeded" and handled["event"] == "ping"


def test_router_dispatches_by_type_and_logs_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    router = EventRouter()
    seen: list[object] = []
    router.on(IssueCommentEvent, seen.append)
    router.on(IssueCommentEvent, lambda e: seen.append(e.comment_id))
    assert router.handled_types() == ("IssueCommentEvent",)
    with caplog.at_level(logging.INFO, logger="shipmate.router"):
        router(make_delivery("c1", "issue_comment", encode(comment("acme/config", 3, 77, "/help")), NOW))
        router(make_delivery("p1", "ping", encode(payload("ping/payload.json")), NOW))
        router(make_delivery("x1", "check_run", encode(payload("check_run/rerequested.payload.json")), NOW))
    assert isinstance(seen[0], IssueCommentEvent) and seen[1] == 77
    messages = [r.getMessage() for r in caplog.records]
    assert "delivery p1: no handler for PingEvent (ping -)" in messages
    assert "delivery x1 ignored: check_run action 'rerequested' is not handled" in messages


def test_the_default_handler_answers_pings(caplog: pytest.LogCaptureFixture) -> None:
    handler = build_handler(Settings(), {})
    assert isinstance(handler, EventRouter) and PingEvent.__name__ in handler.handled_types()
    with caplog.at_level(logging.INFO, logger="shipmate.router"):
        handler(make_delivery("p1", "ping", encode(payload("ping/payload.json")), NOW))
    assert any("is set up for Octocoders/Hello-World" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.web.nope:build", "cannot import tests.web.nope"),
        ("tests.web.helpers:nothing", "tests.web.helpers:nothing is not a callable factory"),
        ("tests.web.helpers:encode", r"helpers:encode\(settings\) failed: TypeError"),
        ("builtins:str", r"builtins:str\(settings\) did not return a callable"),
    ],
)
def test_handler_extension_point_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_handler(Settings(queue=QueueSettings(handler=spec)), {})


def test_build_queue_picks_the_adapter(tmp_path: Path, redis_url: str) -> None:
    sqlite = build_queue(Settings(storage=StorageSettings(data_dir=tmp_path)))
    assert type(sqlite).__name__ == "SqliteQueue" and (tmp_path / "queue.sqlite3").exists()
    sqlite.close()
    redis = build_queue(Settings(queue=QueueSettings(url=redis_url)))
    redis.ping()
    assert type(redis).__name__ == "RedisQueue"
    redis.close()


def test_the_server_parts_come_from_the_one_composition_root(tmp_path: Path) -> None:
    from bot.wiring import build_server

    with pytest.raises(ConfigError, match="SHIPMATE_WEBHOOK_SECRET: is required"):
        build_server(Settings(storage=StorageSettings(data_dir=tmp_path)), {})
    settings = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": SECRET, "SHIPMATE_DATA_DIR": str(tmp_path),
                                  "SHIPMATE_WORKERS": "3"})
    parts = build_server(settings, {})
    assert parts.settings is settings and parts.scheduler is None  # no GitHub credentials: no scheduled jobs
    assert parts.pool.workers == 3 and parts.bot is not None
    client = parts.app.test_client()
    assert client.get("/healthz").status_code == 200
    parts.start()
    assert parts.stop(5.0)  # no job running: stopped, and the queue closed


def test_every_command_reads_its_settings_the_same_way(tmp_path: Path) -> None:
    from bot.cli import environment

    config = tmp_path / "settings.yaml"
    config.write_text("workers: 2\nstack_concurrency: 3\n")
    given = environment.read(str(config), {"SHIPMATE_WORKERS": "5"})
    assert (given.settings.queue.workers, given.settings.bot.stack_concurrency) == (5, 3)  # the environment wins
    assert given.env["SHIPMATE_WORKERS"] == "5" and given.settings.config_file == config
    with pytest.raises(ConfigError, match="SHIPMATE_WORKERS: must be an integer"):
        environment.read(None, {"SHIPMATE_WORKERS": "many"})
