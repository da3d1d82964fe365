"""Every screen of the counter and the kiosk, in online and isolated mode, in
French, and the main ones again in English (online). Screenshots are SVGs under
``__snapshots__``; update them with ``pytest tests/tui --snapshot-update``
after checking the change by eye."""

from __future__ import annotations

import pytest

from tui.counter.app import CounterApp
from tui.kiosk.app import KioskApp

from .conftest import SIZE, frozen_clock, set_mode


# Typing goes through Pilot in test_counter.py; here fields are filled
# directly where typing is not what the screenshot shows, to keep this fast.
async def sign_in(pilot) -> None:
    pilot.app.screen.query_one("#agent").value = "agent"
    pilot.app.screen.query_one("#secret").value = "246810"
    pilot.app.screen.query_one("#secret").focus()
    await pilot.press("enter")
    await pilot.pause()


async def search(pilot, text: str) -> None:
    pilot.app.screen.query_one("#search").value = text
    await pilot.pause()


async def open_helene(pilot) -> None:
    await sign_in(pilot)
    await search(pilot, "helene dupont")
    await pilot.press("enter", "enter")
    await pilot.pause()


async def login(pilot) -> None:
    await pilot.press(*"agent", "enter", *"999999", "enter")   # a wrong PIN shows the tries left


async def desk(pilot) -> None:
    await sign_in(pilot)
    await pilot.press("f2")           # call the first ticket
    await search(pilot, "dupont")


async def citizen(pilot) -> None:
    await open_helene(pilot)


async def citizen_document(pilot) -> None:
    await open_helene(pilot)
    pilot.app.screen.query_one("#vault").focus()
    await pilot.press("enter")        # the document is opened and checked


async def citizen_form(pilot) -> None:
    await sign_in(pilot)
    await pilot.press("f5")
    await pilot.pause()
    for key, value in (("first_name", "Hélène"), ("last_name", "Dupont"), ("birth_date", "12/03/1985"),
                       ("postcode", "49000")):
        pilot.app.screen.query_one(f"#field-{key}").value = value
    await pilot.press("ctrl+s")       # the hub finds Hélène Dupont already registered


async def services(pilot) -> None:
    await open_helene(pilot)
    await pilot.press("f7")


async def request(pilot) -> None:
    await services(pilot)
    pilot.app.screen.query_one("#services").highlighted = 1   # acte-naissance
    await pilot.press("enter")
    await pilot.pause()
    pilot.app.screen.query_one("#field-last_name").value = "Dupont"
    pilot.app.screen.query_one("#field-birth_date").value = "31/02/1985"   # a date that does not exist
    pilot.app.screen.query_one("#field-birth_date").focus()
    await pilot.press("tab")          # leaving the field shows the hub's verdict


async def _filled_bill(pilot) -> None:
    await services(pilot)
    codes = [o.id for o in pilot.app.screen.query_one("#services")._options]
    pilot.app.screen.query_one("#services").highlighted = codes.index("facture-municipale")
    await pilot.press("enter")
    await pilot.pause()
    form = pilot.app.screen
    form.query_one("#field-bill_kind").value = "garderie"
    form.query_one("#field-bill_reference").value = "FAC-2026-00077"
    form.query_one("#field-amount_cents").value = "1890"
    await pilot.pause()


async def confirm(pilot) -> None:
    await _filled_bill(pilot)
    await pilot.press("ctrl+s")


async def tracking(pilot) -> None:
    await confirm(pilot)
    await pilot.press("ctrl+s")


async def payment(pilot) -> None:
    await tracking(pilot)
    await pilot.press("f8")


async def receipt(pilot) -> None:
    await payment(pilot)
    await pilot.press("ctrl+s")
    await pilot.pause()


async def case(pilot) -> None:
    await open_helene(pilot)
    table = pilot.app.screen.query_one("#cases")
    table.move_cursor(row=[str(k.value) for k in table.rows].index(pilot.app.city["birth"]["id"]))
    await pilot.press("enter")
    await pilot.pause()


