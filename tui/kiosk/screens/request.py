"""File a simple request at the kiosk (services marked ``kiosk`` in the
catalog). The case is anonymous to the kiosk: it gets a tracking code and a
verification code, never a link to a citizen record."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Footer, Label, Static

from hub.catalog import Service
from hub.errors import FormErrors, HubError
from hub.ids import format_tracking_code

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.big import BigCode
from ...widgets.form import ServiceForm
from ...widgets.page import Page


class KioskServicesScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with Vertical(id="kiosk-body"):
            yield Static(_("What would you like to do?"), classes="question")
            for service in self.app.terminal.catalog:
                if service.kiosk:
                    yield Button(i18n.pick(service.names), id=f"service-{service.code}", classes="choice")
        yield Footer()

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        service = self.app.terminal.catalog.get(event.button.id.removeprefix("service-"))
        self.app.switch_screen(KioskRequestScreen(service))


class KioskRequestScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home")), Binding("ctrl+s", "send", N_("Send"))]

    def __init__(self, service: Service) -> None:
        super().__init__()
        self.service = service

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with VerticalScroll(id="kiosk-body"):
            yield Static(i18n.pick(self.service.names), classes="question")
            yield Static(i18n.pick(self.service.description), classes="muted")
            yield ServiceForm(self.service, compact=False)
            yield Static("", id="request-error", classes="error")
            yield Button(_("Send the request"), id="send", variant="primary", classes="choice")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ServiceForm).query("Input, Select").first().focus()

    def on_input_submitted(self) -> None:
        self.focus_next()

    def on_button_pressed(self) -> None:
        self.action_send()

    def action_send(self) -> None:
        form = self.query_one(ServiceForm)
        error = self.query_one("#request-error", Static)
        error.update("")
        try:
            case = self.app.session.cases.open(self.service.code, None, form.values())
        except FormErrors as errors:
            form.show_errors(errors)
            error.update(_("Please correct the fields marked ⚠."))
            return
        except HubError as refusal:
            error.update("⚠ " + refusal.message(i18n.lang()))
            return
        self.app.switch_screen(KioskFiledScreen(case))


class KioskFiledScreen(Page):
    BINDINGS = [Binding("escape", "app.home", N_("Home"))]

    def __init__(self, case: dict) -> None:
        super().__init__()
        self.case = case

    def compose(self) -> ComposeResult:
        yield ModeBanner()
        with Vertical(id="kiosk-body"):
            yield Static(_("Your request is recorded. Write down these two codes:"), classes="question")
            yield Label(_("Tracking code"))
            yield BigCode(format_tracking_code(self.case["tracking_code"]), id="tracking-code")
            yield Label(_("Verification code"))
            yield BigCode(self.case["verify_value"], id="verify-value")
            yield Button(_("Done"), id="done", variant="primary", classes="choice")
        yield Footer()

    def on_button_pressed(self) -> None:
        self.app.action_home()
