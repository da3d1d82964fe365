"""Taking the kiosk out of service, for IT staff only.

Reached by a key no screen shows (``keys.MAINTENANCE``); asks for the ops card
and its PIN when a reader holds a card, else for an ops id and PIN. The hub
decides: a wrong PIN counts toward the usual lockout (three per agent id, the
card's own three tries), an agent who is not ops is refused, and the exit is
an event in the journal before the app ends. Escape, or the idle timer, goes
back to the welcome screen.
"""

from __future__ import annotations

import os

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Footer, Label, Static

from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...login import PinLogin, card_present
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page


class MaintenanceScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home"))]

    def __init__(self, use_card: bool | None = None) -> None:
        super().__init__()
        # Asked once, when the screen opens: a card in the reader means ops card + PIN.
        self.use_card = card_present() if use_card is None else use_card

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with Vertical(id="kiosk-body"):
            yield Static(_("Maintenance — IT staff only"), classes="question")
            if self.use_card:
                yield Label(_("Insert the ops card, then type its PIN."))
            else:
                yield Label(_("Ops id"))
                yield Entry(id="ops-id", placeholder=_("e.g. jfaure"))
                yield Label(_("PIN"))
            yield Entry(id="ops-pin", password=True, placeholder=_("6 to 8 digits"))
            yield Button(_("Take the kiosk out of service"), id="leave", variant="warning", classes="choice")
            yield Static("", id="maintenance-error", classes="error answer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ops-pin" if self.use_card else "#ops-id").focus()

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        if event.input.id == "ops-id":
            self.query_one("#ops-pin").focus()
        else:
            self.leave()

    def on_button_pressed(self) -> None:
        self.leave()

    def leave(self) -> None:
        app = self.app
        pin = self.query_one("#ops-pin", Entry)
        error = self.query_one("#maintenance-error", Static)
        error.update("")
        try:
            if self.use_card:
                from card.login import login
                reader = os.environ.get("BEFFROI_CARD_READER") or None
                principal = login(app.terminal, pin.value, reader, audience="agent")
            else:
                principal = PinLogin().login(app.terminal, self.query_one("#ops-id", Entry).value, pin.value)
            app.terminal.session(principal).maintenance.leave_kiosk(app.kiosk_id, "card" if self.use_card else "pin")
        except HubError as refusal:
            pin.value = ""
            error.update("⚠ " + refusal.message(i18n.lang()))
            pin.focus()
            return
        pin.value = ""
        app.leave_for_maintenance()
