"""Webhook intake: signatures, replays, size and shape checks, allowlist, health and metrics.

The app runs on a real SQLite queue in a temp dir; requests go through Flask's test client
(the HTTP server itself is exercised by test_serve_burst.py)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bot.adapters.clock import SystemClock
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.workers import WorkerPool
from bot.core.errors import ConfigError
from bot.core.events import Delivery
from bot.metrics import ShipmateMetrics
from bot.settings import BotSettings, Settings, StorageSettings, WebhookSettings
from bot.web import create_app, signature, verify_signature
from tests.web.helpers import SECRET, comment, encode, headers, payload, pull_request

URL = "/webhooks/github"


class Env:
    def __init__(self, tmp_path: Path, *, max_body_bytes: int = WebhookSettings.max_body_bytes) -> None:
        self.settings = Settings(webhook=WebhookSettings(secrets=(SECRET, "the old secret"), max_body_bytes=max_body_bytes),
                                 storage=StorageSettings(data_dir=tmp_path), bot=BotSettings(repositories=("acme/*",)))
        self.queue = SqliteQueue.in_data_dir(tmp_path)
        self.metrics = ShipmateMetrics()
        self.metrics.watch_queue(lambda: asdict(self.queue.stats()))
        self.wakeups = 0
        self.app = create_app(self.settings, self.queue, self.metrics, on_enqueued=self._wake)
        self.client: FlaskClient = self.app.test_client()

    def _wake(self) -> None:
        self.wakeups += 1

    def post(self, event: str, delivery_id: str, body: bytes, secret: str | None = SECRET, **extra: str):  # type: ignore[no-untyped-def]
        return self.client.post(URL, data=body, headers={**headers(event, delivery_id, body, secret), **extra})


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.queue.close()


PR = encode(pull_request("acme/config", 4, "a" * 40))


def test_signed_delivery_is_queued(env: Env) -> None:
    response = env.post("pull_request", "guid-1", PR)
    assert response.status_code == 202
    assert response.json == {"status": "queued", "delivery": "guid-1"}
    assert env.queue.stats().pending == 1 and env.wakeups == 1
    job = env.queue.claim("w", 30)
    assert job is not None and job.delivery.body == PR and job.key == "acme/config#4"
    assert job.delivery.action == "synchronize"


@pytest.mark.parametrize(
    ("signature_header", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("sha1=" + "0" * 40, "malformed_signature"),
        ("sha256=xyz", "malformed_signature"),
        ("sha256=" + "0" * 64, "bad_signature"),
        (signature("not the secret", PR), "bad_signature"),
        (signature(SECRET, PR + b" "), "bad_signature"),
    ],
)
def test_unsigned_and_forged_deliveries_get_401(env: Env, signature_header: str | None, reason: str) -> None:
    hdrs = headers("pull_request", "guid-x", PR, secret=None)
    if signature_header is not None:
        hdrs["X-Hub-Signature-256"] = signature_header
    response = env.client.post(URL, data=PR, headers=hdrs)
    assert response.status_code == 401
    assert response.json is not None and response.json["reason"] == reason
    assert env.queue.stats().pending == 0
    assert env.metrics.rejected.value(reason=reason) == 1


def test_signature_over_the_exact_raw_bytes(env: Env) -> None:
    reformatted = json.dumps(json.loads(PR), indent=2).encode()  # same JSON, other bytes
    hdrs = headers("pull_request", "guid-2", PR)
    response = env.client.post(URL, data=reformatted, headers=hdrs)
    assert response.status_code == 401


def test_previous_secret_is_accepted_while_rotating(env: Env) -> None:
    assert env.post("pull_request", "guid-3", PR, secret="the old secret").status_code == 202
    assert verify_signature(("a", "b"), b"x", signature("b", b"x")) is None
    assert verify_signature(("a",), b"x", signature("b", b"x")) == "bad_signature"


def test_replayed_delivery_is_a_no_op_and_processed_once(env: Env) -> None:
    first = env.post("pull_request", "guid-r", PR)
    replays = [env.post("pull_request", "guid-r", PR) for _ in range(3)]
    assert first.status_code == 202
    assert [(r.status_code, r.json) for r in replays] == [(200, {"status": "duplicate", "delivery": "guid-r"})] * 3
    processed: list[str] = []
    done = threading.Event()

    def handle(delivery: Delivery) -> None:
        processed.append(delivery.id)
        done.set()

    pool = WorkerPool(env.queue, handle, workers=2, poll_seconds=0.01, clock=SystemClock())
    pool.start()
    assert done.wait(10)
    env.post("pull_request", "guid-r", PR)  # replayed after processing: still a no-op
    assert pool.stop(10)
    assert processed == ["guid-r"]
    stats = env.queue.stats()
    assert (stats.pending, stats.running, stats.done) == (0, 0, 1)
    assert env.metrics.deliveries.value(event="pull_request", outcome="duplicate") == 4


def test_oversized_body_gets_413(tmp_path: Path) -> None:
    env = Env(tmp_path, max_body_bytes=2048)
    big = encode({**pull_request("acme/config", 1, "b" * 40), "padding": "x" * 4096})
    response = env.post("pull_request", "guid-big", big)
    assert response.status_code == 413
    assert env.metrics.rejected.value(reason="too_large") == 1
    # without a Content-Length (chunked), the limit holds as well
    hdrs = {**headers("pull_request", "guid-big2", big), "Transfer-Encoding": "chunked"}
    response = env.client.post(URL, input_stream=io.BytesIO(big), headers=hdrs,
                               environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert env.queue.stats().pending == 0
    env.queue.close()


@pytest.mark.parametrize(
    ("event", "delivery_id", "body", "reason"),
    [
        ("pull_request", "guid-m1", b"{not json", "malformed_body"),
        ("pull_request", "guid-m2", b"[1, 2]", "malformed_body"),
        ("pull_request", "guid-m3", encode({"action": "opened", "repository": {"full_name": "acme/x"}}),
         "malformed_body"),
        ("", "guid-m4", PR, "bad_event_header"),
        ("Pull Request!", "guid-m5", PR, "bad_event_header"),
        ("pull_request", "", PR, "bad_delivery_header"),
        ("pull_request", "../../etc/passwd", PR, "bad_delivery_header"),
    ],
)
def test_malformed_requests_get_400(env: Env, event: str, delivery_id: str, body: bytes, reason: str) -> None:
    hdrs = headers(event, delivery_id, body)
    hdrs = {k: v for k, v in hdrs.items() if v}
    response = env.client.post(URL, data=body, headers=hdrs)
    assert response.status_code == 400
    assert response.json is not None and response.json["reason"] == reason
    assert env.queue.stats().pending == 0


def test_missing_field_is_named(env: Env) -> None:
    body = encode({"action": "opened", "repository": {"full_name": "acme/x"}})
    response = env.post("pull_request", "guid-f", body)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["message"] == "pull_request payload: missing field 'pull_request.base.repo.full_name'"


def test_other_content_types(env: Env) -> None:
    response = env.post("pull_request", "guid-t", PR, **{"Content-Type": "text/plain"})
    assert response.status_code == 415
    from urllib.parse import urlencode

    form = urlencode({"payload": PR.decode()}).encode()
    response = env.post("pull_request", "guid-form", form, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202
    job = env.queue.claim("w", 30)
    assert job is not None and job.delivery.body == PR


def test_unhandled_events_are_acknowledged_not_queued(env: Env) -> None:
    check_run = encode(payload("check_run/rerequested.payload.json"))
    labeled = encode({**pull_request("acme/config", 4, "c" * 40), "action": "labeled"})
    for event, delivery_id, body in [("check_run", "g-cr", check_run), ("pull_request", "g-lab", labeled)]:
        response = env.post(event, delivery_id, body)
        assert response.status_code == 202
        assert response.json is not None and response.json["status"] == "ignored"
    assert env.queue.stats().pending == 0
    assert env.metrics.deliveries.value(event="check_run", outcome="ignored") == 1


def test_repositories_outside_the_allowlist_are_ignored(env: Env) -> None:
    body = encode(comment("evil/config", 1, 9, "/apply"))
    response = env.post("issue_comment", "g-evil", body)
    assert response.status_code == 202
    assert response.json is not None and response.json["status"] == "ignored"
    assert "evil/config" in response.json["reason"]
    assert env.queue.stats().pending == 0
    allowed = encode(comment("ACME/Config", 1, 9, "/apply"))  # names compare case-insensitively
    assert env.post("issue_comment", "g-ok", allowed).status_code == 202


def test_ping_is_queued(env: Env) -> None:
    body = encode({**payload("ping/payload.json"), "repository": {"full_name": "acme/config"}})
    assert env.post("ping", "g-ping", body).status_code == 202


def test_queue_unavailable_gets_503(env: Env) -> None:
    env.queue.close()
    response = env.post("pull_request", "guid-503", PR)
    assert response.status_code == 503
    ready = env.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json is not None and "queue" in ready.json["failures"]


def test_health_ready_and_metrics(env: Env) -> None:
    assert env.client.get("/healthz").json == {"status": "ok"}
    assert env.client.get("/readyz").status_code == 200
    env.post("pull_request", "g-1", PR)
    env.post("pull_request", "g-1", PR)
    env.post("pull_request", "g-2", PR, secret="wrong")
    response = env.client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    lines = set(text.splitlines())
    assert 'shipmate_webhook_deliveries_total{event="pull_request",outcome="queued"} 1.0' in lines
    assert 'shipmate_webhook_deliveries_total{event="pull_request",outcome="duplicate"} 1.0' in lines
    assert 'shipmate_webhook_rejected_total{reason="bad_signature"} 1.0' in lines
    assert 'shipmate_queue_jobs{state="pending"} 1.0' in lines
    assert "shipmate_webhook_ack_seconds_count 3.0" in lines
    assert "# TYPE shipmate_webhook_ack_seconds histogram" in lines


def test_a_secret_is_required(tmp_path: Path) -> None:
    queue = SqliteQueue.in_data_dir(tmp_path)
    with pytest.raises(ConfigError, match="SHIPMATE_WEBHOOK_SECRET"):
        create_app(Settings(storage=StorageSettings(data_dir=tmp_path)), queue, ShipmateMetrics())
    queue.close()
