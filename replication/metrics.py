"""``/metrics`` of ``beffroi sor serve``: what the SoR stores for each terminal
(segments and vault documents, their bytes, forks), the devices and the key
epoch, with the process metrics, in the Prometheus text format. Read from the
index at each scrape; the SoR reads no segment for it (it cannot).

A shared SoR labels each series with the city too (its slug, which the
operator already lists with ``sor city list``); the scrape reads each index
through the node's pool, one city after the other, so it never holds the node's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

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

from .index import Rows

# (terminal's name, or its id once forgotten; count; bytes) per terminal
_SEGMENTS = ("SELECT coalesce(d.name, s.origin), count(*), sum(s.size) FROM segments s"
             " LEFT JOIN devices d ON d.id = s.origin GROUP BY s.origin, d.name ORDER BY 1")
_DOCUMENTS = ("SELECT coalesce(d.name, x.stored_by), count(*), sum(x.size) FROM documents x"
              " LEFT JOIN devices d ON d.id = x.stored_by GROUP BY x.stored_by, d.name ORDER BY 1")
_GAUGES = (("devices", "active terminals"), ("pending", "terminals awaiting approval"),
           ("forks", "forks recorded"), ("epoch", "current key epoch"))

# each city's labels (none on a single-city SoR) and a way to open its index
Indexes = Callable[[], Iterator[tuple[list[str], Callable[[], AbstractContextManager[Rows]]]]]


class StoreCollector:
    def __init__(self, indexes: Indexes, labels: list[str]) -> None:
        self.indexes, self.labels = indexes, labels

    def describe(self) -> Iterator[Metric]:
        """The series' names without reading an index (the registry asks at registration)."""
        families, gauges = self._families()
        yield from families
        yield from gauges

    def _families(self) -> tuple[list[CounterMetricFamily], list[GaugeMetricFamily]]:
        per_terminal = self.labels + ["terminal"]
        families = [
            CounterMetricFamily("beffroi_sor_segments", "Segments stored, per terminal", labels=per_terminal),
            CounterMetricFamily("beffroi_sor_stored_bytes", "Sealed bytes stored, per terminal", labels=per_terminal),
            CounterMetricFamily("beffroi_sor_documents", "Sealed vault documents stored, per terminal",
                                labels=per_terminal),
            CounterMetricFamily("beffroi_sor_document_bytes", "Sealed vault bytes stored, per terminal",
                                labels=per_terminal),
        ]
        gauges = [GaugeMetricFamily(f"beffroi_sor_{key}", help, labels=self.labels) for key, help in _GAUGES]
        return families, gauges

    def collect(self) -> Iterator[Metric]:
        families, gauges = self._families()
        for labels, opened in self.indexes():
            with opened() as index:
                for count, size, sql in ((families[0], families[1], _SEGMENTS), (families[2], families[3], _DOCUMENTS)):
                    for name, n, total in index.conn.execute(sql).fetchall():
                        count.add_metric(labels + [name], n)
                        size.add_metric(labels + [name], total or 0)
                counts = index.counts()
            for (key, _), gauge in zip(_GAUGES, gauges):
                gauge.add_metric(labels, counts[key])
        yield from families
        yield from gauges


def _registry(collector: StoreCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    reg.register(collector)
    return reg


def _route(token: str, render: Callable[[], Any]):
    """Only for the holder of the scrape token (``hub.scrape``)."""
    async def metrics(request: web.Request) -> web.Response:
        if not scrape.allowed(token, request.headers.get("Authorization")):
            en, fr = scrape.REFUSED
            return web.json_response({"error": "unauthorized", "en": en, "fr": fr}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return web.Response(body=await render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
    return metrics


def handler(index: Rows, token: str):
    """The single-city SoR: its SQLite index, read inline (it is the loop's)."""
    from contextlib import nullcontext
    reg = _registry(StoreCollector(lambda: iter([([], lambda: nullcontext(index))]), []))

    async def render() -> bytes:
        return generate_latest(reg)
    return _route(token, render)


def shared_handler(cities: Any, token: str):
    """A shared SoR node (``replication.cities.Cities``): every city, labelled."""
    def indexes():
        for city_slug, city_id in cities.cities():
            yield [city_slug], (lambda city_id=city_id: cities.pool.city(city_id))
    reg = _registry(StoreCollector(indexes, ["city"]))

    async def render() -> bytes:
        return await cities.pool.call(generate_latest, reg)
    return _route(token, render)
