"""The kiosk as a citizen uses it, through Pilot, on a real terminal home."""

from __future__ import annotations

import pytest

from hub.errors import Forbidden, NotFound
from hub.ids import format_tracking_code
from tests.waiting import settle
from tui.kiosk.app import KioskApp
from tui.kiosk.screens.check import CheckScreen
from tui.kiosk.screens.request import KioskFiledScreen
from tui.kiosk.screens.ticket import TicketIssuedScreen
from tui.kiosk.screens.welcome import WelcomeScreen

from .conftest import SIZE


def screen_text(app) -> str:
    """Everything the screen shows, as a person would read it."""
    return "\n".join(str(w.render()) for w in app.screen.query("Static, Label, Input, Button")
                     if w.display) + "\n" + "\n".join(w.value for w in app.screen.query("Input"))


async def check(pilot, code: str, verification: str) -> None:
    if not isinstance(pilot.app.screen, CheckScreen):
        await pilot.press("2")
        await pilot.pause()
    await submit(pilot, code, verification)


async def submit(pilot, code: str | None, verification: str) -> None:
    """Type the code and verification, then Enter, as a citizen does."""
    screen = pilot.app.screen
    if code is not None:
        screen.query_one("#code").value = code
    screen.query_one("#verification").value = verification
    screen.query_one("#verification").focus()
    await pilot.press("enter")
    await pilot.pause()


async def test_check_with_right_and_wrong_verification(city, frozen):
    home, data = city
    code = data["report"]["tracking_code"]
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await check(pilot, format_tracking_code(code), "1999")
        assert "aucune demande ne correspond" in screen_text(app)
        assert "4 essais restants" in screen_text(app)
        assert "Signalement" not in screen_text(app)
        await submit(pilot, None, "1985")
        shown = str(app.screen.query_one("#check-result").render())
        assert format_tracking_code(code) in shown and "Déposée" in shown
        assert "Dupont" not in screen_text(app) and "Pasteur" not in screen_text(app)


async def test_five_wrong_codes_lock_the_kiosk_and_it_says_so(city, frozen):
    home, data = city
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await check(pilot, "AAAA-AAAA", "0000")
        for _ in range(4):
            await submit(pilot, None, "0000")
        assert "0 essais restants" in str(app.screen.query_one("#check-error").render())
        await submit(pilot, data["report"]["tracking_code"], "1985")   # right, but too late
        error = str(app.screen.query_one("#check-error").render())
        assert "5 minutes" in error and "⛔" in error
        assert str(app.screen.query_one("#check-result").render()) == ""
        assert app.session.principal.scope_case is None


async def test_idle_resets_to_a_blank_welcome_screen(city, frozen):
    home, data = city
    app = KioskApp(home, idle_seconds=0.5, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")                      # the citizen switched to English
        await pilot.pause()
        await check(pilot, data["report"]["tracking_code"], "1985")
        assert app.session.principal.scope_case == data["report"]["id"]
        assert data["report"]["tracking_code"][:4] in screen_text(app)
        frozen.clock.advance(0.4)
        app.idle_tick()                   # the idle check (every second) before the delay: nothing happens
        await pilot.pause()
        assert app.session.principal.scope_case == data["report"]["id"]
        frozen.clock.advance(0.2)
        app.idle_tick()
        await settle(pilot, lambda: isinstance(app.screen, WelcomeScreen) and len(app.screen_stack) == 2)
        assert len(app.screen_stack) == 2
        assert not app.query("CheckScreen") and not any(isinstance(s, CheckScreen) for s in app.screen_stack)
        assert app.session.principal.scope_case is None          # the unlocked case is forgotten
        assert data["report"]["tracking_code"][:4] not in screen_text(app)
        assert "Bienvenue" in screen_text(app)                     # back to French for the next person
        # Nothing the last citizen typed comes back when the next one opens the form.
        await pilot.press("2")
        await pilot.pause()
        assert app.screen.query_one("#code").value == "" and app.screen.query_one("#verification").value == ""


async def test_kiosk_cannot_reach_another_citizens_case(city, frozen):
    home, data = city
    mine, theirs = data["report"], data["disputed"]        # Hélène's report; Karim's request
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await check(pilot, mine["tracking_code"], "1985")
        assert app.session.principal.scope_case == mine["id"]
        # Someone else's tracking code with the verification that opened mine.
        await submit(pilot, theirs["tracking_code"], "1985")
        text = screen_text(app)
        assert "aucune demande ne correspond" in text
        assert "Benali" not in text and "Karim" not in text and "Copie d'acte" not in text
        assert format_tracking_code(theirs["tracking_code"]) not in str(app.screen.query_one("#check-result").render())
        # And the session behind the screen is refused by the hub itself, as if the case did not exist.
        with pytest.raises(NotFound):
            app.session.cases.get(theirs["id"])
        with pytest.raises(Forbidden):
            app.session.citizens.search("Benali")
        with pytest.raises(Forbidden):
            app.session.citizens.get(mine["citizen_id"])      # not even the owner's record


async def test_take_a_ticket_writes_a_printable_slip(city, frozen):
    home, _ = city
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        await pilot.click("#family-V")
        await pilot.pause()
        assert isinstance(app.screen, TicketIssuedScreen)
        ticket = app.screen.ticket
        assert ticket["label"] == "V002" and ticket["status"] == "waiting"
        assert str(app.screen.query_one("#ticket-number").render()) == "V 0 0 2"
        slip = app.screen.path.read_text("utf-8")
        assert "V002" in slip and "Voirie et propreté" in slip and "Ville d'Angers" in slip
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)


async def test_file_a_report_then_follow_it(city, frozen):
    home, _ = city
    app = KioskApp(home, "en", blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await pilot.click("#service-signalement")
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert "is required" in str(app.screen.query_one("#error-location").render())
        app.screen.query_one("#field-category").value = "mobilier"
        app.screen.query_one("#field-location").value = "place de la Mairie"
        app.screen.query_one("#field-description").value = "Broken bench"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, KioskFiledScreen)
        case = app.screen.case
        assert case["citizen_id"] is None and case["verify_kind"] == "pin"
        await pilot.click("#done")
        await pilot.pause()
        assert app.session.principal.scope_case is None
        await check(pilot, case["tracking_code"], case["verify_value"])
        assert "Submitted" in str(app.screen.query_one("#check-result").render())


async def test_only_kiosk_services_are_offered(city, frozen):
    home, _ = city
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        offered = {b.id.removeprefix("service-") for b in app.screen.query("Button")}
        assert offered == {s.code for s in app.terminal.catalog if s.kiosk} == {"encombrants", "signalement"}


async def test_idle_on_the_welcome_screen_restores_the_default_language(city, frozen):
    home, _ = city
    app = KioskApp(home, idle_seconds=0.5, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        assert "Welcome" in screen_text(app)
        frozen.clock.advance(0.5)
        app.idle_tick()
        await settle(pilot, lambda: "Bienvenue" in screen_text(app) and isinstance(app.screen, WelcomeScreen))
