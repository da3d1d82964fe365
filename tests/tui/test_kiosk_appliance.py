"""The kiosk as a locked public appliance, driven through Pilot: no key a
citizen can type leaves, suspends or reconfigures it, nothing on screen says
how to, and the maintenance exit takes an ops id (or card) and its PIN,
recorded in the journal."""

from __future__ import annotations

import pytest

from hub.agents import MAX_TRIES
from hub.terminal import Terminal
from tui import i18n
from tui.kiosk.app import MAINTENANCE_EXIT, KioskApp
from tui.kiosk.screens.maintenance import MaintenanceScreen
from tui.kiosk.screens.welcome import WelcomeScreen

from ..waiting import settle
from . import test_snapshots as scenarios
from .conftest import SIZE

# Every key that leaves, suspends or reconfigures a Textual app or a terminal
# program, and the editing shortcuts Textual gives inputs (ctrl+v would paste
# what the previous person copied).
ESCAPES = ["ctrl+q", "ctrl+c", "ctrl+z", "ctrl+backslash", "ctrl+p", "ctrl+d", "ctrl+w", "ctrl+v", "ctrl+x",
           "ctrl+l", "ctrl+t", "ctrl+k", "ctrl+a", "ctrl+e", "ctrl+u", "ctrl+shift+a", "alt+f4", "alt+x",
           "super+q", "super+c", *[f"f{n}" for n in range(1, 13)], "ctrl+f1", "ctrl+alt+delete"]
# Words that would tell a citizen a way out exists, in either language.
ADVERTS = ("quit", "quitter", "^q", "ctrl+q", "palette", "suspend", "screenshot", "capture", "maintenance")


async def maintenance(pilot) -> None:
    await pilot.press("ctrl+o")
    await settle(pilot, lambda: isinstance(pilot.app.screen, MaintenanceScreen), what="the maintenance screen")


SCREENS = [scenarios.welcome, scenarios.ticket, scenarios.ticket_issued, scenarios.check, scenarios.kiosk_services,
           scenarios.kiosk_request, scenarios.kiosk_filed, scenarios.vault, maintenance]


def footer_text(app) -> str:
    """What the footer offers, as painted."""
    return " ".join(f"{key.key} {key.key_display} {key.description}" for key in app.screen.query("FooterKey"))


@pytest.mark.parametrize("scenario", SCREENS, ids=[s.__name__ for s in SCREENS])
async def test_no_key_leaves_any_kiosk_screen(city, scenario):
    home, data = city
    app = KioskApp(home, blink=False, maintenance_login="pin")
    app.city = data
    async with app.run_test(size=SIZE) as pilot:
        await scenario(pilot)
        await pilot.pause()
        screen, depth = app.screen, len(app.screen_stack)
        before = {w.id: getattr(w, "value", None) for w in screen.query("Input")}
        for key in ESCAPES:
            await pilot.press(key)
        await pilot.pause()
        assert app.is_running and app.return_code is None
        assert app.screen is screen and len(app.screen_stack) == depth
        assert not app._notifications, [n.message for n in app._notifications]
        assert i18n.lang() == "fr"
        assert {w.id: getattr(w, "value", None) for w in screen.query("Input")} == before
        assert app.theme == "beffroi-contrast"
        footer = footer_text(app).lower()
        assert footer.strip()      # the footer is there, with the screen's own keys
        assert not any(word in footer for word in ADVERTS), footer


async def test_english_kiosk_stays_english_and_silent(city):
    home, _data = city
    app = KioskApp(home, "en", blink=False, maintenance_login="pin")
    async with app.run_test(size=SIZE) as pilot:
        for key in ESCAPES:
            await pilot.press(key)
        assert isinstance(app.screen, WelcomeScreen) and i18n.lang() == "en"
        assert not app._notifications and app.return_code is None


async def test_the_app_offers_no_way_out_whatever_calls_it(city):
    """Textual's own ways out, called directly (as a binding a future Textual
    adds would): each does nothing at a kiosk."""
    home, _data = city
    app = KioskApp(home, blink=False)
    async with app.run_test(size=SIZE) as pilot:
        for action in ("quit", "help_quit", "suspend_process", "command_palette", "screenshot", "change_theme"):
            await app.run_action(action)
            await pilot.pause()
        assert app.is_running and app.return_code is None and isinstance(app.screen, WelcomeScreen)
        assert not app._notifications
        assert not any(b.binding.action in ("quit", "app.quit", "help_quit") for b in app.active_bindings.values())


