"""The counter and the kiosk in isolated mode, end to end through Pilot: the
hub's continuity policy is what they show (an unavailable service refused with
its reason, a deferred one accepted and marked, a full one completed), acts get
their incident-register number, and the counter prints the register (F9)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from pypdf import PdfReader
from textual.widgets import Checkbox

from hub.catalog import default_catalog
from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal
from printing import printers
from tests.cupsfixtures import cups_server_fixture, second_queue_fixture  # noqa: F401
from tests.waiting import settle
from tui.counter.app import CounterApp
from tui.counter.screens.desk import DeskScreen
from tui.counter.screens.payment import PaymentScreen, ReceiptScreen
from tui.counter.screens.request import RequestScreen, ServiceScreen, TrackingScreen
from tui.kiosk.app import KioskApp
from tui.kiosk.screens.request import KioskFiledScreen
from tui.kiosk.screens.ticket import TicketIssuedScreen, TicketScreen
from tui.widgets.banner import ModeBanner

from .conftest import SIZE, set_mode
from .test_snapshots import open_helene


def service_codes(screen) -> list[str]:
    return [o.id for o in screen.query_one("#services")._options]


async def choose(pilot, code: str) -> None:
    await pilot.press("f7")
    await settle(pilot, lambda: isinstance(pilot.app.screen, ServiceScreen))
    pilot.app.screen.query_one("#services").highlighted = service_codes(pilot.app.screen).index(code)
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(pilot.app.screen, RequestScreen))


async def test_counter_in_isolated_mode_serves_per_policy_and_prints_the_register(city, frozen, tmp_path):
    home, data = city
    set_mode(home, "isolated")
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await open_helene(pilot)
        await pilot.press("f7")
        await settle(pilot, lambda: isinstance(app.screen, ServiceScreen))
        offered = service_codes(app.screen)
        assert "forfait-post-stationnement" not in offered and "acte-naissance" in offered
        assert "1 démarche" in str(app.screen.query_one(".muted").render())
        await pilot.press("escape")
        # a copy of a birth certificate: accepted, deferred to the civil-status office
        await choose(pilot, "acte-naissance")
        form = app.screen
        for key, value in (("last_name", "Dupont"), ("first_names", "Hélène"), ("birth_date", "12/03/1985")):
            form.query_one(f"#field-{key}").value = value
        for key, value in (("copy_kind", "integrale"), ("relationship", "titulaire"), ("delivery", "guichet")):
            form.query_one(f"#field-{key}").value = value
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, TrackingScreen), what="the tracking screen")
        case = app.session.cases.get(app.screen.case["id"])
        assert case["deferred"] == 1 and case["timeline"][0]["data"]["register"] == 1
        assert "Numéro au registre d'incident : 1" in str(app.screen.query_one("#register-number").render())
        assert "finalisera après l'incident" in str(app.screen.query_one("#deferred").render())
        await pilot.press("escape", "escape")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen))
        await pilot.press("f9")
        registers = home / "registers"
        await settle(pilot, lambda: registers.exists() and any(registers.iterdir()), what="the register PDF")
        pdf = next(registers.iterdir())
        text = "\n".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
        assert "Copie d'acte de naissance" in text or "naissance" in text
        assert case["tracking_code"][:4] in text and app.terminal.journal.heads()[app.terminal.id][1] in text


CATALOG = default_catalog()


def typed(field, value):
    """What the agent enters in the field's widget for a sample value."""
    if field.type == "date":
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    if field.type == "boolean":
        return value in (True, "oui")
    return value


async def fill_and_confirm(pilot, service, citizen) -> None:
    form = pilot.app.screen
    values = sample_fields(service.code, random.Random(service.code), citizen, pilot.app.terminal.today())
    for field in service.fields:
        if field.key in values:
            form.query_one(f"#field-{field.key}").value = typed(field, values[field.key])
    for box in form.query("#documents Checkbox").results(Checkbox):
        box.value = True   # the agent saw every document
    await pilot.press("ctrl+s")
    await pilot.pause()
    await pilot.press("ctrl+s")


