"""Log lines (`bot.logs`): JSON by default in the server and text for people, each carrying
the fields of the work it was logged in; the access line with the delivery ID; a job that
succeeded logged once; secrets masked on the JSON path too. Golden files hold one line of
each format, as an operator reads it."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import logs
from bot.adapters import logmask
from bot.adapters.clock import SystemClock
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.workers import WorkerPool
from bot.core.errors import ConfigError
from bot.core.events import Delivery
from bot.core.mask import MASK, Masker
from bot.metrics import ShipmateMetrics
from bot.settings import Settings
from bot.web import create_app
from tests.golden import assert_golden
from tests.web.helpers import SECRET, encode, headers, payload

GOLDEN = Path(__file__).parent / "golden"
TOKEN = "ghs_logs0123456789abcdef"
MOMENT = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer, as `shipmate serve` sets it up."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    logs.configure("DEBUG", "json", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("shipmate.bot").makeRecord(
        "shipmate.bot", logging.INFO, "runner.py", 1, message, args, None, extra=extra)
    made.created = MOMENT.timestamp()
    made.msecs = 250.0
    return made


def test_a_json_line_and_a_text_line_carry_the_context() -> None:
    context = logs.ContextFilter()
    with logs.bound(delivery="72d3162e-cc78", event="issue_comment", repository="acme/config", pull_request=7,
                    operation="apply"), logs.bound(stack="shop/dev", workspace="dev"):
        as_json = record("apply of %s: %s", "shop/dev", "2 succeeded", outcome="succeeded")
        as_text = record("apply of %s: %s", "shop/dev", "2 succeeded")
        assert context.filter(as_json) and context.filter(as_text)
    assert logs.context() == {}  # the block's fields are gone with it
    line = logs.ShipmateJsonFormatter().format(as_json)
    assert list(json.loads(line)) == ["time", "level", "logger", "message", "outcome", "delivery", "event",
                                      "repository", "pull_request", "operation", "stack", "workspace"]
    assert_golden(GOLDEN / "log-line.json", line + "\n")
    assert_golden(GOLDEN / "log-line.txt", logs.TextFormatter().format(as_text) + "\n")


def test_context_fields_are_checked_and_empty_ones_left_out() -> None:
    with pytest.raises(ValueError, match="not a log context field: repo"):
        logs.bind(repo="acme/config")
    with logs.bound(delivery="d1", repository=None, pull_request=None, stack=""):
        assert logs.context() == {"delivery": "d1"}


def test_tracebacks_stay_masked_on_the_json_path(lines: io.StringIO) -> None:
    before = logmask.installed()
    logmask.install(Masker(own=[TOKEN]))
    try:
        try:
            raise RuntimeError(f"git fetch https://x-access-token:{TOKEN}@github.com/acme/config.git")
        except RuntimeError:
            logging.getLogger("shipmate.workers").exception("fetch with %s failed", TOKEN)
    finally:
        logmask.install(before if before is not None else Masker())
    [line] = records(lines)
    assert TOKEN not in lines.getvalue()
    assert line["message"] == f"fetch with {MASK} failed"
    assert isinstance(line["exception"], str) and line["exception"].endswith(
        f"RuntimeError: git fetch https://x-access-token:{MASK}@github.com/acme/config.git")


def test_the_access_line_names_the_delivery_and_probes_are_quiet(tmp_path: Path, lines: io.StringIO) -> None:
    settings = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": SECRET, "SHIPMATE_DATA_DIR": str(tmp_path)})
    queue = SqliteQueue.in_data_dir(tmp_path)
    try:
        client = create_app(settings, queue, ShipmateMetrics()).test_client()
        body = encode(payload("ping/payload.json"))
        assert client.post("/webhooks/github", data=body, headers=headers("ping", "ping-7", body)).status_code == 202
        assert client.post("/webhooks/github", data=b"{}", headers={
            "X-GitHub-Delivery": "bad-1", "X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=00",
            "Content-Type": "application/json"}).status_code == 401
        assert client.get("/healthz").status_code == 200
    finally:
        queue.close()
    access = [r for r in records(lines) if r["logger"] == "shipmate.http"]
    assert [(r["level"], r["method"], r["path"], r["status"], r.get("delivery"), r.get("event")) for r in access] == [
        ("INFO", "POST", "/webhooks/github", 202, "ping-7", "ping"),
        ("INFO", "POST", "/webhooks/github", 401, "bad-1", "ping"),
        ("DEBUG", "GET", "/healthz", 200, None, None),
    ]
    assert access[0]["message"] == '127.0.0.1 "POST /webhooks/github" 202 (delivery ping-7)'
    assert all(isinstance(r["duration_ms"], float) and isinstance(r["bytes"], int) for r in access)
    [rejected] = [r for r in records(lines) if r["logger"] == "shipmate.web"]
    assert rejected["delivery"] == "bad-1" and str(rejected["message"]).startswith("webhook rejected:")


def test_the_workers_log_a_job_that_succeeded_once_with_its_fields(tmp_path: Path, lines: io.StringIO) -> None:
    queue = SqliteQueue.in_data_dir(tmp_path)
    done = threading.Event()
    seen: list[dict[str, object]] = []

    def handle(delivery: Delivery) -> None:
        seen.append(dict(logs.context()))
        logging.getLogger("shipmate.bot").info("previewing")
        done.set()

    from bot.adapters.github.webhooks import make_delivery
    from bot.core.events import ordering_key
    from tests.web.helpers import pull_request
    delivery = make_delivery("pr-1", "pull_request", encode(pull_request("acme/config", 7, "a" * 40, "opened")),
                             datetime.now(UTC))
    assert delivery.parsed is not None
    queue.put(delivery, ordering_key(delivery.parsed))
    pool = WorkerPool(queue, handle, workers=1, poll_seconds=0.05, clock=SystemClock())
    pool.start()
    try:
        assert done.wait(10)
    finally:
        assert pool.stop(10)
        queue.close()
    fields = {"delivery": "pr-1", "event": "pull_request", "repository": "acme/config", "pull_request": 7}
    assert seen == [fields]
    mine = [r for r in records(lines) if r.get("delivery") == "pr-1"]
    assert [(r["logger"], r["message"].split(" handled in ")[0]) for r in mine] == [  # type: ignore[union-attr]
        ("shipmate.bot", "previewing"), ("shipmate.workers", "delivery pr-1 (pull_request)")]
    assert {k: mine[1][k] for k in fields} == fields
    assert mine[1]["outcome"] == "succeeded" and mine[1]["attempts"] == 1
    assert isinstance(mine[1]["duration_ms"], float) and mine[1]["duration_ms"] >= 0


def test_the_format_is_a_setting_json_for_the_server_text_for_the_cli() -> None:
    assert Settings.from_env({}).log.format_for(server=True) == "json"
    assert Settings.from_env({}).log.format_for(server=False) == "text"
    chosen = Settings.from_env({"SHIPMATE_LOG_FORMAT": "TEXT"}).log
    assert chosen.format_for(server=True) == "text"
    with pytest.raises(ConfigError, match="SHIPMATE_LOG_FORMAT: must be one of json, text, got 'xml'"):
        Settings.from_env({"SHIPMATE_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="log format must be one of json, text"):
        logs.configure("INFO", "xml")
