"""The Grafana dashboard and the alert rules name only metrics the code registers, and every
metric the code registers is on the dashboard."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import REGISTRY

import libs.outbox.metrics
import libs.runtime.metrics
import services.audit.metrics
import services.authz.metrics
import services.console.metrics
import services.mailer.metrics
from tests.harness.endpoints import ROOT

MODULES = [
    libs.runtime.metrics,
    libs.outbox.metrics,
    services.authz.metrics,
    services.audit.metrics,
    services.mailer.metrics,
    services.console.metrics,
]
# Our metric names all start so; label names (grpc_method, ...) and PromQL words do not.
METRIC = re.compile(r"\b(?:grpc_server|authz|outbox|audit|mailer|console)_[a-z0-9_]+\b")


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "ops/grafana/authz-audit.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((ROOT / "ops/prometheus/alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def registered() -> set[str]:
    """The sample names of every metric our modules define (counters: x_total, ...)."""
    names: set[str] = set()
    for module in MODULES:
        for value in vars(module).values():
            if hasattr(value, "_name") and hasattr(value, "_type"):
                names.update(REGISTRY._collector_to_names.get(value, ()))
    return names


def test_our_modules_define_metrics() -> None:
    assert "grpc_server_handled_total" in registered()
    assert "audit_query_seconds_bucket" in registered()


def test_every_metric_on_the_dashboard_and_in_the_alerts_exists() -> None:
    exprs = dashboard_exprs() + alert_exprs()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used
    assert used <= registered(), used - registered()


def family(sample_name: str) -> str:
    return re.sub(r"_(total|bucket|count|sum|created)$", "", sample_name)


def test_every_metric_is_on_the_dashboard() -> None:
    shown = {family(name) for expr in dashboard_exprs() for name in METRIC.findall(expr)}
    defined = {family(name) for name in registered()}
    assert defined <= shown, defined - shown
