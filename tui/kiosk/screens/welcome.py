"""The kiosk's welcome screen: four big choices and the language switch."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.widgets import Button, Footer, Static

from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page
from ...widgets.printer import PrinterLine


class WelcomeScreen(Page):
    BINDINGS = [
        Binding("1", "app.ticket", N_("Queue ticket")),
        Binding("2", "app.check", N_("Follow a request")),
        Binding("3", "app.file", N_("Report or request")),
        Binding("4", "app.vault", N_("My documents")),
        Binding("l", "app.switch_lang", N_("Français / English")),
    ]

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        yield PrinterLine()
        with Center():
            with Vertical(id="welcome"):
                yield Static(self.app.terminal.city, id="city")
                yield Static(_("Welcome. What would you like to do?"), id="greeting")
                yield Button(_("1  Take a queue ticket"), id="ticket", variant="primary")
                yield Button(_("2  Follow a request"), id="check", variant="primary")
                yield Button(_("3  Report a problem or ask for a pick-up"), id="file", variant="primary")
                yield Button(_("4  My document vault (citizen card)"), id="vault", variant="primary")
                yield Button(_("L  Français / English"), id="lang")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#ticket").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.app.run_action({"ticket": "ticket", "check": "check", "file": "file", "vault": "vault",
                             "lang": "switch_lang"}[event.button.id])
