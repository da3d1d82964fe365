"""Follow a request: tracking code + verification field. The hub counts wrong
answers and locks this kiosk out for five minutes after five; the screen says
so. Only the public view of the one matching case is ever shown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Footer, Label, Static

from hub.cases import LookupLocked
from hub.errors import HubError
from hub.ids import format_tracking_code

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page


class CheckScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with Vertical(id="kiosk-body"):
            yield Static(_("Follow a request"), classes="question")
            yield Label(_("Tracking code (on your receipt, e.g. AB12-CD34)"))
            yield Entry(id="code", placeholder="XXXX-XXXX")
            yield Label(_("Your birth year, postcode or the code on your receipt"))
            yield Entry(id="verification")
            yield Button(_("Check"), id="check", variant="primary", classes="choice")
            yield Static("", id="check-error", classes="error answer")
            yield Static("", id="check-result", classes="answer")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#code").focus()

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        if event.input.id == "code":
            self.query_one("#verification").focus()
        else:
            self.check()

    def on_button_pressed(self) -> None:
        self.check()

    def on_input_changed(self) -> None:
        # A new code being typed: the last answer is no longer on show.
        self.query_one("#check-result", Static).update("")

    def check(self) -> None:
        error = self.query_one("#check-error", Static)
        result = self.query_one("#check-result", Static)
        error.update("")
        result.update("")
        code = self.query_one("#code", Entry).value
        verification = self.query_one("#verification", Entry)
        try:
            case = self.app.session.cases.check(code, verification.value)
        except LookupLocked as refusal:
            error.update("⛔ " + refusal.message(i18n.lang()))
            return
        except HubError as refusal:
            error.update("⚠ " + refusal.message(i18n.lang()))
            verification.value = ""
            return
        lines = [
            f"{format_tracking_code(case['tracking_code'])} — {i18n.pick(case['service_names'])}",
            _("Status: {status}").format(status=i18n.pick(case["status_names"]) or case["status"]),
            "",
        ]
        catalog = self.app.terminal.catalog
        for step in case["steps"]:
            lines.append(f"  {i18n.hlc_time(step['hlc'])}  {catalog.status_label(step['status'], i18n.lang())}")
        result.update("\n".join(lines))
