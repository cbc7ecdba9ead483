"""The webhook server's Flask app: intake, health, readiness and metrics.

`POST /webhooks/github`, in this order:

| check | answer |
|---|---|
| body larger than `max_body_bytes` (GitHub sends at most 25 MB) | 413 |
| `X-Hub-Signature-256` missing, malformed, or not the HMAC-SHA256 of the raw body under any configured secret (compared in constant time) | 401 |
| `X-GitHub-Event` or `X-GitHub-Delivery` missing or malformed | 400 |
| content type neither JSON nor GitHub's form encoding | 415 |
| body not a JSON object, over the JSON limits (nesting 64, integers of 40 digits, 100,000 objects and arrays; `bot.core.jsonlimits`), or a handled event lacking a field Shipmate reads or giving it the wrong type | 400 |
| an event or action Shipmate does not act on | 202 `{"status": "ignored"}` |
| a repository outside `SHIPMATE_REPOSITORIES` | 202 `{"status": "ignored"}` |
| a delivery ID seen before (a redelivery) | 200 `{"status": "duplicate"}` |
| stored in the queue | 202 `{"status": "queued"}` |
| the queue cannot be written | 503 (GitHub shows the delivery as failed; redeliver it) |

Repositories outside the allowlist get 202, not 403: an App installed on many repositories
or an organisation hook sends events for all of them, and a 4xx would mark every one of
those deliveries as failed in GitHub's UI. They are counted in
`shipmate_webhook_deliveries_total{outcome="ignored"}` and logged.

Authentication comes before everything that reads the payload, so unauthenticated callers
learn nothing but 401 or 413. The body is parsed here, once (`bot.adapters.github.webhooks`):
the queue stores the typed event with its ordering key, and the workers read it back. Nothing is processed inline: the answer comes as soon as the
delivery is durably queued.

`GET /healthz` answers 200 while the process serves; `GET /readyz` 200 when the queue answers
(and every extra readiness check passes), 503 otherwise; `GET /metrics` is the Prometheus
text exposition.

Every answer is logged once, here, on `shipmate.http` (probes and scrapes at DEBUG): the
access line, with the delivery ID and event of a webhook (`bot.logs`: `remote`, `method`,
`path`, `status`, `bytes`, `duration_ms`, `delivery`, `event`). The HTTP servers in front
(gunicorn, Werkzeug) log no access line of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot import logs
from bot.adapters.clock import SystemClock
from bot.adapters.github.webhooks import make_delivery, parse_event
from bot.core.events import Ignored, MalformedEvent, ordering_key
from bot.core.jsonlimits import form_field
from bot.core.ports import Clock, EventQueue
from bot.metrics import CONTENT_TYPE, ShipmateMetrics
from bot.settings import Settings

log = logging.getLogger("shipmate.web")
access_log = logging.getLogger("shipmate.http")

WEBHOOK_PATH = "/webhooks/github"
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secrets: Sequence[str], body: bytes, header: str | None) -> str | None:
    """None when `header` signs `body` under one of `secrets`, else the reason it does not."""
    if not header:
        return "missing_signature"
    match = _SIGNATURE.match(header.strip())
    if not match:
        return "malformed_signature"
    given = bytes.fromhex(match.group(1))
    ok = False
    for secret in secrets:  # every secret is checked, so timing says nothing about which matched
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        ok |= hmac.compare_digest(expected, given)
    return None if ok else "bad_signature"


def create_app(
    settings: Settings,
    queue: EventQueue,
    metrics: ShipmateMetrics,
    *,
    on_enqueued: Callable[[], None] | None = None,
    ready_checks: Sequence[tuple[str, Callable[[], None]]] = (),
    clock: Clock | None = None,
) -> Flask:
    """The Flask app. `on_enqueued` is called after each queued delivery (wakes the workers);
    `ready_checks` are extra (name, check) pairs for `/readyz`, each raising when not ready."""
    settings.require_webhook_secret()
    app = Flask("shipmate")
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook.max_body_bytes
    limit = settings.webhook.max_body_bytes
    secrets = settings.webhook.secrets
    received_clock: Clock = clock or SystemClock()

    def reject(status: int, reason: str, message: str) -> tuple[Response, int]:
        metrics.rejected.inc(reason=reason)
        log.info("webhook rejected: %s (%s) from %s", reason, message, request.remote_addr)
        return jsonify({"status": "rejected", "reason": reason, "message": message}), status

    def read_body() -> bytes | None:
        """The raw body, or None when it is larger than the limit."""
        length = request.content_length
        if length is not None and length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := request.stream.read(65536):
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        except RequestEntityTooLarge:  # Werkzeug's own guard on streams without a length
            return None
        return b"".join(chunks)

    def intake() -> tuple[Response, int]:
        body = read_body()
        if body is None:
            return reject(413, "too_large", f"body larger than {limit} bytes")
        failure = verify_signature(secrets, body, request.headers.get("X-Hub-Signature-256"))
        if failure:
            return reject(401, failure, "X-Hub-Signature-256 does not sign this body with the webhook secret")
        event = request.headers.get("X-GitHub-Event", "")
        delivery_id = request.headers.get("X-GitHub-Delivery", "")
        if not _EVENT_NAME.match(event):
            return reject(400, "bad_event_header", "X-GitHub-Event is missing or malformed")
        if not _DELIVERY_ID.match(delivery_id):
            return reject(400, "bad_delivery_header", "X-GitHub-Delivery is missing or malformed")
        mimetype = request.mimetype
        if mimetype == "application/x-www-form-urlencoded":
            payload_bytes = form_field(body, "payload")  # bounded memory, unlike parse_qs
            if not payload_bytes:
                return reject(400, "malformed_body", "form body without a payload field")
            body = payload_bytes
        elif mimetype != "application/json":
            return reject(415, "unsupported_media_type", f"content type {mimetype or 'none'} is not JSON")
        try:
            delivery = make_delivery(delivery_id, event, body, received_clock.now())  # parsed here, once
        except MalformedEvent as exc:
            return reject(400, "malformed_body", str(exc))
        parsed = parse_event(delivery)  # the event make_delivery parsed: no second parse
        if isinstance(parsed, Ignored):
            metrics.deliveries.inc(event=event, outcome="ignored")
            return jsonify({"status": "ignored", "delivery": delivery_id, "reason": parsed.reason}), 202
        repo = parsed.repo
        if repo is not None and not settings.bot.repository_allowed(repo):
            metrics.deliveries.inc(event=event, outcome="ignored")
            log.info("delivery %s ignored: repository %s is not in the allowlist", delivery_id, repo)
            return jsonify({"status": "ignored", "delivery": delivery_id,
                            "reason": f"repository {repo} is not served by this Shipmate"}), 202
        try:
            stored = queue.put(delivery, ordering_key(parsed))
        except Exception as exc:
            log.error("delivery %s could not be queued: %s", delivery_id, exc)
            return reject(503, "queue_unavailable", "the queue is unavailable; redeliver later")
        if not stored:
            metrics.deliveries.inc(event=event, outcome="duplicate")
            return jsonify({"status": "duplicate", "delivery": delivery_id}), 200
        metrics.deliveries.inc(event=event, outcome="queued")
        if on_enqueued is not None:
            on_enqueued()
        return jsonify({"status": "queued", "delivery": delivery_id}), 202

    @app.post(WEBHOOK_PATH)
    def webhook() -> tuple[Response, int]:
        started = time.perf_counter()
        delivery, event = request.headers.get("X-GitHub-Delivery", ""), request.headers.get("X-GitHub-Event", "")
        try:
            with logs.bound(delivery=delivery if _DELIVERY_ID.match(delivery) else None,
                            event=event if _EVENT_NAME.match(event) else None):
                return intake()
        finally:
            metrics.ack_seconds.observe(time.perf_counter() - started)

    @app.before_request
    def started() -> None:
        request.environ["shipmate.started"] = time.perf_counter()

    @app.after_request
    def access(response: Response) -> Response:
        """The access line of every answer (see the module docstring)."""
        path = request.path
        level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
        if not access_log.isEnabledFor(level):
            return response
        started = request.environ.get("shipmate.started", time.perf_counter())
        delivery = request.headers.get("X-GitHub-Delivery", "")
        event = request.headers.get("X-GitHub-Event", "")
        fields: dict[str, object] = {
            "remote": request.remote_addr or "-", "method": request.method, "path": path,
            "status": response.status_code, "bytes": response.calculate_content_length() or 0,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if _DELIVERY_ID.match(delivery):
            fields["delivery"] = delivery
        if _EVENT_NAME.match(event):
            fields["event"] = event
        of = f" (delivery {delivery})" if "delivery" in fields else ""
        access_log.log(level, '%s "%s %s" %s%s', fields["remote"], request.method, path, response.status_code, of,
                       extra=fields)
        return response

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify({"status": "ok"}), 200

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        failures: dict[str, str] = {}
        for name, check in (("queue", queue.ping), *ready_checks):
            try:
                check()
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"
        if failures:
            return jsonify({"status": "unavailable", "failures": failures}), 503
        return jsonify({"status": "ready"}), 200

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(), content_type=CONTENT_TYPE)

    @app.errorhandler(413)
    def too_large(_: Any) -> tuple[Response, int]:
        return reject(413, "too_large", f"body larger than {limit} bytes")

    return app
