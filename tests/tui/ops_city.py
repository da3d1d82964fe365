"""The city the ops console is tested against: a real SoR (served on loopback),
the console's own terminal (the counter's test city, enrolled), an office
terminal that synced, one awaiting approval. Device keys come from fixed seeds
and the index's clock columns are set to the frozen time, so screenshots are
the same every run."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.roles import Principal
from hub.terminal import Terminal
from replication.blobs import FileStore
from replication.enrolment import enroll
from replication.index import init_city
from replication.keys import KeyPair
from replication.sync import Replicator
from tests.replication.conftest import SorAdmin, ThreadSoR

from .conftest import NOW, FrozenWorld, build_city

CITY = "Ville d'Angers"


def fixed_keys(home: Path, seed: int) -> None:
    KeyPair(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32),
            X25519PrivateKey.from_private_bytes(bytes([seed + 100]) * 32)).save(home / "keys", "device")


def sync(terminal: Terminal, url: str) -> None:
    replicator = Replicator(terminal)
    try:
        asyncio.run(replicator.sync(url))
    finally:
        replicator.close()


class OpsCity(SorAdmin):
    def __init__(self, root: Path, world: FrozenWorld) -> None:
        self.sor_home = root / "sor"
        init_city(self.sor_home, CITY, shares=3, threshold=2)
        self.server = ThreadSoR(self.sor_home, FileStore(self.sor_home / "blobs"))
        self.url = self.server.url
        self.home = root / "dsi"
        self.data = build_city(self.home, world)
        config = json.loads((self.home / "terminal.json").read_text())   # set by hand, as IT does on a counter
        (self.home / "terminal.json").write_text(json.dumps({**config, "office": "HOTEL-DE-VILLE"}))
        self.terminals: dict[str, Path] = {"MAIRIE-01": self.home}
        for seed, name, approve in ((1, "MAIRIE-01", True), (2, "ANNEXE-03", True), (3, "BIBLIO-04", False)):
            home = self.home if name == "MAIRIE-01" else root / name.lower()
            if name != "MAIRIE-01":
                office = {"ANNEXE-03": "ANNEXE-NORD", "BIBLIO-04": "BIBLIOTHEQUE"}[name]
                Terminal.init(home, name, CITY, office=office, **world.terminal).close()
                self.terminals[name] = home
            fixed_keys(home, seed)
            with Terminal.open(home, **world.terminal) as t:
                shown = asyncio.run(enroll(t, self.url, self.invite(name)))
                if approve:
                    self.approve(t.id, shown["device_fingerprint"])
                    if name == "ANNEXE-03":
                        desk = t.session(Principal.system())
                        desk.agents.enroll("agent", "Claire Moreau", "246810", "agent")
                    sync(t, self.url)
        self.freeze_index()

    def freeze_index(self) -> None:
        """The index's own times (when a terminal asked, when a segment came),
        set to the frozen time: the ANNEXE last sent 20 minutes ago (silent)."""
        at = NOW.timestamp()
        with sqlite3.connect(self.sor_home / "index.db") as db:
            db.execute("UPDATE devices SET requested_at = ?", (at - 7200,))
            db.execute("UPDATE segments SET stored_at = ?", (at - 60,))
            db.execute("UPDATE segments SET stored_at = ? WHERE origin IN (SELECT id FROM devices WHERE name=?)",
                       (at - 1200, "ANNEXE-03"))

    def status(self, name: str) -> str:
        index = self.index()
        try:
            return index.find_device(name)["status"]
        finally:
            index.close()

    def close(self) -> None:
        self.server.stop()
