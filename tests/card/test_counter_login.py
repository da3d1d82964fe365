"""The counter's login screen with a real card: pcscd, the vpcd driver and the
virtual PIV card, driven through Textual's Pilot as an agent would."""

from __future__ import annotations

from textual.widgets import Static

from tui.counter.app import CounterApp
from tui.counter.screens.desk import DeskScreen
from tui.counter.screens.login import LoginScreen
from tui.login import CardLogin

from ..waiting import settle

SIZE = (120, 40)


async def _type(pilot, text: str) -> None:
    for key in text:
        await pilot.press(key)
    await pilot.press("enter")


async def test_agent_signs_in_with_card_and_pin_and_removal_locks(counter, reader):
    reader.insert(counter.home, "claire")
    app = CounterApp(counter.home, "fr", login_method=CardLogin(reader.name))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen) and not app.screen.query("#agent")  # the card says who
        await _type(pilot, "000000")
        error = app.screen.query_one("#login-error", Static)
        assert "2 essais restant" in str(error.render())
        await _type(pilot, "246810")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen))
        assert app.session.principal.id == "claire" and app.session.principal.role == "agent"

        reader.remove(wait=False)
        # The login screen is back and composed (switching screens and composing are two steps);
        # how fast is the card benchmark's to measure.
        await settle(pilot, lambda: isinstance(app.screen, LoginScreen) and bool(app.screen.query("#login-error")),
                     within=5.0, what="the login screen after the card was removed")
        assert app.session is None
        assert "Carte retirée" in str(app.screen.query_one("#login-error", Static).render())


async def test_no_card_in_the_reader_is_said_and_the_app_keeps_running(counter, reader):
    app = CounterApp(counter.home, "en", login_method=CardLogin(reader.name))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _type(pilot, "246810")
        error = str(app.screen.query_one("#login-error", Static).render())
        assert error.startswith("⚠") and isinstance(app.screen, LoginScreen) and app.session is None


async def test_a_card_with_the_factory_pin_is_offered_a_pin_change(counter, reader):
    from card import ca
    from card.login import authenticate
    from tui.counter.screens.pin_change import PinChangeScreen
    ca.issue(counter.home, "bruno", "Bruno Petit", "agent", "123456")  # as a new card arrives
    reader.insert(counter.home, "bruno")
    app = CounterApp(counter.home, "en", login_method=CardLogin(reader.name))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _type(pilot, "123456")
        await settle(pilot, lambda: isinstance(app.screen, PinChangeScreen), what="the PIN change offer")
        assert app.session.principal.id == "bruno"
        await _type(pilot, "424242")
        await _type(pilot, "424243")
        assert "differ" in str(app.screen.query_one("#pin-error", Static).render())
        await _type(pilot, "123456")
        await _type(pilot, "123456")
        assert "factory PIN" in str(app.screen.query_one("#pin-error", Static).render())
        await _type(pilot, "424242")
        await _type(pilot, "424242")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), what="the desk after the PIN change")
        assert app.session.principal.id == "bruno"
    assert ca.read_card(counter.home, "bruno")["pin_tries"] == 3
    assert authenticate(counter, "424242", reader.name).identity.uid == "bruno"


async def test_a_personal_pin_goes_straight_to_the_desk_and_later_keeps_the_factory_pin(counter, reader):
    from card import ca
    from card.login import authenticate
    from tui.counter.screens.pin_change import PinChangeScreen
    reader.insert(counter.home, "claire")
    app = CounterApp(counter.home, "fr", login_method=CardLogin(reader.name))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _type(pilot, "246810")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen))
    ca.issue(counter.home, "bruno", "Bruno Petit", "agent", "123456")
    reader.insert(counter.home, "bruno")
    app = CounterApp(counter.home, "fr", login_method=CardLogin(reader.name))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _type(pilot, "123456")
        await settle(pilot, lambda: isinstance(app.screen, PinChangeScreen))
        await pilot.click("#later")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen))
    assert authenticate(counter, "123456", reader.name).identity.uid == "bruno"
