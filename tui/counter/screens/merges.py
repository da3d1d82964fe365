"""Merge proposals: the same person registered twice (typically on two
terminals while cut off). The agent says whether it is one person or two;
the decision is an event in the journal, and both records are always kept."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label, Static

from continuity.recovery import decide, proposals
from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page
from ...widgets.table import cursor_key


class MergesScreen(Page):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("a", "decide(True)", N_("Same person")),
        Binding("r", "decide(False)", N_("Two people")),
    ]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Merge proposals"), classes="title")
        yield DataTable(id="merges", cursor_type="row", zebra_stripes=True)
        yield Static(id="merges-note", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(_("Person"), _("Born"), _("First record"), _("Second record"),
                                              _("Requests on the second"))
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = proposals(self.app.session.conn)
        for p in rows:
            keep, dup = p.keep, p.duplicate
            table.add_row(f"{keep['first_name']} {keep['last_name']}", i18n.day_short(keep["birth_date"]),
                          " ".join(x for x in (keep.get("postcode"), keep.get("address")) if x) or "—",
                          f"{dup['first_name']} {dup['last_name']} "
                          + " ".join(x for x in (dup.get("postcode"), dup.get("address")) if x),
                          str(p.cases), key=p.id)
        self.query_one("#merges-note", Static).update(
            _("No merge proposal: nobody was registered twice.") if not rows
            else _("A: the same person (merge accepted). R: two different people. Both records are kept."))

    def action_decide(self, accept: bool) -> None:
        key = cursor_key(self.query_one(DataTable))
        if key is None:
            return
        try:
            decide(self.app.session, key, accept)
        except HubError as error:
            self.app.show_refusal(error)
        else:
            self.notify(_("Recorded: the same person.") if accept else _("Recorded: two different people."))
        self.reload()
