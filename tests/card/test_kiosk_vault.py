"""A citizen opens their document vault at a kiosk with their citizen card:
real pcscd, vpcd driver and virtual card, driven through Textual's Pilot."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Static

from card import ca
from hub.errors import Forbidden
from hub.roles import Principal
from tui.kiosk.app import KioskApp
from tui.kiosk.screens.vault import VaultScreen
from tui.kiosk.screens.welcome import WelcomeScreen

from ..waiting import settle
from .test_counter_login import SIZE, _type


@pytest.fixture
def people(counter):
    desk = counter.session(Principal.system())
    helene = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
    karim = desk.citizens.register(first_name="Karim", last_name="Benali", birth_date="1979-07-14")
    desk.vault.deposit(helene["id"], "avis-imposition-2026.pdf", b"%PDF-1.4 avis", "impots")
    desk.vault.deposit(karim["id"], "passeport-benali.pdf", b"%PDF-1.4 passeport", "identite")
    ca.issue(counter.home, helene["id"], "Hélène Dupont", "citizen", "482016")
    return helene, karim


async def test_citizen_card_opens_only_their_vault_and_removal_closes_it(counter, reader, people, monkeypatch):
    helene, karim = people
    monkeypatch.setenv("BEFFROI_CARD_READER", reader.name)
    reader.insert(counter.home, helene["id"])
    app = KioskApp(counter.home, "fr")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, VaultScreen)
        await _type(pilot, "000000")
        assert "essais restant" in str(app.screen.query_one("#vault-error", Static).render())
        await _type(pilot, "482016")
        table = app.screen.query_one("#documents", DataTable)
        rows = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert rows == ["avis-imposition-2026.pdf"]
        assert "Hélène Dupont" in str(app.screen.query_one("#vault-owner", Static).render())
        assert "passeport" not in app.screen.query_one("#documents", DataTable).get_row_at(0)[0]
        with pytest.raises(Forbidden):
            app.session.vault.for_citizen(karim["id"])

        reader.remove(wait=False)
        await settle(pilot, lambda: isinstance(app.screen, WelcomeScreen) and bool(app.screen.query("#ticket")),
                     what="the welcome screen after the card was removed")
        assert app.session.principal.scope_citizen is None  # a fresh session: nothing stays open


async def test_an_agent_card_does_not_open_a_vault(counter, reader, people, monkeypatch):
    monkeypatch.setenv("BEFFROI_CARD_READER", reader.name)
    reader.insert(counter.home, "claire")
    app = KioskApp(counter.home, "en")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await _type(pilot, "246810")
        assert str(app.screen.query_one("#vault-error", Static).render()).startswith("⚠")
        assert app.session.principal.scope_citizen is None
        assert not app.screen.query_one("#documents", DataTable).display
