"""My conflicts: what IT gave the signed-in agent (or their office) after an
incident — a request moved on two terminals, a person registered twice. The
agent writes what was decided and closes it; for a person registered twice,
whether it is one person or two. Every step is an event in the journal
(``continuity.conflicts``); the screen only calls it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Label, Static

from continuity import conflicts
from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page
from ...widgets.table import cursor_key

KIND_WORDS = {"case": N_("Request moved twice"), "merge": N_("Registered twice")}


class AssignedScreen(Page):
    BINDINGS = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("f2", "resolve(None)", N_("Settled")),
        Binding("f3", "resolve('accept')", N_("Same person")),
        Binding("f4", "resolve('reject')", N_("Two people")),
    ]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("My conflicts"), classes="title")
        yield DataTable(id="assigned", cursor_type="row", zebra_stripes=True)
        yield Input(id="assigned-note", placeholder=_("What was decided (kept in the journal)"))
        yield Static(id="assigned-note-help", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(_("Kind"), _("About"), _("Given by"), _("Detail"))
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = conflicts.for_agent(self.app.session)
        catalog, lang = self.app.terminal.catalog, i18n.lang()
        for c in rows:
            if c.kind == "case" and c.wanted:
                detail = _("{wanted} wanted, found {found}").format(
                    wanted=" → ".join(catalog.status_label(s, lang) for s in c.wanted if s),
                    found=catalog.status_label(c.found or "", lang))
            else:
                detail = _("{n} request(s) on the second record").format(n=c.cases)
            table.add_row(_(KIND_WORDS[c.kind]), c.subject, (c.assigned_by or "").partition(":")[2], detail, key=c.id)
        self.query_one("#assigned-note-help", Static).update(
            _("Nothing assigned to you: IT gives each conflict to an agent or an office.") if not rows
            else _("Write what was decided, then F2 (a request) or F3 / F4 (same person / two people)."))

    def action_resolve(self, merge: str | None) -> None:
        key = cursor_key(self.query_one(DataTable))
        if key is None:
            return
        note = self.query_one("#assigned-note", Input)
        try:
            conflicts.resolve(self.app.session, key, note.value, merge)
        except HubError as error:
            self.app.show_refusal(error)
            return
        note.value = ""
        self.notify(_("Recorded: the conflict is settled."))
        self.reload()
