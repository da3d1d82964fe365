"""A citizen's page: identity, cases, payments and vault documents."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Label, Static

from hub.ids import format_tracking_code

from ... import i18n
from ...i18n import N_, _
from ...receipt import method_word
from ...widgets.banner import ModeBanner
from ...widgets.page import Page
from ...widgets.printer import PrinterLine


def identity_lines(c: dict) -> str:
    lines = [f"[b]{c['first_name']} {c['last_name'].upper()}[/b]"]
    if c.get("birth_date"):
        lines.append(_("Born on {date}").format(date=i18n.day_short(c["birth_date"])))
    address = " ".join(x for x in (c.get("address"), c.get("postcode")) if x)
    if address:
        lines.append(address)
    contact = "  ·  ".join(x for x in (c.get("phone"), c.get("email")) if x)
    if contact:
        lines.append(contact)
    return "\n".join(lines)


class CitizenScreen(Page):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("f7", "new_request", N_("New request")),
        Binding("f5", "edit", N_("Edit identity")),
    ]

    def __init__(self, citizen_id: str) -> None:
        super().__init__()
        self.citizen_id = citizen_id

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield PrinterLine()
        with VerticalScroll():
            yield Static(id="identity")
            yield Label(_("Requests"), classes="title")
            yield DataTable(id="cases", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="citizen-lower"):
                with Vertical():
                    yield Label(_("Payments"), classes="title")
                    yield DataTable(id="payments", cursor_type="none", zebra_stripes=True)
                with Vertical():
                    yield Label(_("Document vault"), classes="title")
                    yield DataTable(id="vault", cursor_type="none", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cases", DataTable).add_columns(_("Tracking code"), _("Service"), _("Status"), _("Opened"))
        self.query_one("#payments", DataTable).add_columns(_("Receipt"), _("Amount"), _("Method"), _("Date"))
        self.query_one("#vault", DataTable).add_columns(_("Document"), _("Kind"), _("Size"), _("Deposited"))
        self.query_one("#cases").focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        session, catalog = self.app.session, self.app.terminal.catalog
        self.citizen = session.citizens.get(self.citizen_id)
        self.query_one("#identity", Static).update(identity_lines(self.citizen))
        cases = self.query_one("#cases", DataTable)
        cases.clear()
        for case in session.cases.for_citizen(self.citizen_id):
            cases.add_row(format_tracking_code(case["tracking_code"]), i18n.pick(catalog.get(case["service"]).names),
                          catalog.status_label(case["status"], i18n.lang()), i18n.hlc_time(case["opened_hlc"]),
                          key=case["id"])
        payments = self.query_one("#payments", DataTable)
        payments.clear()
        for p in session.payments.for_citizen(self.citizen_id):
            sign = "-" if p["kind"] != "payment" else ""
            payments.add_row(p["receipt_number"], sign + i18n.money(p["amount_cents"]), method_word(p["method"]),
                             i18n.hlc_time(p["hlc"]), key=p["id"])
        vault = self.query_one("#vault", DataTable)
        vault.clear()
        for d in session.vault.for_citizen(self.citizen_id):
            vault.add_row(d["name"], d["kind"], f"{d['size'] // 1024 + 1} Kio" if i18n.lang() == "fr"
                          else f"{d['size'] // 1024 + 1} KiB", i18n.hlc_time(d["hlc"]), key=d["id"])

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "cases":
            self.app.open_case(event.row_key.value)

    def action_new_request(self) -> None:
        self.app.new_request(self.citizen)

    def action_edit(self) -> None:
        self.app.edit_citizen(self.citizen)
