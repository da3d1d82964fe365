"""Fixtures for the outbox: real terminals on disk, real back-office
simulators (aiohttp on 127.0.0.1, SQLite stores), time and randomness injected."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from continuity.backoffice.simulator import Faults, Simulator
from continuity.backoffice.systems import SYSTEMS
from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal

AGENT = Principal.agent("agent")
TODAY = dt.date(2026, 11, 30)


class ManualClock:
    """Injected time: `sleep` moves it forward instead of waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.001)
        await asyncio.sleep(0)


def make_reports(terminal: Terminal, n: int, seed: int = 0) -> list[dict]:
    """n reports of broken equipment (each an item for the works service)."""
    rng = random.Random(seed)
    session = terminal.session(AGENT)
    person = session.citizens.register(first_name="Jeanne", last_name="Martin", birth_date="1970-01-01",
                                       address="3 rue Pasteur", postcode="49000")
    with terminal.group():
        return [session.cases.open("signalement", person["id"], sample_fields("signalement", rng, person, TODAY))
                for _ in range(n)]


@asynccontextmanager
async def running(tmp: Path, system: str = "travaux", faults: Faults | None = None, seed: int = 0):
    """One simulator served on a loopback port of the running loop."""
    simulator = Simulator(SYSTEMS[system], tmp / f"{system}.db", faults, random.Random(seed))
    runner = web.AppRunner(simulator.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    simulator.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield simulator
    finally:
        await runner.cleanup()
        simulator.close()
