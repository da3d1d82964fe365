"""The kiosk's appliance screens: the maintenance exit (empty, and after a
wrong PIN) and the fixed out-of-service screen, in French and English."""

from __future__ import annotations

import pytest

from tui.kiosk.app import KioskApp
from tui.kiosk.out_of_service import OutOfServiceApp

from .conftest import SIZE, frozen_clock


async def maintenance(pilot) -> None:
    await pilot.press("ctrl+o")
    await pilot.pause()


async def maintenance_refused(pilot) -> None:
    await maintenance(pilot)
    pilot.app.screen.query_one("#ops-id").value = "ops"
    pilot.app.screen.query_one("#ops-pin").value = "0000"
    pilot.app.screen.query_one("#ops-pin").focus()
    await pilot.press("enter")
    await pilot.pause()


async def maintenance_card(pilot) -> None:
    pilot.app.maintenance_login = "card"
    await maintenance(pilot)


SCENARIOS = [maintenance, maintenance_refused, maintenance_card]


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_maintenance_screen(snap_compare, city, scenario, lang):
    home, data = city
    app = KioskApp(home, lang, clock=frozen_clock, blink=False, maintenance_login="pin")
    app.city = data
    assert snap_compare(app, terminal_size=SIZE, run_before=scenario)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_out_of_service_screen(snap_compare, lang):
    assert snap_compare(OutOfServiceApp(lang), terminal_size=SIZE)
