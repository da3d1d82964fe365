"""The issue's "done when", on the demo home: with the demo printers up,
taking a payment at the counter prints the receipt to one cups-pdf queue and
a ticket taken at the kiosk prints to another."""

from __future__ import annotations

import pytest

from hub.demo import ensure_demo_home
from hub.roles import Principal
from hub.terminal import Terminal
from printing import printers
from printing.cupsd import available
from printing.demo import demo_queues, start_demo_printers
from tests.waiting import settle, wait_until
from tui.counter.app import CounterApp
from tui.counter.screens.payment import ReceiptScreen
from tui.kiosk.app import KioskApp
from tui.login import PinLogin


@pytest.fixture
def demo(tmp_path):
    if available():
        pytest.skip(available())
    home = tmp_path / "demo"
    ensure_demo_home(home, citizens=3)
    stop = start_demo_printers(home)
    assert stop is not None
    assert start_demo_printers(home) is None, "a second start finds them running"
    yield home
    stop()


def text_of(path) -> str:
    """The printed PDF's text, or "" while cups-pdf is still writing it."""
    from pypdf import PdfReader
    try:
        return PdfReader(path).pages[0].extract_text()
    except Exception:
        return ""


def pdfs(folder):
    return sorted(folder.glob("*.pdf")) if folder.exists() else []


async def test_demo_counter_and_kiosk_print_on_their_own_queues(demo):
    _, queues = demo_queues(demo)
    assert {r: e["queue"] for r, e in printers.read(demo).items()} == queues
    with Terminal.open(demo) as terminal:
        desk = terminal.session(Principal.agent("agent"))
        citizen = desk.citizens.search("helene dupont")[0]   # the demo's first citizen
        bill = desk.cases.open("facture-municipale", citizen["id"], {
            "bill_kind": "cantine", "bill_reference": "FAC-2026-00099", "amount_cents": "2300"})
    app = CounterApp(demo, login_method=PinLogin(), blink=False)
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.press(*"agent", "enter", *"246810", "enter")
        await pilot.pause()
        app.take_payment(bill["id"])
        await pilot.pause()
        app.screen.query_one("#amount").value = "23,00"
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: isinstance(app.screen, ReceiptScreen), what="the receipt screen")
        number = app.screen.payment["receipt_number"]
        await settle(pilot, lambda: pdfs(demo / "printed" / "receipts"), within=20, what="the receipt printed")
    [receipt] = pdfs(demo / "printed" / "receipts")
    wait_until(lambda: number in text_of(receipt), what="the receipt readable")
    kiosk = KioskApp(demo, blink=False)
    async with kiosk.run_test(size=(110, 34)) as pilot:
        await pilot.press("1")
        await pilot.pause()
        await pilot.click("#family-E")
        await settle(pilot, lambda: pdfs(demo / "printed" / "tickets"), within=20, what="the ticket printed")
    [ticket] = pdfs(demo / "printed" / "tickets")
    assert pdfs(demo / "printed" / "receipts") == [receipt], "the ticket went to the tickets queue"
    wait_until(lambda: "E0" in text_of(ticket), what="the ticket readable")


def test_printer_demo_serves_until_interrupted(tmp_path):
    """`beffroi printer demo`: the demo printers for a kiosk beside the counter, until Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from printing import cups as cupsio
    if available():
        pytest.skip(available())
    home = tmp_path / "demo"
    ensure_demo_home(home, citizens=3)
    beffroi = str(Path(sys.executable).with_name("beffroi"))
    env = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
    serving = subprocess.Popen([beffroi, "printer", "demo", "--home", str(home)], stdout=subprocess.PIPE, text=True,
                               env=env)
    try:
        assert "demo printers up" in serving.stdout.readline()
        socket = printers.read(home)["receipts"]["server"]
        assert {p.queue for p in cupsio.printers(socket)} == set(demo_queues(home)[1].values())
    finally:
        serving.send_signal(signal.SIGINT)
        assert serving.wait(30) == 0
    with pytest.raises(cupsio.Unreachable):
        cupsio.printers(socket)
