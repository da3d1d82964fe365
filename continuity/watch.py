"""``beffroi sync --watch``: keep converging with every upstream, notice when
they go away, and take the incident orders they carry.

Each round probes every upstream the terminal knows (the city's SoR, office
relays), syncs with those that answer, applies the new incident orders they
hold, and, while the terminal is in recovery, runs one pass of it
(``continuity.resume``): recovery needs no one to type a command, and a SoR
or back office still down is tried again at the next round.

The back offices' health checks feed reachability too: the terminal is
degraded when no upstream answers **or when every back office is down** (it
can still serve, but nothing it owes the city's systems can leave: the
agents must know). One back office down is only a warning: the outbox keeps
that office's items, retried with backoff, and the other offices' items go. Reachability counts the rounds where none answered: that is what
makes a terminal degraded, and back online, by itself. Segments are
self-authenticating, so syncing with a relay and later with the SoR is safe:
the SoR takes each segment once (same bytes → already stored).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from typing import Any

from hub.errors import HubError
from hub.roles import Principal
from hub.terminal import Terminal

from . import incident
from .publish import fetch_orders, probe
from .reachability import Reachability


def upstreams(terminal: Terminal, given: list[str] | None) -> list[str]:
    """The URLs given on the command line, else the SoR from enrolment and
    the relays listed in the home (``beffroi relay use``)."""
    if given:
        return list(dict.fromkeys(u.rstrip("/") for u in given))
    from replication.local import Local
    local = Local(terminal.home)
    try:
        found = [local.get("sor")] + list(local.get("relays") or [])
    finally:
        local.close()
    return list(dict.fromkeys(u.rstrip("/") for u in found if u))


class Watch:
    def __init__(self, terminal: Terminal, urls: list[str], interval: float = 5.0,
                 reachability: Reachability | None = None, now: Callable[[], dt.datetime] | None = None) -> None:
        from replication.sync import Replicator
        self.terminal, self.urls, self.interval = terminal, urls, interval
        self.now = now or (lambda: incident.now_at(terminal))
        self.reachability = reachability or Reachability()
        self.replicator = Replicator(terminal)
        self.seen_orders: set[str] = set()
        self.backoffice_timeout = 3.0
        self.health_timeout = 2.0        # a back office slower than this to say it is alive counts as down
        self.recovering: int | None = None      # since_hlc of the recovery under way
        self.verified = self.exchanged = False

    def close(self) -> None:
        self.replicator.close()

    def round(self) -> dict[str, Any]:
        """One pass over every upstream; what happened, for the log."""
        return asyncio.run(self._round())

    async def _round(self) -> dict[str, Any]:
        from replication.sync import Unreachable
        summary: dict[str, Any] = {"upstreams": {}, "orders": [], "warnings": []}
        reached, last_error = False, None
        mode_before = self.terminal.mode().name
        for url in self.urls:
            ok, error = await probe(url)
            if ok:
                try:
                    try:
                        report = await self.replicator.sync(url)
                    except HubError as exc:
                        if exc.code != "unknown_key":
                            raise
                        # a relay made before this terminal was approved: introduce it, once
                        from .relay import introduce
                        await introduce(self.terminal.home, url)
                        report = await self.replicator.sync(url)
                    summary["upstreams"][url] = report.to_dict()
                    summary["orders"] += await self._orders(url)
                except Unreachable as exc:
                    ok, error = False, exc.en
                except HubError as exc:   # refused by the upstream: it answered, so it is reachable
                    summary["warnings"].append(f"{url}: {exc.en}")
            if not ok:
                summary["upstreams"][url] = {"unreachable": error}
                summary["warnings"].append(f"{url} is unreachable ({error})")
                last_error = error
            reached = reached or ok
        offices = await self._backoffices()
        summary["backoffices"] = offices
        down = sorted(name for name, ok in offices.items() if not ok)
        if offices and len(down) == len(offices):
            error = f"no back office answers ({', '.join(down)})"
            summary["warnings"].append(error)
            last_error = error if reached else f"{last_error}; {error}"
        elif down:   # one office down: its items wait in the outbox, the terminal stays online
            summary["warnings"].append(f"back office {', '.join(down)} does not answer: its outbox items wait"
                                       " and are retried with backoff")
        usable = reached and not (offices and len(down) == len(offices))
        changed = self.reachability.report(self.terminal, usable, last_error)
        summary["recovery"] = await self._recover(reached)
        summary["mode"] = self.terminal.mode().name
        summary["mode_changed"] = changed is not None or summary["mode"] != mode_before
        return summary

    async def _backoffices(self) -> dict[str, bool]:
        """Each configured back office's health check (``connectors.json``), at once."""
        from .connectors import Connectors, load
        try:
            urls = load(self.terminal.home)
        except HubError:
            return {}
        if not urls:
            return {}
        async with Connectors(urls, self.health_timeout) as connectors:
            answers = await asyncio.gather(*(c.health() for c in connectors.values()))
        return dict(zip(connectors, answers))

    async def _recover(self, reached: bool) -> dict[str, Any] | None:
        """While in recovery, one pass of it each round (``continuity.resume``):
        this round's sync was the exchange when an upstream answered."""
        from .resume import step
        mode = self.terminal.mode()
        if mode.name != "recovery":
            return None
        if self.recovering != mode.since_hlc:      # a new recovery: prove the chains once, exchange anew
            self.recovering, self.verified, self.exchanged = mode.since_hlc, False, False
        self.exchanged = self.exchanged or reached
        try:
            done = await step(self.terminal, exchanged=self.exchanged, verify=not self.verified,
                              timeout_s=self.backoffice_timeout)
        except HubError as exc:      # a damaged journal: said every round, the terminal stays in recovery
            return {"mode": mode.name, "waiting_for": [exc.en], "outbox": None, "exchanged": self.exchanged}
        self.verified = True
        return None if done is None else {k: done[k] for k in ("mode", "waiting_for", "outbox", "exchanged")}

    async def _orders(self, url: str) -> list[dict[str, Any]]:
        """Apply the orders this upstream holds that this terminal has not seen."""
        done = []
        async with self.replicator.link(url) as link:
            raws = await fetch_orders(link)
        for raw in raws:
            digest = hashlib.sha256(raw).hexdigest()
            if digest in self.seen_orders:
                continue
            self.seen_orders.add(digest)
            try:
                done.append(incident.apply(self.terminal, raw, self.now(), Principal.system()))
            except HubError as exc:
                # already applied, older, not for this terminal…: said once, never obeyed
                done.append({"refused": exc.en})
        return done

    def run(self, stop: threading.Event, say: Callable[[dict[str, Any]], None]) -> None:
        """Rounds until ``stop`` is set, sooner after failures (backoff)."""
        while not stop.is_set():
            say(self.round())
            stop.wait(self.reachability.next_delay(self.interval))


