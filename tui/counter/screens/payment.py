"""Payment dialog and its receipt."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Label, RadioButton, RadioSet, Static

from hub.errors import HubError
from hub.ids import format_tracking_code
from hub.payments import METHODS

from ... import i18n
from ...i18n import N_, _
from ...paper import job_line, print_receipt
from ...receipt import method_word, payer_of, write_receipt
from ...widgets.entry import Entry
from ...widgets.page import Dialog


def parse_amount(text: str) -> int | None:
    """Cents from what an agent types: 12, 12,50, 12.50 or 12,50 €."""
    text = text.replace("€", "").replace("\u202f", "").replace("\xa0", "").replace(" ", "").strip()
    match = re.fullmatch(r"(\d{1,7})(?:[.,](\d{1,2}))?", text)
    if not match:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def amount_input(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}" if i18n.lang() == "fr" else f"{cents // 100}.{cents % 100:02d}"


class PaymentScreen(Dialog):
    BINDINGS = [Binding("escape", "cancel", N_("Cancel")), Binding("ctrl+s", "pay", N_("Take the payment"))]

    def __init__(self, case: dict) -> None:
        super().__init__()
        self.case = case

    def compose(self) -> ComposeResult:
        case = self.case
        due = case["fee_cents"] - case["paid_cents"]
        service = self.app.terminal.catalog.get(case["service"])
        with Vertical(id="dialog"):
            yield Label(_("Payment"), classes="title")
            yield Static(f"{i18n.pick(service.names)} — {format_tracking_code(case['tracking_code'])}")
            yield Static(_("Due: {amount}").format(amount=i18n.money(due)), classes="big")
            yield Label(_("Amount received"), classes="field-label")
            yield Entry(amount_input(due) if due > 0 else "", id="amount", placeholder="0,00")
            yield Label(_("Method"), classes="field-label")
            with RadioSet(id="method"):
                for i, method in enumerate(METHODS):
                    yield RadioButton(method_word(method), value=i == 0, id=f"method-{method}")
            yield Static("", id="payment-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(_("Take the payment"), id="pay", variant="primary")
                yield Button(_("Cancel"), id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#amount").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pay":
            self.action_pay()
        elif event.button.id == "cancel":
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.action_pay()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_pay(self) -> None:
        error = self.query_one("#payment-error", Static)
        cents = parse_amount(self.query_one("#amount", Entry).value)
        if cents is None:
            error.update(_("⚠ Type an amount in euros, e.g. 12,50"))
            return
        pressed = self.query_one(RadioSet).pressed_button
        method = pressed.id.removeprefix("method-") if pressed else "cash"
        try:
            payment = self.app.session.payments.take(self.case["id"], cents, method)
        except HubError as refusal:
            error.update(f"⚠ {refusal.message(i18n.lang())}")
            return
        # The payment is recorded: from here on nothing may undo or repeat it.
        case = self.app.session.cases.get(self.case["id"])
        path = write_receipt(self.app.terminal, payment, case, payer_of(self.app.session, case))
        job, refusal = print_receipt(self.app, payment)
        self.dismiss((payment, path, job, refusal))


class ReceiptScreen(Dialog):
    """The payment is recorded; the receipt is a file and a print job whose
    state shows live. A failed job is retried here (the same document); a
    reprint, from the case page, is a duplicate."""

    BINDINGS = [Binding("escape", "dismiss", N_("Close")), Binding("enter", "dismiss", N_("Close")),
                Binding("f9", "retry", N_("Print again"))]

    def __init__(self, payment: dict, path, job: dict | None = None, refusal: HubError | None = None) -> None:
        super().__init__()
        self.payment, self.path, self.job, self.refusal = payment, path, job, refusal

    def compose(self) -> ComposeResult:
        p = self.payment
        with Vertical(id="dialog"):
            yield Label(_("Payment recorded"), classes="title")
            yield Static(_("Receipt {number}: {amount} ({method})").format(
                number=p["receipt_number"], amount=i18n.money(p["amount_cents"]), method=method_word(p["method"])),
                classes="big")
            yield Label(_("Receipt saved as:"))
            yield Static(self.app.shown_path(self.path), id="receipt-path")
            yield Label(_("Printing:"))
            yield Static(job_line(self.job, self.refusal), id="receipt-job")
            with Horizontal(classes="buttons"):
                yield Button(_("Close"), id="close", variant="primary")
                yield Button(_("Print again"), id="retry", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(0.5, self.follow)

    def follow(self) -> None:
        if self.job is not None:
            self.job = self.app.spool.get(self.job["id"])
        self.query_one("#receipt-job", Static).update(job_line(self.job, self.refusal))
        self.query_one("#retry", Button).disabled = not (self.job and self.job["state"] == "failed")

    def action_retry(self) -> None:
        if self.job is not None and self.job["state"] == "failed":
            self.job = self.app.spool.retry(self.job["id"])
            self.follow()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "retry":
            self.action_retry()
        else:
            self.dismiss()
