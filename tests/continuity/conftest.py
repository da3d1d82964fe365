"""Fixtures for continuity: a real SoR city (from the replication fixtures),
enrolled terminals that pinned its admin key, and orders signed with it; for
the outbox, real back-office simulators (aiohttp on 127.0.0.1, SQLite stores),
with time and randomness injected."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from continuity import orders
from continuity.backoffice.simulator import Faults, Simulator
from continuity.backoffice.systems import SYSTEMS
from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal
from replication import keys
from replication.index import admin_keys, load_city
from tests.replication.conftest import City, ThreadSoR, sor_home  # noqa: F401  (fixtures)

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


class Admin:
    """The city admin's side: signs orders with the key `sor init` made."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.city = load_city(home).public()
        self.key = admin_keys(home).sign
        self.serial = 0

    def order(self, kind: str = "declare", *, now: dt.datetime = NOW, scope: str = "city",
              ranges: dict | None = None, tickets: dict | None = None,
              reason: str = "rançongiciel au centre de données",
              key=None, city: str | None = None, fingerprint: str | None = None, ends: str | None = None) -> bytes:
        self.serial += 1
        return orders.sign(key or self.key, kind=kind, city=city or self.city["city"],
                           admin_fingerprint=fingerprint or self.city["admin_fingerprint"],
                           declared_by="DSI Ville de Test", reason=reason, scope=orders.Scope.parse(scope),
                           now=now + dt.timedelta(seconds=self.serial), ranges=ranges, tickets=tickets,
                           ends=ends)


@pytest.fixture
def city(tmp_path: Path, sor_home: Path):  # noqa: F811
    from replication.blobs import FileStore
    server = ThreadSoR(sor_home, FileStore(sor_home / "blobs"))
    kit = City(tmp_path, server.url, sor_home)
    kit.server = server   # a test may stop it and start another on the same home
    yield kit
    kit.close()
    kit.server.stop()


@pytest.fixture
def admin(sor_home: Path) -> Admin:  # noqa: F811
    return Admin(sor_home)


@pytest.fixture
def other_admin(tmp_path: Path) -> Admin:
    from replication.index import init_city
    init_city(tmp_path / "other-sor", "Ville Voisine", shares=2, threshold=2)
    return Admin(tmp_path / "other-sor")


def agent_session(terminal):
    terminal.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
    return terminal.session(Principal.agent("agent"))


def journal_snapshot(terminal) -> tuple[int, str]:
    return terminal.journal.count(), terminal.state_hash()


def forged_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate()


# --- the outbox -------------------------------------------------------------

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


__all__ = ["Admin", "NOW", "agent_session", "journal_snapshot", "forged_key", "keys"]