def _text(summary: dict[str, Any]) -> str:
    parts = []
    for url, report in summary["upstreams"].items():
        if "unreachable" not in report:
            parts.append(f"{url}: pushed {report['pushed']}, pulled {report['pulled_segments']} segment(s) "
                         f"({report['pulled_events']} events)")
    for order in summary["orders"]:
        parts.append(f"order {order['order']} applied: now {order['mode']}" if "order" in order
                     else f"order refused: {order['refused']}")
    if summary["mode_changed"]:
        parts.append(f"mode is now {summary['mode']}")
    recovery = summary.get("recovery")
    if recovery and recovery["mode"] == "recovery":
        parts.append("recovery waits for " + "; ".join(recovery["waiting_for"]))
    return "\n".join(parts)


def watch_command(args) -> int:
    """The loop behind ``beffroi sync --watch`` (replication's CLI hands it over)."""
    import signal
    import sys
    import time

    from hub.cli import UsageError, emit, open_terminal
    if not 0.05 <= args.interval <= 3600:
        raise UsageError("--interval must be between 0.05 and 3600 seconds")
    with open_terminal(args) as terminal:
        urls = upstreams(terminal, args.sor)
        if not urls:
            raise UsageError("no upstream: give --sor URL, or enrol this terminal first")
        watch = Watch(terminal, urls, args.interval)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())

        def say(summary: dict[str, Any]) -> None:
            for warning in summary["warnings"]:
                print(f"beffroi: warning: {warning}", file=sys.stderr, flush=True)
            moved = any(r.get("pushed") or r.get("pulled_segments") or r.get("sealed") or r.get("refused")
                        for r in summary["upstreams"].values())
            recovering = summary.get("recovery") is not None
            if args.json or moved or summary["orders"] or summary["mode_changed"] or recovering:
                emit(args, {"at": time.time(), **summary}, _text)
            sys.stdout.flush()
        try:
            watch.run(stop, say)
        except KeyboardInterrupt:
            pass
        finally:
            watch.close()
    return 0
