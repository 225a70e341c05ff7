"""docs/grafana-dashboard.json cannot drift from the code: it parses as a Grafana dashboard, every metric its
panels query is one /metrics exposes, and every metric /metrics exposes has a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exposed(client) -> set[str]:
    """Series names as PromQL sees them; families with no sample yet (a counter never incremented) count."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {family.name + suffix for family in families for suffix in SERIES_SUFFIXES[family.type]}


def _queried(dashboard: dict) -> set[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"\bgancang_[a-z_]+", expr)}


def test_the_dashboard_is_importable():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))

    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["uid"] and dashboard["title"]
    [datasource] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert datasource["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${" + datasource["name"] + "}"
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])


def test_every_queried_metric_exists_and_every_metric_is_shown(client):
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exposed = {name for name in _exposed(client) if name.startswith("gancang_")}
    queried = _queried(dashboard)

    assert queried - exposed == set()
    shown_families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in queried}
    assert {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exposed} - shown_families == set()
