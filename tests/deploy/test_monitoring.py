"""deploy/alerts.yaml and deploy/grafana-dashboard.json: both parse, every PromQL expression in
them parses (promql-parser, the Rust parser Prometheus-compatible tools use), and they name
only metric families a Shipmate server exports (`bot.metrics.ShipmateMetrics` as
`bot.wiring.build_server` sets it up). The dashboard shows every `shipmate_*` family."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from bot.metrics import ShipmateMetrics

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
# Grafana's variables, given values so the expressions are plain PromQL.
VARIABLES = {"$__rate_interval": "5m", "$__range": "1h", "$job": "shipmate"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported() -> dict[str, str]:
    """Every series name a server exports, with the family it belongs to."""
    metrics = ShipmateMetrics()
    metrics.watch_process()
    metrics.watch_queue(lambda: {"pending": 1})
    metrics.github_rate.observe(1, 2, 3)
    names: dict[str, str] = {}
    for family in metrics.registry.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names[family.name + suffix] = family.name
        for sample in family.samples:
            names[sample.name] = family.name
    return names


def selected(expr: str) -> set[str]:
    """The metric names `expr` selects (it must parse)."""
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert (document["apiVersion"], document["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def targets() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "job"}
    return [t["expr"] for p in panels for t in p["targets"]]


def test_the_alert_rules_are_well_formed_and_cover_what_operators_alert_on() -> None:
    found = rules()
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]
    assert {"ShipmateQueueBacklog", "ShipmateQueueStalled", "ShipmateDeliveriesOld", "ShipmateDeadLetters",
            "ShipmateStackFailureRate", "ShipmateGitHubRateLimitLow", "ShipmateDriftFound",
            "ShipmateNoDeliveries"} <= set(names)


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_expressions_parse_and_name_only_exported_families(source: str) -> None:
    expressions = [rule["expr"] for rule in rules()] if source == "alerts" else targets()
    known = exported()
    used = set().union(*(selected(expr) for expr in expressions))
    assert used and used <= set(known), sorted(used - set(known))


def test_the_dashboard_shows_every_shipmate_family() -> None:
    known = exported()
    shown = {known[name] for name in set().union(*(selected(expr) for expr in targets()))}
    families = {family for family in known.values() if family.startswith("shipmate_")}
    assert families and not families - shown, sorted(families - shown)
