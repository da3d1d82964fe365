"""Fixtures for continuity: a real SoR city (from the replication fixtures),
enrolled terminals that pinned its admin key, and orders signed with it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from continuity import orders
from hub.roles import Principal
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
              ranges: dict | None = None, reason: str = "rançongiciel au centre de données",
              key=None, city: str | None = None, fingerprint: str | None = None, ends: str | None = None) -> bytes:
        self.serial += 1
        return orders.sign(key or self.key, kind=kind, city=city or self.city["city"],
                           admin_fingerprint=fingerprint or self.city["admin_fingerprint"],
                           declared_by="DSI Ville de Test", reason=reason, scope=orders.Scope.parse(scope),
                           now=now + dt.timedelta(seconds=self.serial), ranges=ranges, ends=ends)


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
    terminal.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "1234", "agent")
    return terminal.session(Principal.agent("agent"))


def journal_snapshot(terminal) -> tuple[int, str]:
    return terminal.journal.count(), terminal.state_hash()


def forged_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate()


__all__ = ["Admin", "NOW", "agent_session", "journal_snapshot", "forged_key", "keys"]
