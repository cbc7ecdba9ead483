"""The Prometheus text exposition of the metrics module, against a golden file.

Regenerate with `SHIPMATE_UPDATE_GOLDEN=1 pytest tests/web/test_metrics.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.metrics import Registry, ShipmateMetrics
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
    return metrics.render()


def test_exposition_matches_the_golden_file() -> None:
    assert_golden(GOLDEN, sample())


def test_label_values_are_escaped_and_counters_only_go_up() -> None:
    registry = Registry()
    counter = registry.counter("x_total", "X.", ("path",))
    counter.inc(path='a"b\\c\nd')
    assert 'x_total{path="a\\"b\\\\c\\nd"} 1' in registry.render().splitlines()
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc(-1, path="a")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc(wrong="a")
    with pytest.raises(ValueError, match="registered already"):
        registry.counter("x_total", "again")


def test_a_failing_collector_does_not_break_the_scrape() -> None:
    registry = Registry()

    def broken() -> list[tuple[tuple[str, ...], float]]:
        raise ConnectionError("redis is down")

    registry.gauge("a_jobs", "A.", ("state",), broken)
    registry.counter("b_total", "B.").inc()
    assert registry.render().splitlines() == [
        "# a_jobs unavailable: ConnectionError", "# HELP b_total B.", "# TYPE b_total counter", "b_total 1",
    ]
