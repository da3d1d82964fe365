"""A case: its timeline from the journal, the status moves its workflow allows
from here (and only those), assignment, notes and attached documents."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Label, Select, Static

from hub.errors import HubError
from hub.ids import format_tracking_code

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from ...widgets.printer import PrinterLine

EVENT_WORDS = {
    "case.opened": "opened", "case.status_changed": "status", "case.assigned": "assigned",
    "case.noted": "note", "case.document_attached": "document", "payment.taken": "payment",
    "payment.refunded": "refund", "conflict.resolved": "conflict resolved",
}


class CaseScreen(Page):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("f8", "pay", N_("Payment")),
        Binding("f9", "reprint", N_("Reprint receipt")),
        Binding("ctrl+n", "focus_note", N_("Add a note")),
    ]

    def __init__(self, case_id: str) -> None:
        super().__init__()
        self.case_id = case_id

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield PrinterLine()
        with VerticalScroll():
            yield Static(id="case-header")
            yield Label(_("Move to"), classes="title")
            yield Horizontal(id="moves")
            with Horizontal(id="case-tools"):
                with Vertical():
                    yield Label(_("Assigned to"), classes="field-label")
                    yield Select([], id="assign", prompt=_("Nobody"))
                with Vertical():
                    yield Label(_("Attach a vault document"), classes="field-label")
                    yield Select([], id="attach", prompt=_("Choose…"))
            yield Label(_("Timeline"), classes="title")
            yield DataTable(id="timeline", cursor_type="none", zebra_stripes=True)
            yield Label(_("Notes"), classes="title")
            yield Static(id="notes")
            yield Entry(id="note", placeholder=_("Write a note, Enter to add it"))
            yield Label(_("Attached documents"), classes="title")
            yield Static(id="documents")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#timeline", DataTable).add_columns(_("When"), _("Who"), _("What"))

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        session, catalog, lang = self.app.session, self.app.terminal.catalog, i18n.lang()
        case = self.case = session.cases.get(self.case_id)
        service = catalog.get(case["service"])
        citizen = session.citizens.get(case["citizen_id"]) if case["citizen_id"] else None
        due = case["fee_cents"] - case["paid_cents"]
        header = [
            f"[b]{i18n.pick(service.names)}[/b]   {format_tracking_code(case['tracking_code'])}",
            _("Status: {status}").format(status=catalog.status_label(case["status"], lang)),
            _("Citizen: {name}").format(name=f"{citizen['first_name']} {citizen['last_name']}") if citizen
            else _("Filed at a kiosk"),
            _("Fee {fee}, paid {paid}").format(fee=i18n.money(case["fee_cents"]), paid=i18n.money(case["paid_cents"]))
            + (_(" — {due} due (F8)").format(due=i18n.money(due)) if due > 0 else ""),
        ]
        for field in service.fields:
            if field.key in case["fields"]:
                value = case["fields"][field.key]
                if field.type == "choice":
                    value = i18n.pick(field.spec["choices"].get(value, {"fr": value}))
                elif field.type == "date":
                    value = i18n.day_short(value)
                elif isinstance(value, dict):
                    value = " ".join(str(v) for v in value.values())
                lines = i18n.labelled(i18n.pick(field.label), value)
                header.append(lines)
        self.query_one("#case-header", Static).update("\n".join(header))
        moves = self.query_one("#moves", Horizontal)
        moves.remove_children()
        if case["allowed"]:
            moves.mount_all([Button(catalog.status_label(s, lang), name=s, classes="move") for s in case["allowed"]])
        else:
            moves.mount(Static(_("Final status: no further move."), classes="muted"))
        agents = session.agents.list()
        assign = self.query_one("#assign", Select)
        with self.prevent(Select.Changed):
            assign.set_options([(a["name"], a["id"]) for a in agents])
            if case["assigned_to"]:
                assign.value = case["assigned_to"]
        attach = self.query_one("#attach", Select)
        docs = session.vault.for_citizen(case["citizen_id"]) if case["citizen_id"] else []
        attached = {d["document_id"] for d in case["documents"]}
        with self.prevent(Select.Changed):
            attach.set_options([(d["name"], d["id"]) for d in docs if d["id"] not in attached])
        timeline = self.query_one("#timeline", DataTable)
        timeline.clear()
        for event in case["timeline"]:
            timeline.add_row(i18n.hlc_time(event["hlc"]), event["actor"], self.describe(event))
        notes = [i18n.labelled(f"{i18n.hlc_time(n['hlc'])} — {n['author']}", n["text"]) for n in case["notes"]]
        self.query_one("#notes", Static).update("\n".join(notes) or _("No note yet."))
        names = {d["id"]: d["name"] for d in docs}
        documents = [names.get(d["document_id"], d["document_id"]) + (f" ({d['requirement']})" if d["requirement"] else "")
                     for d in case["documents"]]
        self.query_one("#documents", Static).update("\n".join(documents) or _("No document attached."))

    def describe(self, event: dict) -> str:
        data, catalog, lang = event["data"], self.app.terminal.catalog, i18n.lang()
        kind = event["type"]
        if kind == "case.opened":
            return _("Opened ({status})").format(status=catalog.status_label(data["status"], lang))
        if kind == "case.status_changed":
            return f"{catalog.status_label(data['from'], lang)} → {catalog.status_label(data['to'], lang)}"
        if kind == "case.assigned":
            return _("Assigned to {agent}").format(agent=data["agent"])
        if kind == "case.noted":
            return _("Note added")
        if kind == "case.document_attached":
            return _("Document attached")
        if kind == "payment.taken":
            return _("Payment {amount} — receipt {number}").format(amount=i18n.money(data["amount_cents"]),
                                                                   number=data["receipt_number"])
        if kind == "payment.refunded":
            return _("Refund {amount} — receipt {number}").format(amount=i18n.money(data["amount_cents"]),
                                                                  number=data["receipt_number"])
        if kind == "receipt.duplicated":
            return _("Receipt {number} reprinted: DUPLICATA no. {copy}").format(number=data["receipt_number"],
                                                                            copy=data["copy"])
        return kind

    def act(self, call, *args) -> None:
        try:
            call(*args)
        except HubError as error:
            self.app.show_refusal(error)
        self.reload()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.has_class("move"):
            self.act(self.app.session.cases.move, self.case_id, event.button.name)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        if event.select.id == "assign" and event.value != self.case["assigned_to"]:
            self.act(self.app.session.cases.assign, self.case_id, event.value)
        elif event.select.id == "attach":
            self.act(self.app.session.cases.attach, self.case_id, event.value)

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        if event.input.id == "note" and event.value.strip():
            self.act(self.app.session.cases.note, self.case_id, event.value)
            event.input.value = ""

    def action_pay(self) -> None:
        self.app.take_payment(self.case_id)

    def action_reprint(self) -> None:
        """Reprint the case's latest receipt, marked DUPLICATA and recorded in the journal."""
        from ...paper import job_line, print_receipt
        if not self.case["payments"]:
            self.notify(_("No payment on this case: no receipt to reprint."), severity="warning")
            return
        payment = self.app.session.payments.get(self.case["payments"][-1]["id"])
        job, refusal = print_receipt(self.app, payment, duplicate=True)
        self.notify(job_line(job, refusal), severity="error" if refusal else "information", timeout=6)
        self.reload()

    def action_focus_note(self) -> None:
        self.query_one("#note").focus()
