"""Conflicts and recovery report: what recovery left for people, across every
terminal this console's journal has merged — cases moved on two terminals and
merge proposals (the same person registered twice), each open, assigned or
resolved (``continuity.conflicts``, the API the counter and ``beffroi
conflicts`` share) — and the recovery report ``beffroi recovery`` wrote
(``<home>/recovery/recovery-report.json``).

IT does not settle a conflict here: it gives it to an agent or an office
(``g``, a ``conflict.assigned`` event), who settles it at the counter where
the citizen stands. Recovery waits until every conflict has a person."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Label, Static

from continuity import conflicts
from hub.errors import HubError

from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page
from ...widgets.table import cursor_key
from .terminals import MODES

KINDS = {"case": N_("case"), "merge": N_("merge")}
STATES = {"open": N_("open"), "assigned": N_("assigned"), "resolved": N_("resolved")}


def report_path(home: Path) -> Path:
    return Path(home) / "recovery" / "recovery-report.json"


class ConflictsScreen(Page):
    BINDINGS = [Binding("g", "assign", N_("Assign")), Binding("r", "reload", N_("Refresh"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Conflicts and recovery report"), classes="title")
        yield DataTable(id="conflicts", cursor_type="row", zebra_stripes=True)
        yield Static(id="conflicts-note", classes="note")
        with Horizontal(classes="tools"):
            yield Entry(id="assignee", placeholder=_("Assign the selected conflict to: agent id or office:NAME"))
        yield Label(_("Recovery report"), classes="subtitle")
        yield Static(id="report", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conflicts", DataTable).add_columns(_("Kind"), _("Subject"), _("Detail"), _("State"),
                                                            _("Assigned to"))
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        conn = self.app.terminal.conn
        table = self.query_one("#conflicts", DataTable)
        cursor = table.cursor_row
        table.clear()
        rows = conflicts.listing(conn)
        for c in rows:
            detail = (_("{wanted} wanted, found {found}").format(wanted=" → ".join(map(str, c.wanted)), found=c.found)
                      if c.kind == "case" and c.wanted else
                      _("{n} request(s) on the second record").format(n=c.cases) if c.kind == "merge" else c.detail)
            table.add_row(_(KINDS[c.kind]), c.subject[:30], detail[:46], _(STATES[c.state]),
                          c.assigned_to or "—", key=c.id)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        counts = conflicts.counts(conn)
        self.query_one("#conflicts-note", Static).update(_(
            "{open} without anyone, {assigned} assigned, {resolved} resolved. G gives the selected one to the agent "
            "or office typed below; they settle it at the counter.").format(**counts))
        self.query_one("#report", Static).update(self.report_text())

    def action_assign(self) -> None:
        conflict_id = cursor_key(self.query_one("#conflicts", DataTable))
        if conflict_id is None:
            return
        who = self.query_one("#assignee", Entry)
        try:
            done = conflicts.assign(self.app.session, conflict_id, who.value)
        except HubError as error:
            self.app.show_refusal(error)
            return
        who.value = ""
        self.app.notify(_("Given to {who}: {subject}.").format(who=done.assigned_to, subject=done.subject))
        self.reload()

    def report_text(self) -> str:
        path = report_path(self.app.terminal.home)
        if not path.exists():
            return _("No recovery report yet: it is written by `beffroi recovery` once the incident is ended.")
        try:
            return self.summary(json.loads(path.read_text("utf-8")), path)
        except (OSError, KeyError, TypeError, AttributeError, ValueError):   # hand-edited or from another release
            return _("⚠ {path} cannot be read: run `beffroi recovery` again to rewrite it.").format(path=path)

    def summary(self, reports, path: Path) -> str:
        lines = []
        for r in reports if isinstance(reports, list) else [reports]:
            box, found, merges = r["outbox"], r["conflicts"], r["merge_proposals"]
            lines.append(_(
                "{name}: {acts} act(s) during the incident; outbox {sent} delivered, {dead} dead, {waiting} waiting, "
                "{pending} pending; conflicts: {open} without anyone, {assigned} assigned, {resolved} resolved "
                "({merges} merge proposal(s) open); now {mode}.").format(
                name=r["terminal"]["name"], acts=r["offline_acts"], sent=box["delivered"], dead=box["dead"],
                waiting=box["waiting"], pending=box["pending"], open=found.get("open", 0),
                assigned=found.get("assigned", 0), resolved=found.get("resolved", 0), merges=merges["open"],
                mode=_(MODES.get(r["mode"], r["mode"]))))
            steps = ", ".join(f"{k} {v:.2f} s" for k, v in r.get("steps_s", {}).items())
            lines.append("  " + _("Steps: {steps}; state-hash {hash}").format(steps=steps, hash=r["state_hash"][:16]))
            if r.get("footprint"):
                lines.append("  " + _("Footprint since the incident: {g:.3g} gCO2e").format(
                    g=r["footprint"]["total"]["g_co2e"]))
        lines.append(_("File: {path}").format(path=path))
        return "\n".join(lines)