async def open_maintenance(pilot) -> MaintenanceScreen:
    await pilot.press("2")                  # from any screen, not only the welcome
    await pilot.press("ctrl+o")
    return await settle(pilot, lambda: isinstance(pilot.app.screen, MaintenanceScreen) and pilot.app.screen,
                        what="the maintenance screen")


async def type_ops(pilot, ops_id: str, pin: str) -> None:
    await pilot.click("#ops-id")
    await pilot.press(*ops_id, "enter", *pin, "enter")
    await pilot.pause()


def maintenance_events(home) -> list:
    with Terminal.open(home) as terminal:
        return [e for e in terminal.journal.events() if e.type == "kiosk.maintenance_opened"]


async def test_maintenance_exit_with_the_right_ops_pin_is_journalled(city):
    home, _data = city
    app = KioskApp(home, blink=False, kiosk_id="BORNE-HALL", maintenance_login="pin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maintenance(pilot)
        assert "Maintenance" in str(screen.query_one(".question").render())
        await type_ops(pilot, "ops", "135790")
        await settle(pilot, lambda: app.return_code is not None, what="the kiosk to end")
    assert app.return_code == MAINTENANCE_EXIT
    [event] = maintenance_events(home)
    assert event.actor == "ops:ops" and event.data == {"kiosk": "BORNE-HALL", "method": "pin", "by": "ops"}


async def test_wrong_ops_pins_count_toward_the_lockout_and_nothing_is_journalled(city):
    home, _data = city
    app = KioskApp(home, blink=False, maintenance_login="pin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maintenance(pilot)
        await type_ops(pilot, "ops", "0000")
        error = str(screen.query_one("#maintenance-error").render())
        assert "code erroné (2 essais restants)" in error
        assert screen.query_one("#ops-pin").value == ""
        for _ in range(MAX_TRIES - 1):
            screen.query_one("#ops-id").value = ""
            await type_ops(pilot, "ops", "0000")
        screen.query_one("#ops-id").value = ""
        await type_ops(pilot, "ops", "135790")                # right, but the ops id is locked now
        error = str(screen.query_one("#maintenance-error").render())
        assert "bloqué" in error and "15 minutes" in error
        assert app.return_code is None and app.screen is screen
        # Escape goes back to the welcome screen, not out.
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, WelcomeScreen), what="the welcome screen")
        assert app.return_code is None
    assert maintenance_events(home) == []
    with Terminal.open(home) as terminal:
        assert terminal.failures("pin:ops", 0) == MAX_TRIES


async def test_an_agent_who_is_not_ops_cannot_take_the_kiosk_out_of_service(city):
    home, _data = city
    app = KioskApp(home, "en", blink=False, maintenance_login="pin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maintenance(pilot)
        await type_ops(pilot, "agent", "246810")
        assert "only IT staff" in str(screen.query_one("#maintenance-error").render())
        assert app.return_code is None and app.screen is screen
    assert maintenance_events(home) == []


async def test_the_maintenance_screen_goes_home_when_idle(city, frozen):
    home, _data = city
    app = KioskApp(home, blink=False, idle_seconds=30, maintenance_login="pin", **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_maintenance(pilot)
        screen.query_one("#ops-id").value = "ops"
        frozen.clock.advance(31)
        app.idle_tick()
        await settle(pilot, lambda: isinstance(app.screen, WelcomeScreen) and len(app.screen_stack) == 2,
                     what="the idle reset")
        assert app.return_code is None


async def test_the_out_of_service_screen_offers_no_way_out_either():
    """The same lock-down (``tui.kiosk.lockdown``) on the screen a supervisor
    falls back to: Textual's ways out, called directly, do nothing."""
    from tui.kiosk.out_of_service import OutOfServiceApp
    app = OutOfServiceApp("fr")
    async with app.run_test(size=SIZE) as pilot:
        for action in ("quit", "help_quit", "suspend_process", "command_palette", "screenshot", "change_theme"):
            await app.run_action(action)
            await pilot.pause()
        assert app.is_running and app.return_code is None and not app._notifications
        assert len(app.screen_stack) == 1 and app.screen.query("#oos-title")   # no palette, nothing pushed
