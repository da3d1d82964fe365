"""IT staff take a kiosk out of service with their ops card and its PIN: real
pcscd, vpcd driver and virtual card, driven through Textual's Pilot."""

from __future__ import annotations

from textual.widgets import Static

from card import ca
from tui.kiosk.app import MAINTENANCE_EXIT, KioskApp
from tui.kiosk.screens.maintenance import MaintenanceScreen

from ..waiting import settle
from .test_counter_login import SIZE, _type


def exits(terminal) -> list:
    return [e for e in terminal.journal.events() if e.type == "kiosk.maintenance_opened"]


async def open_maintenance(pilot) -> MaintenanceScreen:
    await pilot.press("ctrl+o")
    return await settle(pilot, lambda: isinstance(pilot.app.screen, MaintenanceScreen) and pilot.app.screen,
                        what="the maintenance screen")


async def test_an_ops_card_and_its_pin_take_the_kiosk_out_of_service(counter, reader, monkeypatch):
    ca.issue(counter.home, "jfaure", "Julien Faure", "ops", "135790")
    monkeypatch.setenv("BEFFROI_CARD_READER", reader.name)
    reader.insert(counter.home, "jfaure")
    app = KioskApp(counter.home, "fr", kiosk_id="BORNE-HALL")      # auto: a card is in the reader
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maintenance(pilot)
        assert screen.use_card and not screen.query("#ops-id")
        await _type(pilot, "000000")                                 # the card counts the wrong PIN
        assert "essai" in str(screen.query_one("#maintenance-error", Static).render())
        assert app.return_code is None and exits(counter) == []
        await _type(pilot, "135790")
        await settle(pilot, lambda: app.return_code is not None, what="the kiosk to end")
    assert app.return_code == MAINTENANCE_EXIT
    [event] = exits(counter)
    assert event.actor == "ops:jfaure" and event.data == {"kiosk": "BORNE-HALL", "method": "card", "by": "jfaure"}


async def test_an_agent_card_cannot_take_the_kiosk_out_of_service(counter, reader, monkeypatch):
    monkeypatch.setenv("BEFFROI_CARD_READER", reader.name)
    reader.insert(counter.home, "claire")                            # an agent, not ops
    app = KioskApp(counter.home, "en", maintenance_login="card")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maintenance(pilot)
        await _type(pilot, "246810")
        assert "only IT staff" in str(screen.query_one("#maintenance-error", Static).render())
        assert app.return_code is None and app.screen is screen
    assert exits(counter) == []