async def conflicts(pilot) -> None:
    await sign_in(pilot)
    await pilot.press("f6")


async def welcome(pilot) -> None:
    await pilot.pause()


async def ticket(pilot) -> None:
    await pilot.press("1")


async def ticket_issued(pilot) -> None:
    await pilot.press("1")
    await pilot.pause()
    await pilot.press("tab", "tab", "enter")


async def _check_report(pilot, verification: str) -> None:
    await pilot.press("2")
    await pilot.pause()
    pilot.app.screen.query_one("#code").value = pilot.app.city["report"]["tracking_code"]
    pilot.app.screen.query_one("#verification").value = verification
    pilot.app.screen.query_one("#verification").focus()
    await pilot.press("enter")


async def check(pilot) -> None:
    await _check_report(pilot, "1985")


async def check_refused(pilot) -> None:
    await _check_report(pilot, "1999")


async def check_locked(pilot) -> None:
    await pilot.press("2")
    await pilot.pause()
    pilot.app.screen.query_one("#code").value = "AAAA-AAAA"
    for _ in range(6):
        pilot.app.screen.query_one("#verification").value = "0000"
        pilot.app.screen.query_one("#verification").focus()
        await pilot.press("enter")


async def kiosk_services(pilot) -> None:
    await pilot.press("3")


async def kiosk_request(pilot) -> None:
    await pilot.press("3")
    await pilot.pause()
    await pilot.press("tab", "enter")       # signalement
    await pilot.pause()
    await pilot.press("ctrl+s")                    # every required field flagged


async def kiosk_filed(pilot) -> None:
    await pilot.press("3")
    await pilot.pause()
    await pilot.press("tab", "enter")
    await pilot.pause()
    form = pilot.app.screen
    form.query_one("#field-category").value = "mobilier"
    form.query_one("#field-location").value = "place de la Mairie"
    form.query_one("#field-description").value = "Banc cassé"
    await pilot.press("ctrl+s")


async def vault(pilot) -> None:
    await pilot.press("4")            # the vault asks for the citizen card's PIN


async def merges(pilot) -> None:
    """Hélène Dupont registered again at another counter while cut off: a merge proposal."""
    from hub.roles import Principal
    pilot.app.terminal.session(Principal.agent("agent")).citizens.register(
        first_name="HELENE", last_name="Dupont", birth_date="1985-03-12", postcode="49100")
    await sign_in(pilot)
    pilot.app.action_merges()
    await pilot.pause()


async def assigned(pilot) -> None:
    """IT gave the signed-in agent the request moved on two counters and Hélène registered twice."""
    from continuity import conflicts
    from hub.roles import Principal
    terminal = pilot.app.terminal
    terminal.session(Principal.agent("agent")).citizens.register(
        first_name="HELENE", last_name="Dupont", birth_date="1985-03-12", postcode="49100")
    for c in conflicts.listing(terminal.conn):
        conflicts.assign(terminal.session(Principal.ops("dsi")), c.id, "agent")
    await sign_in(pilot)
    pilot.app.action_assigned()
    await pilot.pause()


COUNTER = [login, desk, citizen, citizen_document, citizen_form, services, request, confirm, tracking, payment, receipt, case,
           conflicts, merges, assigned]
KIOSK = [welcome, ticket, ticket_issued, check, check_refused, check_locked, kiosk_services, kiosk_request, kiosk_filed,
         vault]
ENGLISH = [login, desk, case, tracking, welcome, check, kiosk_filed]
CASES = [(s, mode, "fr") for s in COUNTER + KIOSK for mode in ("online", "isolated")] + \
        [(s, "online", "en") for s in ENGLISH] + \
        [(desk, mode, "fr") for mode in ("degraded", "recovery")]   # the banner's two other modes