@pytest.mark.parametrize("code", [s.code for s in CATALOG])
async def test_each_service_at_the_counter_in_isolated_mode(city, frozen, code):
    """An agent opens each of the 9 démarches at the counter while isolated and
    sees what its policy asks for: an ``unavailable`` one is not offered, and
    refused with its reason if its form was open when the incident began; a
    ``deferred`` one is accepted and marked; a ``full`` one is completed, with
    its incident-register number on the tracking screen and on the receipt."""
    home, data = city
    service = CATALOG.get(code)
    helene = data["citizens"][0]
    if service.policy != "unavailable":
        set_mode(home, "isolated")
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await open_helene(pilot)
        await choose(pilot, code)
        before = app.terminal.journal.count()
        if service.policy == "unavailable":
            set_mode(home, "isolated")
            await settle(pilot, lambda: app.mode.name == "isolated", what="the app seeing the incident")
            before = app.terminal.journal.count()
            form = app.screen
            await fill_and_confirm(pilot, service, helene)
            await settle(pilot, lambda: "mode isolé" in str(form.query_one("#form-problems").render()),
                         what="the refusal on the form")
            said = str(form.query_one("#form-problems").render())
            assert service.names["fr"] in said and "indisponible" in said and "revenir après l'incident" in said
            assert app.terminal.journal.count() == before and isinstance(app.screen, RequestScreen)
            await pilot.press("escape", "escape")
            await pilot.press("f7")
            await settle(pilot, lambda: isinstance(app.screen, ServiceScreen))
            assert code not in service_codes(app.screen)
            assert "masquée" in str(app.screen.query_one(".muted").render())
            return
        await fill_and_confirm(pilot, service, helene)
        await settle(pilot, lambda: isinstance(app.screen, TrackingScreen), what="the tracking screen")
        case = app.session.cases.get(app.screen.case["id"])
        number = case["timeline"][0]["data"]["register"]
        assert f"Numéro au registre d'incident : {number}" in str(app.screen.query_one("#register-number").render())
        deferred = app.screen.query("#deferred")
        if service.policy == "deferred":
            assert case["deferred"] == 1 and "finalisera après l'incident" in str(deferred.first().render())
        else:
            assert case["deferred"] == 0 and not deferred
        if case["fee_cents"]:
            await pilot.press("f8")
            await settle(pilot, lambda: isinstance(app.screen, PaymentScreen), what="the payment dialog")
            await pilot.press("enter")
            await settle(pilot, lambda: isinstance(app.screen, ReceiptScreen), what="the receipt")
            payment = app.screen.payment
            receipt = home / "receipts" / f"{payment['receipt_number']}.pdf"
            text = PdfReader(str(receipt)).pages[0].extract_text()
            assert f"Registre d'incident n° {number + 1}" in text and payment["receipt_number"] in text
        assert app.terminal.journal.count() > before


async def test_counter_shows_the_refusal_when_the_mode_changes_under_an_open_form(city, frozen):
    """The form of the FPS was opened online; the terminal is isolated before it
    is confirmed: the hub refuses, the counter reads the reason, nothing is stored."""
    home, data = city
    app = CounterApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await open_helene(pilot)
        await choose(pilot, "forfait-post-stationnement")
        form = app.screen
        form.query_one("#field-notice_number").value = "123456789012"
        form.query_one("#field-plate").value = "AB-123-CD"
        form.query_one("#field-amount_cents").value = "3500"
        set_mode(home, "isolated")
        await settle(pilot, lambda: app.mode.name == "isolated", what="the app seeing the incident")
        before = app.terminal.journal.count()
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: "mode isolé" in str(form.query_one("#form-problems").render()),
                     what="the refusal on the form")
        assert "indisponible" in str(form.query_one("#form-problems").render())
        assert app.terminal.journal.count() == before and isinstance(app.screen, RequestScreen)


async def test_kiosk_files_a_report_in_isolated_mode(city, frozen):
    home, _ = city
    set_mode(home, "isolated")
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        offered = {b.id.removeprefix("service-") for b in app.screen.query("Button")}
        assert offered == {"encombrants", "signalement"}   # both `full`: a kiosk serves them while isolated
        await pilot.click("#service-signalement")
        await pilot.pause()
        app.screen.query_one("#field-category").value = "mobilier"
        app.screen.query_one("#field-location").value = "place de la Mairie"
        app.screen.query_one("#field-description").value = "Banc cassé"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, KioskFiledScreen), what="the filed screen")
        case = app.screen.case
    with Terminal.open(home) as t:
        stored = t.session(Principal.system()).cases.get(case["id"])
        assert stored["deferred"] == 0 and stored["timeline"][0]["data"]["register"] == 1
        assert t.mode().name == "isolated"


async def test_kiosk_prints_tickets_from_its_range_then_refuses_when_it_is_used_up(city, frozen, second_queue):
    """Isolated with tickets 500–501: the kiosk prints V500 then E501 (the
    banner warns: few numbers left), and the third citizen reads why no
    ticket comes out — nothing stored, no number reused."""
    home, _ = city
    printers.set_printer(home, "tickets", second_queue.name, second_queue.server.socket)
    set_mode(home, "isolated", tickets=(500, 501))
    app = KioskApp(home, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        for family, label in (("V", "V500"), ("E", "E501")):
            await pilot.press("1")
            await settle(pilot, lambda: isinstance(app.screen, TicketScreen), what="the ticket screen")
            await pilot.click(f"#family-{family}")
            await settle(pilot, lambda: isinstance(app.screen, TicketIssuedScreen), what="the ticket")
            assert app.screen.ticket["label"] == label
            assert "tickets restants : " in str(app.screen.query_one(ModeBanner).render())
            await pilot.press("enter")
            await settle(pilot, lambda: not isinstance(app.screen, TicketIssuedScreen), what="home again")
        slips = second_queue.wait_printed(2)
        assert sorted(label for slip in slips for label in ("V500", "E501") if label in second_queue.text(slip)) \
            == ["E501", "V500"]
        before = app.terminal.journal.count(), app.terminal.state_hash()
        await pilot.press("1")
        await settle(pilot, lambda: isinstance(app.screen, TicketScreen), what="the ticket screen")
        await pilot.click("#family-E")
        await settle(pilot, lambda: any("aucun ticket ne peut être imprimé" in str(n.message)
                                        for n in app._notifications), what="the refusal")
        assert isinstance(app.screen, TicketScreen)
        assert (app.terminal.journal.count(), app.terminal.state_hash()) == before
    assert len(second_queue.printed()) == 2
