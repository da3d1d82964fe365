"""A citizen deposits a document at one counter and opens it, with their
citizen card, at a kiosk of another office: the kiosk fetches it from the SoR,
checks it and says so. Real pcscd + virtual card, real SoR on loopback."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Static

from card import ca
from hub import vault
from hub.roles import Principal
from hub.terminal import Terminal
from replication.blobs import FileStore
from replication.enrolment import enroll
from replication.index import init_city
from tui.kiosk.app import KioskApp
from tui.kiosk.screens.vault import VaultScreen

from ..replication.conftest import City, ThreadSoR
from ..replication.test_vault import pdf
from .test_counter_login import SIZE, _type


def test_citizen_card_opens_at_a_kiosk_a_document_deposited_elsewhere(tmp_path, counter, reader, monkeypatch):
    sor_home = tmp_path / "sor"
    init_city(sor_home, "Ville de Test", shares=3, threshold=2)
    server = ThreadSoR(sor_home, FileStore(sor_home / "blobs"))
    city = City(tmp_path, server.url, sor_home)
    try:
        office_a = city.terminal("GUICHET-A")
        office_a.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        desk = office_a.session(Principal.agent("agent"))
        helene = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        content = pdf(b"Avis d'imposition", 6000)
        doc = desk.vault.deposit(helene["id"], "avis-imposition-2026.pdf", content, "impots")
        city.sync(office_a)
        kiosk_home: Terminal = counter       # the kiosk of office B, enrolled in the same city
        shown = asyncio.run(enroll(kiosk_home, city.url, city.invite(kiosk_home.name)))
        city.approve(kiosk_home.id, shown["device_fingerprint"])
        city.sync(kiosk_home)
        assert [d["id"] for d in vault.missing(kiosk_home)] == [doc["id"]]
        ca.issue(kiosk_home.home, helene["id"], "Hélène Dupont", "citizen", "246824")
        monkeypatch.setenv("BEFFROI_CARD_READER", reader.name)
        reader.insert(kiosk_home.home, helene["id"])

        async def scenario() -> None:
            app = KioskApp(kiosk_home.home, "fr")
            async with app.run_test(size=SIZE) as pilot:
                await pilot.press("4")
                await pilot.pause()
                assert isinstance(app.screen, VaultScreen)
                await _type(pilot, "246824")
                table = app.screen.query_one("#documents", DataTable)
                assert [table.get_row_at(i)[0] for i in range(table.row_count)] == ["avis-imposition-2026.pdf"]
                table.focus()
                await pilot.press("enter")
                await pilot.pause()
                line = str(app.screen.query_one("#document-opened", Static).render())
                assert line.startswith("✓ avis-imposition-2026.pdf ouvert : PDF, 6 Kio, intact"), line
        asyncio.run(scenario())
        assert vault.missing(kiosk_home) == []      # checked and kept at the kiosk's terminal
    finally:
        city.close()
        server.stop()