@pytest.mark.parametrize("scenario,mode,lang", CASES,
                         ids=[f"{s.__name__}-{m}-{lang}" for s, m, lang in CASES])
def test_screen(snap_compare, city, scenario, mode, lang, frozen):
    home, data = city
    if mode != "online":
        set_mode(home, mode)
    kind = KioskApp if scenario in KIOSK else CounterApp
    app = kind(home, lang, clock=frozen_clock, blink=False, **frozen.app)
    app.city = data
    app.home_label = "/var/lib/beffroi"
    assert snap_compare(app, terminal_size=SIZE, run_before=scenario)


def test_ticket_from_a_range_running_low(snap_compare, city, frozen):
    """Isolated with tickets 500–510: the ticket carries the range's number and
    the banner warns that few numbers are left."""
    home, data = city
    set_mode(home, "isolated", tickets=(500, 510))
    app = KioskApp(home, "fr", clock=frozen_clock, blink=False, **frozen.app)
    app.home_label = "/var/lib/beffroi"
    assert snap_compare(app, terminal_size=SIZE, run_before=ticket_issued)


async def card_login_removed(pilot) -> None:
    """The card login, back after the agent's card left the reader (the card
    monitor's message, as it arrives from its thread)."""
    from hub.roles import Principal
    from tui.counter.app import CardLeft
    pilot.app.session = pilot.app.terminal.session(Principal.agent("agent"))
    pilot.app.post_message(CardLeft("card_removed"))
    await pilot.pause()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_card_login_screen(snap_compare, city, lang, frozen):
    """The login screen when the counter logs in with a card: no agent id (the
    card says who), the card's PIN, and why the agent is back here."""
    from tui.login import CardLogin
    home, data = city
    app = CounterApp(home, lang, clock=frozen_clock, blink=False, login_method=CardLogin(reader="none"), **frozen.app)
    app.city = data
    assert snap_compare(app, terminal_size=SIZE, run_before=card_login_removed)


async def pin_change_offered(pilot) -> None:
    """Right after a sign-in with a card that still has its factory PIN."""
    from hub.roles import Principal
    from tui.counter.screens.pin_change import PinChangeScreen
    pilot.app.signed_in(Principal.agent("agent"))
    await pilot.pause()
    pilot.app.push_screen(PinChangeScreen())
    await pilot.pause()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_pin_change_screen(snap_compare, city, lang, frozen):
    """The PIN change the counter offers when the card has its factory PIN."""
    from tui.login import CardLogin
    home, data = city
    app = CounterApp(home, lang, clock=frozen_clock, blink=False, login_method=CardLogin(reader="none"), **frozen.app)
    app.city = data
    assert snap_compare(app, terminal_size=SIZE, run_before=pin_change_offered)

async def _printer_line_shown(pilot) -> None:
    from tests.waiting import settle
    from tui.widgets.printer import PrinterLine
    line = pilot.app.screen.query_one(PrinterLine)
    await settle(pilot, lambda: line.display, within=20, what="the printer line")


async def desk_printer_fault(pilot) -> None:
    await sign_in(pilot)
    await _printer_line_shown(pilot)


async def welcome_printer_fault(pilot) -> None:
    await pilot.pause()
    await _printer_line_shown(pilot)


@pytest.mark.parametrize("scenario,lang", [(desk_printer_fault, "fr"), (desk_printer_fault, "en"),
                                           (welcome_printer_fault, "fr")],
                         ids=["desk-fr", "desk-en", "kiosk-fr"])
