"""The new-request wizard, generated from the catalog: pick a service, fill its
fields (checked inline by the hub), tick the documents, see the fee, confirm,
then read the tracking code and verification field to the citizen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from hub.catalog import Service
from hub.errors import FormErrors, HubError
from hub.ids import format_tracking_code

from ... import i18n
from ...i18n import N_, _, ngettext
from ...mode import read_mode
from ...widgets.banner import ModeBanner
from ...widgets.big import BigCode
from ...widgets.form import DocumentChecklist, ServiceForm
from ...widgets.page import Dialog, Page

VERIFY_KINDS = {"birth_year": N_("Birth year"), "postcode": N_("Postcode"), "pin": N_("Verification code")}


def fee_text(cents: int | None) -> str:
    if cents is None:
        return _("Fee: depends on the amount entered")
    return _("Fee: {amount}").format(amount=i18n.money(cents)) if cents else _("Free of charge")


class ServiceScreen(Page):
    """Step 1: which service. In isolated mode, services that need an upstream
    system are not offered."""

    BINDINGS = [Binding("escape", "app.pop_screen", N_("Back"))]

    def __init__(self, citizen: dict) -> None:
        super().__init__()
        self.citizen = citizen

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("New request for {name} — choose the service").format(
            name=f"{self.citizen['first_name']} {self.citizen['last_name']}"), classes="title")
        isolated = read_mode(self.app.terminal.home).name == "isolated"
        options, hidden = [], 0
        catalog = self.app.terminal.catalog
        for service in catalog:
            if isolated and service.policy == "unavailable":
                hidden += 1
                continue
            family = i18n.pick(catalog.families[service.family])
            options.append(Option(f"{family:<26} {i18n.pick(service.names)}", id=service.code))
        yield OptionList(*options, id="services")
        note = ngettext("{n} service needs the city's central systems and is hidden while isolated.",
                        "{n} services need the city's central systems and are hidden while isolated.",
                        hidden).format(n=hidden)
        yield Static(note if hidden else "", classes="muted")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.app.push_screen(RequestScreen(self.citizen, self.app.terminal.catalog.get(event.option.id)))


class RequestScreen(Page):
    """Step 2: the service's form, documents checklist and fee."""

    BINDINGS = [Binding("escape", "app.pop_screen", N_("Back")), Binding("ctrl+s", "review", N_("Review"))]

    def __init__(self, citizen: dict, service: Service) -> None:
        super().__init__()
        self.citizen = citizen
        self.service = service

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        with VerticalScroll():
            yield Label(i18n.pick(self.service.names), classes="title")
            yield Static(i18n.pick(self.service.description), classes="muted")
            yield ServiceForm(self.service, id="service-form")
            yield Label(_("Required documents"), classes="title")
            yield DocumentChecklist(self.service, id="documents")
            yield Static(fee_text(self.service.fee_cents({}) if self.service.fee["kind"] == "fixed" else None),
                         id="fee", classes="big")
            yield Static("", id="form-problems", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(_("Review"), id="review", variant="primary")
                yield Button(_("Back"), id="back")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ServiceForm).query("Input, Select, Checkbox").first().focus()

    def on_input_changed(self) -> None:
        self.query_one("#fee", Static).update(fee_text(self.query_one(ServiceForm).fee_cents()))

    def on_input_submitted(self) -> None:
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "review":
            self.action_review()
        elif event.button.id == "back":
            self.app.pop_screen()

    def action_review(self) -> None:
        form = self.query_one(ServiceForm)
        problems = self.query_one("#form-problems", Static)
        problems.update("")
        values = form.values()
        try:
            clean = self.service.clean(values, self.app.terminal.today())
        except FormErrors as errors:
            form.show_errors(errors)
            problems.update(_("Please correct the fields marked ⚠."))
            return
        form.clear_errors()
        missing = self.query_one(DocumentChecklist).missing()
        self.app.push_screen(ConfirmScreen(self.service, clean, missing), lambda ok: ok and self.open(values))

    def open(self, values: dict) -> None:
        try:
            case = self.app.session.cases.open(self.service.code, self.citizen["id"], values)
        except FormErrors as errors:
            self.query_one(ServiceForm).show_errors(errors)
            return
        except HubError as error:
            self.query_one("#form-problems", Static).update(f"⚠ {error.message(i18n.lang())}")
            return
        self.app.case_opened(case)


def _shown(value) -> str:
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values())
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(value)


class ConfirmScreen(Dialog):
    """Step 3: everything the citizen asked for, read back before it is recorded."""

    BINDINGS = [Binding("escape", "cancel", N_("Correct")), Binding("ctrl+s", "confirm", N_("Confirm"))]

    def __init__(self, service: Service, clean: dict, missing: list[str]) -> None:
        super().__init__()
        self.service, self.clean, self.missing = service, clean, missing

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(_("Confirm the request"), classes="title")
            yield Static(i18n.pick(self.service.names), classes="big")
            lines = []
            for field in self.service.fields:
                if field.key in self.clean:
                    value = self.clean[field.key]
                    if field.type == "choice":
                        value = i18n.pick(field.spec["choices"][value])
                    lines.append(i18n.labelled(i18n.pick(field.label), _shown(value)))
            yield Static("\n".join(lines))
            yield Static(fee_text(self.service.fee_cents(self.clean)), classes="big")
            if self.missing:
                yield Static(_("⚠ Documents not checked: {docs}").format(docs=", ".join(self.missing)), classes="error")
            with Horizontal(classes="buttons"):
                yield Button(_("Confirm"), id="confirm", variant="primary")
                yield Button(_("Correct"), id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#confirm").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class TrackingScreen(Page):
    """Step 4: the tracking code and the verification field, large enough to read
    out or copy down."""

    BINDINGS = [
        Binding("escape", "done", N_("Done")),
        Binding("f8", "pay", N_("Payment")),
        Binding("f9", "open_case", N_("Open the case")),
    ]

    def __init__(self, case: dict) -> None:
        super().__init__()
        self.case = case

    def compose(self) -> ComposeResult:
        case = self.case
        yield ModeBanner(self.app.agent_name)
        with VerticalScroll(id="tracking"):
            service = self.app.terminal.catalog.get(case["service"])
            yield Label(_("Request recorded: {service}").format(service=i18n.pick(service.names)), classes="title")
            yield Label(_("Tracking code"))
            yield BigCode(format_tracking_code(case["tracking_code"]), id="tracking-code")
            yield Label(_(VERIFY_KINDS.get(case["verify_kind"], N_("Verification code"))))
            yield BigCode(case["verify_value"], id="verify-value")
            yield Static(id="due", classes="big")
            yield Static(_("Give the citizen both: they check the request at a kiosk or online with them."),
                         classes="muted")
        yield Footer()

    def on_screen_resume(self) -> None:
        # Back from the payment dialog: say what is still due.
        case = self.app.session.cases.get(self.case["id"])
        due = case["fee_cents"] - case["paid_cents"]
        self.query_one("#due", Static).update(
            _("To pay: {amount} (F8)").format(amount=i18n.money(due)) if due > 0
            else _("Nothing due (F8 takes a payment all the same)."))

    def action_done(self) -> None:
        self.app.pop_screen()

    def action_pay(self) -> None:
        self.app.take_payment(self.case["id"])

    def action_open_case(self) -> None:
        self.app.open_case(self.case["id"], replace=True)
