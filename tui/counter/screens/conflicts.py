"""Conflicts inbox: concurrent offline moves on the same case, for an agent to
settle. Empty until replication brings other terminals' events."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label, Static

from hub.ids import format_tracking_code

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page


class ConflictsScreen(Page):
    BINDINGS = [Binding("escape", "app.pop_screen", N_("Back"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Conflicts to settle"), classes="title")
        yield DataTable(id="conflicts", cursor_type="row", zebra_stripes=True)
        yield Static(id="conflicts-note", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(_("When"), _("Request"), _("Move wanted"), _("Status found"))

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        session, catalog, lang = self.app.session, self.app.terminal.catalog, i18n.lang()
        rows = session.cases.conflicts()
        table = self.query_one(DataTable)
        table.clear()
        for c in rows:
            case = session.cases.get(c["case_id"])
            wanted = " → ".join(catalog.status_label(s, lang) for s in (c["wanted_from"], c["wanted_to"]) if s)
            table.add_row(i18n.hlc_time(c["hlc"]), format_tracking_code(case["tracking_code"]), wanted,
                          catalog.status_label(c["found"] or "", lang), key=c["case_id"])
        self.query_one("#conflicts-note", Static).update(
            _("No conflict: every terminal's work agrees.") if not rows
            else _("Enter opens the request; both moves are kept in its timeline."))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_case(event.row_key.value)
