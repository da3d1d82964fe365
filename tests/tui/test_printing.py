"""Printing from the screens, end to end through Pilot, on a real cupsd with
cups-pdf queues: the counter prints the receipt when a payment is taken and
keeps working while the printer is stopped; a reprint from the case page is a
DUPLICATA; the kiosk prints the queue ticket."""

from __future__ import annotations

from printing import printers
from tests.cupsfixtures import cups_server_fixture, pdf_queue_fixture, second_queue_fixture  # noqa: F401
from tests.waiting import settle
from tui.counter.app import CounterApp
from tui.counter.screens.case import CaseScreen
from tui.counter.screens.payment import ReceiptScreen
from tui.kiosk.app import KioskApp
from tui.kiosk.screens.ticket import TicketIssuedScreen
from tui.widgets.printer import PrinterLine

from .conftest import SIZE
from .test_snapshots import tracking


def line(widget) -> str:
    return str(widget.render()).replace("\n", " ")


async def test_payment_prints_receipt_and_the_desk_goes_on_while_the_printer_is_stopped(city, pdf_queue):
    home, data = city
    printers.set_printer(home, "receipts", pdf_queue.name, pdf_queue.server.socket)
    pdf_queue.disable()
    app = CounterApp(home, blink=False)
    app.city = data
    async with app.run_test(size=SIZE) as pilot:
        await tracking(pilot)                      # a 18,90 € municipal bill, just opened
        case = app.screen.case
        await pilot.press("f8")
        await pilot.pause()
        app.screen.query_one("#amount").value = "18,90"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ReceiptScreen), what="the receipt screen")
        receipt = app.screen
        number = receipt.payment["receipt_number"]
        assert receipt.path.exists(), "the receipt is a file whatever the printer does"
        await settle(pilot, lambda: "paused" in line(receipt.query_one("#receipt-job")), within=20,
                     what="the job waiting on the stopped printer")
        assert "en cours d'impression" in line(receipt.query_one("#receipt-job"))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")                # back to the citizen's page
        await pilot.pause()
        # The desk goes on, and the printer line says what is wrong.
        printer_line = app.screen.query_one(PrinterLine)
        await settle(pilot, lambda: printer_line.display and "arrêtée" in line(printer_line), within=20,
                     what="the printer line")
        assert pdf_queue.name in line(printer_line) and "1 document en attente" in line(printer_line)
        assert pdf_queue.printed() == []
        pdf_queue.enable()
        await settle(pilot, lambda: not printer_line.display and pdf_queue.printed(), within=20,
                     what="the receipt printed and the printer line cleared")
        [paper] = pdf_queue.wait_printed()
        text = pdf_queue.text(paper)
        assert number in text and "dix-huit euros et quatre-vingt-dix centimes" in text and "DUPLICATA" not in text
        # Reprint from the case page: a DUPLICATA, recorded in the journal.
        app.open_case(case["id"])
        await settle(pilot, lambda: isinstance(app.screen, CaseScreen), what="the case page")
        await pilot.press("f9")
        await settle(pilot, lambda: len(pdf_queue.printed()) == 2, within=20, what="the duplicate printed")
        papers = pdf_queue.wait_printed(2)
        duplicate = next(p for p in papers if p != paper)
        assert "DUPLICATA" in pdf_queue.text(duplicate) and number in pdf_queue.text(duplicate)
        stored = app.session.cases.get(case["id"])
        assert [e["data"]["copy"] for e in stored["timeline"] if e["type"] == "receipt.duplicated"] == [1]
        assert [p["amount_cents"] for p in stored["payments"]] == [1890], "printing never repeats a payment"
    assert len(pdf_queue.printed()) == 2


async def test_kiosk_prints_the_queue_ticket(city, second_queue):
    home, data = city
    printers.set_printer(home, "tickets", second_queue.name, second_queue.server.socket)
    app = KioskApp(home, blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        await pilot.pause()
        await pilot.click("#family-V")
        await settle(pilot, lambda: isinstance(app.screen, TicketIssuedScreen), what="the ticket screen")
        label = app.screen.ticket["label"]
        await settle(pilot, lambda: "Prenez votre ticket" in line(app.screen.query_one("#ticket-file")), within=20,
                     what="the ticket printed")
        [slip] = second_queue.wait_printed()
        text = second_queue.text(slip)
        assert label in text and "Voirie" in text and "Merci de patienter" in text


async def test_reprint_without_a_printer_says_so_and_records_nothing(city):
    home, data = city
    app = CounterApp(home, blink=False)
    app.city = data
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"agent", "enter", *"246810", "enter")
        await pilot.pause()
        app.open_case(data["bill"]["id"])
        await settle(pilot, lambda: isinstance(app.screen, CaseScreen), what="the case page")
        await pilot.press("f9")
        await settle(pilot, lambda: any("beffroi printer set receipts" in str(n.message) or
                                        "printer set receipts" in str(n.message) for n in app._notifications),
                     what="the refusal shown")
        timeline = app.session.cases.get(data["bill"]["id"])["timeline"]
        assert not [e for e in timeline if e["type"] == "receipt.duplicated"]
        assert app.spool.jobs() == []