def test_printer_fault(snap_compare, city, scenario, lang, frozen):
    """The printer line under the mode banner: the print server cannot be
    reached and a receipt waits; the mode banner itself is unchanged."""
    from printing import printers
    from printing.spool import Spool
    home, data = city
    for role in ("receipts", "tickets"):
        printers.set_printer(home, role, f"BEFFROI-{role.upper()}", str(home / "no-cupsd.sock"))
    Spool(home, clock=frozen.clock, entropy=frozen.entropy).submit("receipts", b"%PDF-1.4 waiting receipt", "Recu MAIRIE-01-000002", kind="receipt")
    kind = KioskApp if scenario is welcome_printer_fault else CounterApp
    app = kind(home, lang, clock=frozen_clock, blink=False, **frozen.app)
    app.city = data
    app.home_label = "/var/lib/beffroi"
    assert snap_compare(app, terminal_size=SIZE, run_before=scenario)


# --- the ops console ------------------------------------------------------------

async def ops_login_refused(pilot) -> None:
    await pilot.press(*"agent", "enter", *"246810", "enter")   # an agent is sent to the counter


async def ops_terminals(pilot) -> None:
    from tests.waiting import settle
    from tui.ops.screens.terminals import TerminalsScreen
    await pilot.press(*"ops", "enter", *"135790", "enter")
    await settle(pilot, lambda: isinstance(pilot.app.screen, TerminalsScreen) and pilot.app.screen.is_mounted)


async def ops_incident(pilot) -> None:
    await ops_terminals(pilot)
    await pilot.press("f3")


async def ops_declare(pilot) -> None:
    await ops_incident(pilot)
    await pilot.pause()
    pilot.app.screen.query_one("#reason").value = "rançongiciel au centre de données"
    await pilot.click("#declare")


async def ops_keys(pilot) -> None:
    await ops_terminals(pilot)
    await pilot.press("f4")


async def ops_revoke(pilot) -> None:
    await ops_keys(pilot)
    await pilot.pause()
    pilot.app.screen.query_one("#devices").focus()
    await pilot.press("v")                 # the first row: ANNEXE-03


async def ops_outbox(pilot) -> None:
    await ops_terminals(pilot)
    await pilot.press("f5")


async def ops_footprint(pilot) -> None:
    await ops_terminals(pilot)
    await pilot.press("f6")


async def ops_restore(pilot) -> None:
    await ops_terminals(pilot)
    await pilot.press("f7")
    await pilot.pause()
    pilot.app.screen.query_one("#url").value = "http://127.0.0.1:8443"   # the test SoR's port changes every run
    pilot.app.screen.query_one("#home").value = "/var/lib/beffroi-annexe"
    pilot.app.screen.query_one("#choose").focus()
    await pilot.press("down")                                          # ANNEXE-03 → BIBLIO-04: step 2


async def ops_conflicts(pilot) -> None:
    await ops_terminals(pilot)
    await pilot.press("f8")


OPS = [(s, "fr") for s in (ops_login_refused, ops_terminals, ops_incident, ops_declare, ops_keys, ops_revoke,
                           ops_outbox, ops_restore, ops_conflicts)] + [
    (ops_terminals, "en"), (ops_keys, "en"), (ops_restore, "en"), (ops_conflicts, "en")]


@pytest.mark.parametrize("scenario,lang", OPS, ids=[f"{s.__name__}-{lang}" for s, lang in OPS])
def test_ops_screen(snap_compare, ops_city, scenario, lang, frozen):
    from tui.ops.app import OpsApp
    app = OpsApp(ops_city.home, lang, sor_home=ops_city.sor_home, clock=frozen_clock, blink=False, **frozen.app)
    app.home_label = "/var/lib/beffroi"
    assert snap_compare(app, terminal_size=SIZE, run_before=scenario)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_ops_footprint_screen(snap_compare, city, lang, frozen):
    """The footprint of the test city's work (CPU time from the injected counter);
    no SoR home: the console still opens, and says so on the SoR panels."""
    from tui.ops.app import OpsApp
    home, _data = city
    app = OpsApp(home, lang, clock=frozen_clock, blink=False, **frozen.app)
    assert snap_compare(app, terminal_size=SIZE, run_before=ops_footprint)
