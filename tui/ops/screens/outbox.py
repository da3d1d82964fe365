"""Outbox: per connector, what waits, fails or is dead, with the back office's
error; retry an item (``continuity.outbox.Outbox.retry``) or set it aside
(a person decides it will not be sent: who and why are kept, retry undoes
it); the drain's progress bar, paused while isolated, moving in recovery."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Label, ProgressBar, Static

from continuity.outbox import PENDING, Outbox
from hub.errors import HubError

from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from ...widgets.table import cursor_key
from .terminals import MODES

STATES = {"queued": N_("queued"), "sending": N_("sending"), "sent": N_("sent"), "failed": N_("failed"),
          "dead": N_("dead"), "waiting": N_("waiting"), "aside": N_("set aside")}


class OutboxScreen(Page):
    BINDINGS = [Binding("t", "retry", N_("Retry")), Binding("a", "aside", N_("Set aside")),
                Binding("r", "reload", N_("Refresh"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Outbox"), classes="title")
        yield DataTable(id="connectors", zebra_stripes=True)
        with Horizontal(classes="tools"):
            yield Static(id="drain-note")
            yield ProgressBar(id="drain", show_eta=False)
        yield DataTable(id="items", cursor_type="row", zebra_stripes=True, classes="panel-table")
        yield Static(id="outbox-note", classes="note")
        with Horizontal(classes="tools"):
            yield Entry(id="aside-why", placeholder=_("Why set the selected item aside (e.g. redone on paper)"))
        yield Footer()

    def on_mount(self) -> None:
        self.outbox = Outbox(self.app.terminal)
        self.query_one("#connectors", DataTable).add_columns(_("Connector"), *(_(s) for s in STATES.values()))
        self.query_one("#items", DataTable).add_columns(_("Item"), _("Connector"), _("Act"), _("State"), _("Tries"),
                                                        _("Back office says"), _("Set aside by"))
        self.peak = self.last_pending = 0   # the most items pending at once in this drain: its 100 %
        self.reload()
        self.set_interval(1.0, self.reload)

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
            aside = f"{i.aside_by}: {i.aside_why}" if i.state == "aside" else ""
            table.add_row(str(i.id), i.connector, i.kind, _(STATES[i.state]), str(i.tries),
                          i.reason or i.reference or "", aside, key=str(i.id))
        if shown:
            table.move_cursor(row=min(cursor, len(shown) - 1))
        pending = sum(i.state in PENDING for i in items)   # the same reading as the tables, not a second one
        self.show_drain(pending)
        self.query_one("#outbox-note", Static).update(
            _("{pending} item(s) to deliver; {sent} sent. T retries the selected item (same key: the back office "
              "deduplicates); A sets it aside with the reason below.").format(
                pending=pending, sent=sum(i.state == "sent" for i in items)))

    def show_drain(self, pending: int) -> None:
        if pending and not self.last_pending:   # a new drain starts: its 100 % is what waits now
            self.peak = pending
        self.peak, self.last_pending = max(self.peak, pending), pending
        mode = self.app.terminal.mode().name
        self.query_one("#drain", ProgressBar).update(total=self.peak or 1, progress=self.peak - pending if self.peak else 1)
        if not pending:
            text = _("Drain: nothing left to deliver.")
        elif mode == "isolated":
            text = _("Drain paused (isolated): {pending} item(s) wait for the incident's end.").format(pending=pending)
        else:
            text = _("Drain ({mode}): {done} of {peak} delivered.").format(
                mode=_(MODES.get(mode, mode)), done=self.peak - pending, peak=self.peak)
        self.query_one("#drain-note", Static).update(text)

    def selected(self) -> int | None:
        key = cursor_key(self.query_one("#items", DataTable))
        return int(key) if key is not None else None

    def action_aside(self) -> None:
        item_id = self.selected()
        if item_id is None:
            return
        why = self.query_one("#aside-why", Entry)
        try:
            item = self.outbox.set_aside(item_id, self.app.agent_name, why.value)
        except HubError as error:
            self.app.show_refusal(error)
            return
        why.value = ""
        self.app.notify(_("Item {id} set aside; T sends it again.").format(id=item.id))
        self.reload()

    def action_retry(self) -> None:
        item_id = self.selected()
        if item_id is None:
            return
        try:
            item = self.outbox.retry(item_id)
        except HubError as error:
            self.app.show_refusal(error)
            return
        self.app.notify(_("Item {id} queued again.").format(id=item.id))
        self.reload()
