"""The Prometheus text exposition of the metrics module, against a golden file.

Regenerate with `SHIPMATE_UPDATE_GOLDEN=1 pytest tests/web/test_metrics.py`."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import Counter

from bot.metrics import ShipmateMetrics
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "metrics.txt"


def sample() -> str:
    metrics = ShipmateMetrics()
    metrics.watch_queue(lambda: {"pending": 3, "delayed": 1, "running": 2, "done": 40, "failed": 0, "dead": 1})
    metrics.deliveries.inc(event="pull_request", outcome="queued")
    metrics.deliveries.inc(2, event="pull_request", outcome="duplicate")
    metrics.deliveries.inc(event="check_run", outcome="ignored")
    metrics.rejected.inc(reason="bad_signature")
    for seconds in (0.0004, 0.002, 0.03):
        metrics.ack_seconds.observe(seconds)
    metrics.jobs_processed.inc(event="push")
    metrics.jobs_failed.inc(event="issue_comment", retry="true")
    metrics.dead_letters.inc(event="pull_request", reason="stopped")
    metrics.job_seconds.observe(1.5, event="push")
    metrics.latency_seconds.observe(2.0, event="push")
    metrics.stack_operations.inc(operation="apply", result="succeeded")
    metrics.stack_seconds.observe(42.0, operation="apply")
    metrics.resource_operations.inc(action="Create", runtime="Terraform", result="succeeded")
    metrics.resource_seconds.observe(3.0, action="Create", runtime="Terraform")
    metrics.report_latency.observe(7.5, operation="preview")
    metrics.releases.inc(trigger="merge", phase="succeeded")
    metrics.lock_acquisitions.inc(result="held")
    metrics.lock_acquire_seconds.observe(0.04)
    metrics.lock_hold_seconds.observe(50.0)
    metrics.drift_found.inc()
    metrics.github_calls.inc(call="create_comment", outcome="ok")
    metrics.github_rate.observe(4321, 5000, 1796425200)
    metrics.state_conflicts.inc(2)
    return metrics.render()


def test_exposition_matches_the_golden_file() -> None:
    assert_golden(GOLDEN, sample())


def test_label_values_are_escaped_and_counters_only_go_up() -> None:
    metrics = ShipmateMetrics()
    metrics.rejected.inc(reason='a"b\\c\nd')
    assert 'shipmate_webhook_rejected_total{reason="a\\"b\\\\c\\nd"} 1.0' in metrics.render().splitlines()
    assert metrics.rejected.value(reason='a"b\\c\nd') == 1
    assert metrics.rejected.value(reason="other") == 0
    with pytest.raises(ValueError, match="negative"):
        metrics.rejected.inc(-1, reason="a")
    with pytest.raises(ValueError, match="label"):
        metrics.rejected.inc(wrong="a")


def test_each_instance_has_its_own_registry_and_names_are_declared_once() -> None:
    first, second = ShipmateMetrics(), ShipmateMetrics()
    first.jobs_processed.inc(event="push")
    assert first.jobs_processed.value(event="push") == 1
    assert second.jobs_processed.value(event="push") == 0
    first.ack_seconds.observe(0.01)
    assert first.ack_seconds.count() == 1 and second.ack_seconds.count() == 0
    first.watch_queue(dict)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        first.watch_queue(dict)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("shipmate_jobs_processed_total", "again", registry=first.registry)


def test_a_failing_queue_leaves_the_gauge_out_of_the_scrape(caplog: pytest.LogCaptureFixture) -> None:
    metrics = ShipmateMetrics()

    def broken() -> dict[str, int]:
        raise ConnectionError("redis is down")

    metrics.watch_queue(broken)
    metrics.jobs_processed.inc(event="push")
    text = metrics.render()
    assert "shipmate_queue_jobs" not in text
    assert 'shipmate_jobs_processed_total{event="push"} 1.0' in text.splitlines()
    assert "shipmate_queue_jobs unavailable: ConnectionError: redis is down" in caplog.text


def test_the_server_wires_one_registry_through_its_parts(tmp_path: Path) -> None:
    from bot.adapters.gitstate import local_backend
    from bot.core.errors import TransientError
    from bot.settings import Settings
    from bot.wiring import build_server

    settings = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": "s", "SHIPMATE_DATA_DIR": str(tmp_path),
                                  "GITHUB_TOKEN": "t", "GITHUB_API_URL": "http://127.0.0.1:9/api/v3",
                                  "SHIPMATE_GITHUB_THROTTLE": "false"})
    parts = build_server(settings, {})
    try:
        assert parts.bot is not None and parts.bot.services is not None
        host = parts.bot.services.access_for("acme/config", None).host
        with pytest.raises(TransientError):  # nothing listens there
            host.pull_request("acme/config", 1)
        assert parts.metrics.github_calls.value(call="repository", outcome="unreachable") == 1
        assert parts.bot.services.stack_ops(local_backend(tmp_path / "state")).metrics is parts.metrics
        scraped = parts.app.test_client().get("/metrics").get_data(as_text=True)
        names = {line.split()[2] for line in scraped.splitlines() if line.startswith("# TYPE ")}
        assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "shipmate_queue_jobs",
                "shipmate_stack_operations_total", "shipmate_state_write_conflicts_total"} <= names
    finally:
        parts.queue.close()
