"""Outbox: per connector, what waits, fails or is dead, with the back office's
error; retry an item (``continuity.outbox.Outbox.retry``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label, Static

from continuity.outbox import Outbox
from hub.errors import HubError

from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page

STATES = {"queued": N_("queued"), "sending": N_("sending"), "sent": N_("sent"), "failed": N_("failed"),
          "dead": N_("dead"), "waiting": N_("waiting")}


class OutboxScreen(Page):
    BINDINGS = [Binding("t", "retry", N_("Retry")), Binding("r", "reload", N_("Refresh"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Outbox"), classes="title")
        yield DataTable(id="connectors", zebra_stripes=True)
        yield DataTable(id="items", cursor_type="row", zebra_stripes=True, classes="panel-table")
        yield Static(id="outbox-note", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        self.outbox = Outbox(self.app.terminal)
        self.query_one("#connectors", DataTable).add_columns(_("Connector"), *(_(s) for s in STATES.values()))
        self.query_one("#items", DataTable).add_columns(_("Item"), _("Connector"), _("Act"), _("State"), _("Tries"),
                                                        _("Back office says"))
        self.reload()
        self.set_interval(2.0, self.reload)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        per: dict[str, dict[str, int]] = {}
        items = self.outbox.items()
        for item in items:
            per.setdefault(item.connector, {}).setdefault(item.state, 0)
            per[item.connector][item.state] += 1
        connectors = self.query_one("#connectors", DataTable)
        connectors.clear()
        for name in sorted(per):
            connectors.add_row(name, *(str(per[name].get(s, 0)) for s in STATES))
        table = self.query_one("#items", DataTable)
        cursor = table.cursor_row
        table.clear()
        shown = [i for i in items if i.state != "sent"]
        for i in shown:
            table.add_row(str(i.id), i.connector, i.kind, _(STATES[i.state]), str(i.tries),
                          i.reason or i.reference or "", key=str(i.id))
        if shown:
            table.move_cursor(row=min(cursor, len(shown) - 1))
        pending = self.outbox.pending()
        self.query_one("#outbox-note", Static).update(
            _("{pending} item(s) to deliver; {sent} sent. T retries the selected item (same key: the back office "
              "deduplicates).").format(pending=pending, sent=sum(i.state == "sent" for i in items)))

    def action_retry(self) -> None:
        table = self.query_one("#items", DataTable)
        if not table.row_count:
            return
        item_id = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        try:
            item = self.outbox.retry(item_id)
        except HubError as error:
            self.app.show_refusal(error)
            return
        self.app.notify(_("Item {id} queued again.").format(id=item.id))
        self.reload()
