"""Incident: declare (scope, reason) and end, each a signed order written to a
file for a USB stick and kept at the SoR for the terminals' feed; the order's
fingerprint shown large, to read over the phone to the offices; the
timeline from the journal's mode events."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Footer, Label, Static

from continuity.incident import now_at
from hub.errors import HubError

from ... import i18n
from ...i18n import _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from .confirm import Confirm
from .terminals import MODES


class IncidentScreen(Page):
    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Incident"), classes="title")
        yield Static(id="order-note")
        yield Static(id="fingerprint")
        with Horizontal(classes="tools"):
            yield Entry(id="reason", placeholder=_("Reason (e.g. ransomware at the city's data centre)"))
            yield Entry(id="scope", placeholder=_("Scope: city, office:NAME or terminals:NAME,NAME"))
        with Horizontal(classes="tools"):
            yield Button(_("Declare the incident"), id="declare", variant="error")
            yield Button(_("End the incident"), id="end", variant="success")
        yield Label(_("Timeline"), classes="subtitle")
        yield DataTable(id="timeline", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(_("When"), _("Terminal"), _("Mode"), _("Order"), _("By"), _("Reason"))
        self.last_issued: dict | None = None
        self.reload()

    def names(self) -> dict[str, str]:
        names = {self.app.terminal.id: self.app.terminal.name}
        if self.app.admin is not None:
            names.update({r["terminal"]: r["name"] for r in self.app.admin.terminals(self.app.now().timestamp())})
        return names

    def reload(self) -> None:
        names = self.names()
        table = self.query_one(DataTable)
        table.clear()
        for e in self.app.session.modes.timeline():
            order = e.get("order") or {}
            table.add_row(i18n.hlc_time(e["hlc"]), names.get(e["terminal"], e["terminal"][-6:]),
                          _(MODES.get(e["mode"], e["mode"])), order.get("kind", "—"), order.get("by") or e["actor"],
                          e.get("reason", ""))
        note = self.query_one("#order-note", Static)
        fingerprint = self.query_one("#fingerprint", Static)
        admin = self.app.admin
        live = admin.open_incident() if admin is not None else None
        if self.last_issued is not None:
            o = self.last_issued
            note.update(_("Order {kind} {id} signed, written to {file}. Read this fingerprint to the offices:").format(
                kind=o["kind"], id=o["order"], file=self.app.shown_path(o["file"])))
            fingerprint.update(o["fingerprint"])
        elif admin is None:
            note.update(_("No SoR home given: orders need the city admin key (--sor-home DIR)."))
            fingerprint.update("")
        elif live is None:
            note.update(_("No incident declared."))
            fingerprint.update("")
        else:
            note.update(_("Incident declared {issued} by {by}: {reason} (scope {scope}).").format(
                issued=live["issued"], by=live["declared_by"], reason=live["reason"], scope=live["scope"]["kind"]))
            fingerprint.update("")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if self.app.admin is None:
            return
        kind = event.button.id
        reason = self.query_one("#reason", Entry).value
        scope = self.query_one("#scope", Entry).value.strip() or None
        live = self.app.admin.open_incident()

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.last_issued = self.app.admin.issue(
                    kind, reason=reason, scope=scope, by=self.app.agent_name, now=now_at(self.app.terminal),
                    out_dir=self.app.terminal.home / "orders", ends=live["id"] if kind == "end" and live else None)
            except HubError as error:
                self.app.show_refusal(error)
                return
            self.reload()

        if kind == "declare":
            self.app.push_screen(Confirm(
                _("Declare the incident?"),
                _("Every terminal in scope ({scope}) goes isolated when it receives the order: outbound connectors "
                  "off, unavailable services refused, acts numbered in the incident register.").format(
                    scope=scope or "city"), _("Declare")), done)
        else:
            self.app.push_screen(Confirm(
                _("End the incident?"),
                _("Terminals go to recovery: they exchange segments, surface conflicts and drain their outbox to "
                  "the back offices, then come back online."), _("End")), done)
