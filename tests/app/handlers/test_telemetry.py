"""What operators see of a pull request's story: `/metrics` scraped after a preview, a refused
and a granted `/apply`, the merge and two drift checks, and the log lines of its jobs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot import logs
from bot.metrics import ShipmateMetrics
from bot.settings import Settings
from bot.web import create_app
from bot.wiring import build_queue
from tests.app.handlers.bench import Bench, app, object_id

CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"}, extra={"size": 3})}


def scrape(metrics: ShipmateMetrics, tmp_path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """GET /metrics of a web app over `metrics`: every sample by name and sorted labels."""
    settings = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": "s", "SHIPMATE_DATA_DIR": str(tmp_path / "web")})
    queue = build_queue(settings)
    try:
        response = create_app(settings, queue, metrics).test_client().get("/metrics")
    finally:
        queue.close()
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_a_pull_request_story_shows_in_the_domain_metrics(tmp_path: Path, installed: None) -> None:
    metrics = ShipmateMetrics()
    bench = Bench(tmp_path, "telemetry", metrics=metrics)
    bench.clock.moment = datetime.now(UTC)  # deliveries are received now: the latency is real time
    first = bench.open(CHANGE, branch="first")
    bench.say("bob", first, "/apply")
    second = bench.open({"shop/dev/main.yaml": app(notes={"text": "other"})}, branch="second", author="alice")
    bench.say("alice", second, "/apply --no-wait")  # the lock is the first pull request's: refused
    bench.merge(first)
    assert bench.check_drift() is None  # in sync
    bench.world.objects[object_id("notes")] = {"text": "edited by hand"}
    assert bench.check_drift() is None  # drifted

    got = scrape(metrics, tmp_path)
    stacks = got["shipmate_stack_operations_total"]
    assert stacks[(("operation", "preview"), ("result", "succeeded"))] == 2  # one per pull request
    assert stacks[(("operation", "apply"), ("result", "succeeded"))] == 2  # /apply, then the merge's
    assert stacks[(("operation", "drift"), ("result", "succeeded"))] == 2
    assert (("operation", "apply"), ("result", "failed")) not in stacks  # the refusal ran no stack
    assert got["shipmate_stack_operation_seconds_count"][(("operation", "apply"),)] == 2
    assert 0 < got["shipmate_stack_operation_seconds_sum"][(("operation", "apply"),)] < 60

    resources = got["shipmate_resource_operations_total"]
    assert resources == {
        (("action", "Create"), ("result", "succeeded"), ("runtime", "Memory")): 2,  # notes and extra
    }
    assert got["shipmate_resource_operation_seconds_count"][(("action", "Create"), ("runtime", "Memory"))] == 2
    releases = got["shipmate_releases_total"]
    assert releases == {(("phase", "succeeded"), ("trigger", "comment")): 1,
                        (("phase", "succeeded"), ("trigger", "push")): 1}, releases

    locks = got["shipmate_lock_acquisitions_total"]
    assert locks[(("result", "acquired"),)] >= 2 and locks[(("result", "held"),)] == 1
    assert got["shipmate_lock_acquire_seconds_count"][()] == sum(locks.values())
    assert got["shipmate_lock_hold_seconds_count"][()] >= 1  # the merge gave the lock back
    assert got["shipmate_drift_found_total"][()] == 1

    latency = got["shipmate_report_latency_seconds_count"]
    assert latency[(("operation", "preview"),)] == 2 and latency[(("operation", "apply"),)] >= 2
    assert latency[(("operation", "drift"),)] == 2
    assert 0 <= got["shipmate_report_latency_seconds_sum"][(("operation", "apply"),)] < 60

    # The code host and state backend here are in memory: their families are declared, not yet counted
    # (tests/adapters count them on GitHub's simulator and on git).
    assert got["shipmate_state_write_conflicts_total"] == {(): 0}
    assert "shipmate_github_api_calls_total" not in got


def test_each_job_logs_its_fields_and_one_line_when_it_succeeded(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "logs")
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.setFormatter(logs.ShipmateJsonFormatter())
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        pr = bench.open(CHANGE)
        bench.say("bob", pr, "/apply")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    records = [json.loads(line) for line in lines]
    handled = [r for r in records if r["logger"] == "shipmate.workers" and r.get("outcome") == "succeeded"]
    assert [(r["delivery"], r["event"], r["repository"], r["pull_request"]) for r in handled] == [
        ("delivery-1", "pull_request", "acme/config", pr.number),
        ("delivery-2", "issue_comment", "acme/config", pr.number),
    ]
    assert all(r["message"].startswith(f"delivery {r['delivery']} ({r['event']}) handled in ") for r in handled)
    assert all(r["duration_ms"] >= 0 and r["attempts"] == 1 for r in handled)
    for record in records:
        assert set(record) >= {"time", "level", "logger", "message", "delivery"}, record
        datetime.fromisoformat(record["time"])
