"""``/metrics`` of ``beffroi serve``: the footprint of every démarche and of
this terminal's journal, in the Prometheus text format, with the usual
process metrics (``prometheus-client``'s own collectors).

Counts are read from the journal and the footprint table at each scrape,
plus the CPU counts the server's writing terminal still holds in memory
(``hub.footprint.Pending``, written every few seconds and at a clean stop),
so the figures are the ones ``beffroi footprint`` prints.
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
    """``terminal``: where to read (the server's reading connection);
    ``pending``: the CPU counts of the terminal that writes, not yet written."""

    def __init__(self, terminal: Terminal, pending: footprint.Pending | None = None) -> None:
        self.terminal = terminal
        self.pending = pending if pending is not None else terminal.pending
        self.highest: dict[tuple[str, str], float] = {}

    def counter(self, name: str, label: str, value: float) -> float:
        """A counter never goes down (Prometheus would read a restart). The
        writer empties its pending counts into its transaction before that
        commits: a scrape on the reading connection in between misses them for
        a few milliseconds; it shows what it showed before instead."""
        key = (name, label)
        value = max(value, self.highest.get(key, value))
        self.highest[key] = value
        return value

    def collect(self) -> Iterator[Metric]:
        data = footprint.report(self.terminal.conn, footprint.Factors.load(self.terminal.home), pending=self.pending)
        for key, help in COUNTERS:
            family = CounterMetricFamily(f"beffroi_demarche_{key}", f"Per démarche: {help}", labels=["service"])
            for row in data["services"]:
                family.add_metric([row["name"]], self.counter(f"demarche_{key}", row["name"], row[key]))
            yield family
        for key, help in (("wh", "estimated energy, Wh"), ("g_co2e", "estimated emissions, gCO2e")):
            family = GaugeMetricFamily(f"beffroi_demarche_{key}", f"Per démarche: {help}", labels=["service"])
            for row in data["services"]:
                family.add_metric([row["name"]], row[key])
            yield family
        for key, help in COUNTERS[1:]:
            family = CounterMetricFamily(f"beffroi_terminal_{key}", f"Per terminal: {help}", labels=["terminal"])
            for row in data["terminals"]:
                family.add_metric([row["name"]], self.counter(f"terminal_{key}", row["name"], row[key]))
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
