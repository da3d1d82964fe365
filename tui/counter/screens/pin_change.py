"""The PIN change the counter offers right after a sign-in with a card that
still has its factory PIN (123456, the same on every new PIV card): anyone who
picks the card up knows it. The agent can choose their own now, or later."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Horizontal, Vertical
from textual.widgets import Button, Footer, Label, Static

from hub.errors import HubError

from ... import i18n
from ...i18n import _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page


class PinChangeScreen(Page):
    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with Center():
            with Vertical(id="pin-box"):
                yield Label(_("Your card still has its factory PIN"), classes="big")
                yield Static(_("Every new card has the PIN 123456: choose your own, known only to you."),
                             classes="field-label")
                yield Label(_("New PIN"), classes="field-label")
                yield Entry(id="new-pin", password=True, placeholder=_("6 to 8 digits"))
                yield Label(_("New PIN again"), classes="field-label")
                yield Entry(id="confirm-pin", password=True, placeholder=_("6 to 8 digits"))
                yield Static("", id="pin-error", classes="error")
                with Horizontal(id="pin-actions"):
                    yield Button(_("Change the PIN"), id="change-pin", variant="primary")
                    yield Button(_("Later"), id="later")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#new-pin").focus()

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        if event.input.id == "new-pin":
            self.query_one("#confirm-pin").focus()
        else:
            self.change()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "later":
            self.app.pop_screen()
        else:
            self.change()

    def change(self) -> None:
        new, confirm = self.query_one("#new-pin", Entry), self.query_one("#confirm-pin", Entry)
        error = self.query_one("#pin-error", Static)
        if new.value != confirm.value:
            error.update("⚠ " + _("The two PINs differ; type the new PIN twice."))
        else:
            try:
                self.app.login_method.change_pin(new.value)
            except HubError as refusal:
                error.update("⚠ " + refusal.message(i18n.lang()))
            else:
                self.app.pop_screen()
                self.app.notify(_("PIN changed: use your new PIN from now on."))
                return
        new.value = confirm.value = ""
        new.focus()
