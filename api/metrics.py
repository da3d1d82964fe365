"""``/metrics`` of ``beffroi serve``: the footprint of every démarche and of
this terminal's journal, in the Prometheus text format, with the usual
process metrics (``prometheus-client``'s own collectors).

Counts are read from the journal and the footprint table at each scrape (no
counter lives in this process), so a restart loses nothing and the figures
are the ones ``beffroi footprint`` prints.
"""

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

from hub import footprint, scrape
from hub.terminal import Terminal

COUNTERS = (("cases", "requests opened"), ("events", "events written to the journal"),
            ("journal_bytes", "bytes written to the journal"), ("sent_bytes", "sealed bytes the SoR took"),
            ("cpu_seconds", "CPU time the hub spent writing"), ("pages", "pages printed"))


class FootprintCollector:
    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    def collect(self) -> Iterator[Metric]:
        data = footprint.report(self.terminal.conn, footprint.Factors.load(self.terminal.home))
        for key, help in COUNTERS:
            family = CounterMetricFamily(f"beffroi_demarche_{key}", f"Per démarche: {help}", labels=["service"])
            for row in data["services"]:
                family.add_metric([row["name"]], row[key])
            yield family
        for key, help in (("wh", "estimated energy, Wh"), ("g_co2e", "estimated emissions, gCO2e")):
            family = GaugeMetricFamily(f"beffroi_demarche_{key}", f"Per démarche: {help}", labels=["service"])
            for row in data["services"]:
                family.add_metric([row["name"]], row[key])
            yield family
        for key, help in COUNTERS[1:]:
            family = CounterMetricFamily(f"beffroi_terminal_{key}", f"Per terminal: {help}", labels=["terminal"])
            for row in data["terminals"]:
                family.add_metric([row["name"]], row[key])
            yield family


def registry(*collectors) -> CollectorRegistry:
    """A registry of its own (not the global one: two servers in one test
    process must not share counters), with the process metrics."""
    reg = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=reg)
    PlatformCollector(registry=reg)
    for collector in collectors:
        reg.register(collector)
    return reg


def handler(reg: CollectorRegistry, token: str):
    """Only for the holder of the home's scrape token (``hub.scrape``): 401
    otherwise, with nothing of the metrics in the answer."""
    async def metrics(request: web.Request) -> web.Response:
        if not scrape.allowed(token, request.headers.get("Authorization")):
            en, fr = scrape.REFUSED
            return web.json_response({"error": {"code": "unauthorized", "en": en, "fr": fr}}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        body = generate_latest(reg)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
    return metrics
