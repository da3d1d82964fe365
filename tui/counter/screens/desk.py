"""The agent's desk: the waiting queue on the left, citizen search on the right."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Label, Static

from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from ...widgets.printer import PrinterLine

AS_YOU_TYPE = 3   # characters before the search runs on each keystroke
# A date half typed ("12/0", "1985-03") means nothing yet; as words it would
# match every phone number starting with 0.
PARTIAL_DATE = re.compile(r"\d{1,2}/(\d{0,2}(/\d{0,3})?)?|\d{4}-(\d{0,2}(-\d?)?)?")


class QueuePanel(Vertical):
    """Tickets waiting per family; the ticket being served."""

    def compose(self) -> ComposeResult:
        yield Label(_("Waiting queue"), classes="title")
        yield DataTable(id="queue-counts", cursor_type="none", zebra_stripes=True)
        yield Static(_("No ticket called."), id="current-ticket")
        with Horizontal(id="queue-buttons"):
            yield Button(_("Call next"), id="call-next", variant="primary")
            yield Button(_("No-show"), id="no-show", variant="warning")
            yield Button(_("Served"), id="served", variant="success")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(_("Family"), width=19)
        table.add_column(_("Waiting"), width=10)
        self.refresh_counts()

    def refresh_counts(self) -> None:
        counts = self.app.session.queue.counts()
        table = self.query_one(DataTable)
        table.clear()
        for code, names in self.app.terminal.catalog.families.items():
            table.add_row(f"{code}  {i18n.pick(names)}", str(counts.get(code, 0)), key=code)
        table.add_row(_("Total"), str(sum(counts.values())), key="total")

    def show_current(self, ticket: dict | None) -> None:
        line = self.query_one("#current-ticket", Static)
        if ticket is None:
            line.update(_("No ticket called."))
        else:
            family = i18n.pick(self.app.terminal.catalog.families[ticket["family"]])
            line.update(_("Serving ticket {label} ({family})").format(label=ticket["label"], family=family))


class DeskScreen(Page):
    BINDINGS = [
        Binding("f2", "call_next", N_("Call next")),
        Binding("f3", "no_show", N_("No-show")),
        Binding("f4", "served", N_("Served")),
        Binding("f5", "register", N_("New citizen")),
        Binding("f6", "app.conflicts", N_("Conflicts")),
        Binding("ctrl+o", "app.sign_out", N_("Sign out")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.current: dict | None = None
        self.searched: str | None = None   # the query the results table shows (benchmarks wait on it)
        self.shown: list[str] = []
        self.hint = _("Type to search; Enter opens the citizen, F5 registers a new one.")

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield PrinterLine()
        with Horizontal():
            yield QueuePanel(id="queue")
            with Vertical(id="search-pane"):
                yield Label(_("Find a citizen"), classes="title")
                yield Entry(id="search", placeholder=_("Name, birth date (DD/MM/YYYY) or phone…"))
                yield DataTable(id="results", cursor_type="row")
                yield Static(_("Type to search; Enter opens the citizen, F5 registers a new one."),
                             id="search-hint", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#results", DataTable)
        # Fixed widths: the table is redrawn on every keystroke, never re-measured.
        for label, width in ((_("Last name"), 14), (_("First name"), 12), (_("Born"), 10), (_("Phone"), 10),
                             (_("Postcode"), 11)):
            table.add_column(label, width=width)
        self.query_one("#search").focus()

    def on_screen_resume(self) -> None:
        self.query_one(QueuePanel).refresh_counts()

    def on_input_changed(self, event: Entry.Changed) -> None:
        # As-you-type from the third character: one or two letters match most
        # of a city (a 100,000-citizen index takes up to 0.2 s to rank them).
        # Enter searches whatever is typed, for the two-letter surnames.
        if event.input.id == "search":
            text = event.value.strip()
            ready = len(text) >= AS_YOU_TYPE and not PARTIAL_DATE.fullmatch(text)
            self.search(event.value if ready or not text else "", short=bool(text))

    def on_input_submitted(self, event: Entry.Submitted) -> None:
        if event.input.id != "search":
            return
        if event.value.strip() and self.searched != event.value:
            self.search(event.value)
        table = self.query_one("#results", DataTable)
        if table.row_count:
            table.focus()

    def search(self, text: str, short: bool = False) -> None:
        """Results as the agent types: one hub query, one repaint. ``short``:
        too little typed to search yet (the box is not empty)."""
        try:
            found = self.app.session.citizens.search(text) if text.strip() else []
            problem = None
        except HubError as error:
            found, problem = [], error.message(i18n.lang())
        if short and not text.strip():
            hint = _("Keep typing (3 characters, or the whole date), or press Enter to search.")
        elif text.strip():
            hint = problem or (i18n.ngettext("{n} citizen found", "{n} citizens found", len(found)).format(n=len(found))
                               if found else _("Nobody found: F5 registers a new citizen."))
        else:
            hint = _("Type to search; Enter opens the citizen, F5 registers a new one.")
        ids = [c["id"] for c in found]
        with self.app.batch_update():
            if ids != self.shown:      # typing on within the same results repaints nothing
                table = self.query_one("#results", DataTable)
                table.clear()
                for c in found:
                    born = i18n.day_short(c["birth_date"]) if c.get("birth_date") else ""
                    table.add_row(c["last_name"], c["first_name"], born, c.get("phone") or "",
                                  c.get("postcode") or "", key=c["id"])
                self.shown = ids
            if hint != self.hint:
                self.query_one("#search-hint", Static).update(hint)
                self.hint = hint
        self.searched = text

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "results":
            self.app.open_citizen(event.row_key.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"call-next": self.action_call_next, "no-show": self.action_no_show, "served": self.action_served}
        if event.button.id in actions:
            actions[event.button.id]()

    def action_call_next(self) -> None:
        try:
            ticket = self.app.session.queue.call_next(desk=self.app.terminal.name)
        except HubError as error:
            self.app.show_refusal(error)
            return
        if ticket is None:
            self.notify(_("Nobody is waiting."))
        self.current = ticket
        panel = self.query_one(QueuePanel)
        panel.show_current(ticket)
        panel.refresh_counts()

    def _close(self, outcome: str) -> None:
        if self.current is None:
            self.notify(_("Call a ticket first (F2)."), severity="warning")
            return
        try:
            self.app.session.queue.close(self.current["id"], outcome)
        except HubError as error:
            self.app.show_refusal(error)
            return
        self.current = None
        panel = self.query_one(QueuePanel)
        panel.show_current(None)
        panel.refresh_counts()

    def action_no_show(self) -> None:
        self._close("no_show")

    def action_served(self) -> None:
        self._close("served")

    def action_register(self) -> None:
        self.app.register_citizen()
