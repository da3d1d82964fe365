"""Login: agent id and PIN today, card and PIN once the card login plugs in."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.widgets import Button, Footer, Label, Static

from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page


class LoginScreen(Page):
    BINDINGS = [Binding("ctrl+q", "app.quit", N_("Quit"))]
    HEADING = N_("Counter — sign in")

    def __init__(self, notice: str = "") -> None:
        super().__init__()
        self.notice = notice  # why the agent is back here (card removed)

    def compose(self) -> ComposeResult:
        method = self.app.login_method
        yield ModeBanner()
        with Center():
            with Vertical(id="login-box"):
                yield Static(self.app.terminal.city, classes="title")
                yield Label(_(self.HEADING), classes="big")
                if method.asks_agent_id:
                    yield Label(_("Agent id"), classes="field-label")
                    yield Entry(id="agent", placeholder=_("e.g. cmoreau"))
                else:
                    yield Label(_("Insert your card, then type its PIN."), classes="field-label")
                yield Label(_(method.secret_label), classes="field-label")
                yield Entry(id="secret", password=True, placeholder=_("6 to 8 digits"))
                yield Static(f"⚠ {self.notice}" if self.notice else "", id="login-error", classes="error")
                yield Button(_("Sign in"), id="sign-in", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        first = "#agent" if self.app.login_method.asks_agent_id else "#secret"
        self.query_one(first).focus()

    def show_error(self, text: str) -> None:
        self.query_one("#login-error", Static).update(f"⚠ {text}")

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        if event.input.id == "agent":
            self.query_one("#secret").focus()
        else:
            self.sign_in()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.sign_in()

    def sign_in(self) -> None:
        method = self.app.login_method
        agent_id = self.query_one("#agent", Entry).value if method.asks_agent_id else ""
        secret = self.query_one("#secret", Entry)
        try:
            principal = method.login(self.app.terminal, agent_id, secret.value)
        except HubError as error:
            secret.value = ""
            self.show_error(error.message(i18n.lang()))
            secret.focus()
            return
        secret.value = ""
        self.app.signed_in(principal)
        if getattr(method, "factory_pin", False):
            from .pin_change import PinChangeScreen
            self.app.push_screen(PinChangeScreen())
