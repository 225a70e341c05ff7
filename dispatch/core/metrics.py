"""Prometheus metrics read from the database at scrape time, so every API process reports the same truth."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dispatch.core.db import new_session
from dispatch.orders.repository import count_by_status
from dispatch.outbox.repository import count_unfinished


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        with new_session() as session:
            by_status = count_by_status(session)
            backlog = count_unfinished(session)
        orders = GaugeMetricFamily("gancang_orders", "Orders by state", labels=["state"])
        for state, count in sorted(by_status.items()):
            orders.add_metric([state], count)
        yield orders
        yield GaugeMetricFamily(
            "gancang_outbox_unfinished", "Outbox messages not yet processed", value=backlog
        )
