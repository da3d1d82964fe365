"""``/metrics`` of ``beffroi sor serve``: what the SoR stores for each terminal
(segments and their bytes, forks), the devices and the key epoch, with the
process metrics, in the Prometheus text format. Read from the index at each
scrape; the SoR reads no segment for it (it cannot)."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from hub import scrape

from .index import Index


class StoreCollector:
    def __init__(self, index: Index) -> None:
        self.index = index

    def collect(self) -> Iterator[Metric]:
        rows = self.index.conn.execute(
            "SELECT coalesce(d.name, s.origin), count(*), sum(s.size) FROM segments s"
            " LEFT JOIN devices d ON d.id = s.origin GROUP BY s.origin ORDER BY 1").fetchall()
        segments = CounterMetricFamily("beffroi_sor_segments", "Segments stored, per terminal", labels=["terminal"])
        size = CounterMetricFamily("beffroi_sor_stored_bytes", "Sealed bytes stored, per terminal", labels=["terminal"])
        for name, count, total in rows:
            segments.add_metric([name], count)
            size.add_metric([name], total or 0)
        yield segments
        yield size
        counts = self.index.counts()
        for key, help in (("devices", "active terminals"), ("pending", "terminals awaiting approval"),
                          ("forks", "forks recorded"), ("epoch", "current key epoch")):
            yield GaugeMetricFamily(f"beffroi_sor_{key}", help, value=counts[key])


def handler(index: Index, token: str):
    """Only for the holder of the SoR home's scrape token (``hub.scrape``)."""
    reg = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    reg.register(StoreCollector(index))

    async def metrics(request: web.Request) -> web.Response:
        if not scrape.allowed(token, request.headers.get("Authorization")):
            en, fr = scrape.REFUSED
            return web.json_response({"error": "unauthorized", "en": en, "fr": fr}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return web.Response(body=generate_latest(reg), headers={"Content-Type": CONTENT_TYPE_LATEST})
    return metrics
