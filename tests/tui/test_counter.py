"""The counter app doing an agent's real work, end to end through Pilot, on a
real terminal home: every result is read back from the hub or from disk."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pypdf import PdfReader

from hub.roles import Principal
from hub.terminal import Terminal
from tests.waiting import settle
from tui.counter.app import CounterApp
from tui.counter.screens.case import CaseScreen
from tui.counter.screens.citizen import CitizenScreen
from tui.counter.screens.desk import DeskScreen
from tui.counter.screens.login import LoginScreen
from tui.counter.screens.request import TrackingScreen

from .conftest import EPOCH, SIZE


def next_slot(days: int = 7) -> str:
    """A weekday slot the bulky-waste service accepts (2 to 60 days ahead)."""
    day = EPOCH.date() + dt.timedelta(days=days)   # the terminals' frozen clock
    while day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    return f"{day.isoformat()} matin"


async def sign_in(pilot, pin: str = "246810") -> None:
    await pilot.press(*"agent", "enter", *pin, "enter")
    await pilot.pause()


async def palette(pilot, command: str, screen: type) -> None:
    """Reach a screen the way an agent does: ctrl+p, its name, enter."""
    from textual.command import CommandList, CommandPalette

    def offered() -> bool:
        if not isinstance(pilot.app.screen, CommandPalette):
            return False
        found = pilot.app.screen.query_one(CommandList)
        return found.highlighted is not None and \
            command.lower() in str(found.get_option_at_index(found.highlighted).prompt).lower()
    await pilot.press("ctrl+p")
    await settle(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), what="the command palette")
    await pilot.press(*command)
    await settle(pilot, offered, what=f"the palette offering {command}")
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(pilot.app.screen, screen), what=f"the screen {command}")


async def test_wrong_pins_lock_the_agent_out(city, frozen):
    home, _ = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"agent", "enter")
        for expected in ("2 essais restants", "1 essais restants", "bloqué pendant 15 minutes"):
            await pilot.press(*"000000", "enter")    # the PIN field keeps the focus after a refusal
            assert isinstance(app.screen, LoginScreen)
            assert expected in str(app.screen.query_one("#login-error").render())
        await pilot.press(*"246810", "enter")        # the right PIN, too late
        assert isinstance(app.screen, LoginScreen)
        assert "bloqué" in str(app.screen.query_one("#login-error").render())
        assert app.session is None


async def test_agent_registers_citizen_opens_bulky_waste_and_takes_payment(city, tmp_path, frozen):
    home, _ = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        assert isinstance(app.screen, DeskScreen)
        # A new citizen: nobody found, so F5 registers them.
        await pilot.press(*"Lucas Fournier")
        assert app.screen.query_one("#results").row_count == 0
        await pilot.press("f5")
        await pilot.press(*"Lucas", "enter", *"Fournier", "enter", *"01/02/1990", "enter",
                          *"5 rue des Lilas", "enter", *"49100", "enter", *"0601020304", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, CitizenScreen)
        citizen = app.session.citizens.get(app.screen.citizen_id)
        assert (citizen["first_name"], citizen["birth_date"], citizen["postcode"]) == ("Lucas", "1990-02-01", "49100")
        # A bulky-waste request from the catalog, with an inline error first.
        await pilot.press("f7")
        services = app.screen.query_one("#services")
        services.highlighted = [o.id for o in services._options].index("encombrants")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*"5 rue des Lilas", "enter", *"un canapé", "enter", *"9", "enter", *next_slot(), "ctrl+s")
        await pilot.pause()
        assert "compris entre 1 et 5" in str(app.screen.query_one("#error-volume_m3").render())
        volume = app.screen.query_one("#field-volume_m3")
        volume.value = "2"
        await pilot.press("ctrl+s")                  # review
        await pilot.press("ctrl+s")                  # confirm
        await pilot.pause()
        assert isinstance(app.screen, TrackingScreen)
        case = app.screen.case
        assert case["service"] == "encombrants" and case["citizen_id"] == citizen["id"]
        assert case["verify_value"] == "1990"
        shown = str(app.screen.query_one("#tracking-code").render()).replace(" ", "")
        assert shown == f"{case['tracking_code'][:4]}-{case['tracking_code'][4:]}"
        # A payment on it, and its receipt.
        await pilot.press("f8")
        await pilot.pause()
        amount = app.screen.query_one("#amount")
        amount.value = "15,50"
        await pilot.click("#method-cheque")
        await pilot.press("ctrl+s")
        await pilot.pause()
        path = app.screen.path
        assert path.parent == home / "receipts"
        assert str(path) in str(app.screen.query_one("#receipt-path").render()).replace("\n", "")
        await pilot.press("escape")
    with Terminal.open(home) as terminal:
        desk = terminal.session(Principal.agent("agent"))
        stored = desk.cases.get(case["id"])
        assert [(p["amount_cents"], p["method"]) for p in stored["payments"]] == [(1550, "cheque")]
        number = stored["payments"][0]["receipt_number"]
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    assert "Ville d'Angers" in text and "MAIRIE-01" in text and number in text
    assert "15,50" in text and f"{case['tracking_code'][:4]}-{case['tracking_code'][4:]}" in text
    assert PdfReader(path).pages[0].images, "the receipt carries the QR code of the tracking code"


async def test_duplicate_warning_then_register_anyway(city, frozen):
    home, data = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("f5", *"Hélène", "enter", *"Dupont", "enter", *"1985-03-12", "ctrl+s")
        await pilot.pause()
        warning = str(app.screen.query_one("#duplicates").render())
        assert "Doublon possible" in warning and "3 rue Pasteur" in warning
        assert app.session.citizens.count() == 3      # nothing written yet
        await pilot.press("ctrl+s")                   # the agent checked: a namesake
        await pilot.pause()
        assert isinstance(app.screen, CitizenScreen)
        assert app.session.citizens.count() == 4


async def test_bad_identity_is_refused_inline_and_nothing_is_stored(city, frozen):
    home, _ = city
    app = CounterApp(home, "en", blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("f5", "enter", *"Martin", "enter", *"31/13/2000", "enter", "enter", *"123", "ctrl+s")
        await pilot.pause()
        assert "is required" in str(app.screen.query_one("#error-first_name").render())
        assert "past date" in str(app.screen.query_one("#error-birth_date").render())
        assert "5 digits" in str(app.screen.query_one("#error-postcode").render())
        assert app.session.citizens.count() == 3


async def test_case_page_offers_only_allowed_moves_and_records_notes(city, frozen):
    home, data = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.open_case(data["birth"]["id"])
        await pilot.pause()
        assert isinstance(app.screen, CaseScreen)
        moves = sorted(b.name for b in app.screen.query(".move"))
        assert moves == ["issued", "rejected"]        # from in_review, per the catalog
        await pilot.click(".move")
        await pilot.pause()
        assert app.session.cases.get(data["birth"]["id"])["status"] == "issued"
        assert sorted(b.name for b in app.screen.query(".move")) == ["delivered"]
        await pilot.press("ctrl+n", *"Pièce d'identité vue", "enter")
        await pilot.pause()
        notes = app.session.cases.get(data["birth"]["id"])["notes"]
        assert [n["text"] for n in notes] == ["Pièce d'identité vue"]
        assert "Pièce d'identité vue" in str(app.screen.query_one("#notes").render())


async def test_queue_call_next_and_no_show(city, frozen):
    home, _ = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press("f2")
        called = app.screen.current
        assert called["label"] == "E001"
        await pilot.press("f3")
        assert app.session.queue.get(called["id"])["status"] == "no_show"
        counts = app.session.queue.counts()
        assert counts == {"E": 1, "V": 1, "P": 1}
        table = app.screen.query_one("#queue-counts")
        assert table.get_row("total")[1] == "3"


async def test_search_as_you_type_uses_the_hub_index(city, frozen):
    home, _ = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press(*"hel")
        table = app.screen.query_one("#results")
        assert [table.get_row_at(i)[:2] for i in range(table.row_count)] == [["Dupont", "Hélène"]]
        await pilot.press(*"ene dup", "enter", "enter")
        await pilot.pause()
        assert isinstance(app.screen, CitizenScreen)
        assert "Hélène DUPONT" in re.sub(r"\[/?b\]", "", str(app.screen.query_one("#identity").render()))


async def test_short_queries_wait_for_enter(city, frozen):
    home, _ = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        await pilot.press(*"du")
        table = app.screen.query_one("#results")
        assert table.row_count == 0
        assert "3 caractères" in str(app.screen.query_one("#search-hint").render())
        await pilot.press("enter")
        assert sorted(table.get_row_at(i)[1] for i in range(table.row_count)) == ["Hélène", "Jean"]
        assert app.focused is table
        search = app.screen.query_one("#search")
        search.value = ""
        search.focus()
        await pilot.press(*"12/03/198")
        assert table.row_count == 0                    # a date half typed is not searched
        await pilot.press("5")
        assert [table.get_row_at(i)[1] for i in range(table.row_count)] == ["Hélène"]


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_every_binding_of_the_desk_is_translated(city, lang, frozen):
    home, _ = city
    app = CounterApp(home, lang, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        descriptions = {b.description for _, b, _, _ in app.screen.active_bindings.values() if b.show}
        expected = {"fr": "Appeler", "en": "Call next"}[lang]
        assert expected in descriptions


async def test_command_palette_reaches_the_conflicts_inbox(city, frozen):
    home, data = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        from tui.counter.screens.conflicts import ConflictsScreen
        await palette(pilot, "Conflits", ConflictsScreen)
        assert isinstance(app.screen, ConflictsScreen)
        table = app.screen.query_one("#conflicts")
        assert table.row_count == 1
        assert table.get_row_at(0)[1] == f"{data['disputed']['tracking_code'][:4]}-{data['disputed']['tracking_code'][4:]}"


async def test_payment_dialog_refuses_a_bad_amount_and_writes_nothing(city, frozen):
    home, data = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.take_payment(data["report"]["id"])
        await pilot.pause()
        for typed, message in (("douze", "Saisissez un montant"), ("0", "compris entre 1 et")):
            app.screen.query_one("#amount").value = typed
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert message in str(app.screen.query_one("#payment-error").render())
        assert app.session.cases.get(data["report"]["id"])["payments"] == []
        assert not (home / "receipts").exists()


async def test_agent_edits_a_citizen(city, frozen):
    home, data = city
    helene = data["citizens"][0]
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot)
        app.open_citizen(helene["id"])
        await pilot.pause()
        await pilot.press("f5")
        await pilot.pause()
        assert app.screen.query_one("#field-birth_date").value == "12/03/1985"
        app.screen.query_one("#field-phone").value = "02 41 00 00 00"
        app.screen.query_one("#field-postcode").value = "4900"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "5 chiffres" in str(app.screen.query_one("#error-postcode").render())
        assert app.session.citizens.get(helene["id"])["phone"] == "0612345678"     # nothing written
        app.screen.query_one("#field-postcode").value = "49100"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, CitizenScreen)
        stored = app.session.citizens.get(helene["id"])
        assert (stored["phone"], stored["postcode"]) == ("0241000000", "49100")
        assert "0241000000" in str(app.screen.query_one("#identity").render())
