"""Conflicts and recovery report: what recovery left for people, across every
terminal this console's journal has merged — the open conflicts (the same case
moved on two terminals) and the merge proposals (the same person registered
twice) — and the recovery report ``beffroi recovery`` wrote
(``<home>/recovery/recovery-report.json``). Read-only: agents decide at the
counter (*Fusions proposées*), where the citizen stands."""

from __future__ import annotations

import json
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label, Static

from continuity.recovery import open_conflicts, proposals

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page
from .terminals import MODES


def report_path(home: Path) -> Path:
    return Path(home) / "recovery" / "recovery-report.json"


class ConflictsScreen(Page):
    BINDINGS = [Binding("r", "reload", N_("Refresh"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Conflicts and recovery report"), classes="title")
        yield Label(_("Open conflicts"), classes="subtitle")
        yield DataTable(id="conflicts", cursor_type="row", zebra_stripes=True)
        yield Label(_("Merge proposals (decided at the counter)"), classes="subtitle")
        yield DataTable(id="proposals", cursor_type="row", zebra_stripes=True)
        yield Label(_("Recovery report"), classes="subtitle")
        yield Static(id="report", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conflicts", DataTable).add_columns(_("Case"), _("Conflict"), _("Terminal"), _("Wanted"),
                                                            _("Found"))
        self.query_one("#proposals", DataTable).add_columns(_("Person"), _("Born"), _("Second record"),
                                                            _("Requests on the second"))
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        conn = self.app.terminal.conn
        names = {self.app.terminal.id: self.app.terminal.name}
        if self.app.admin is not None:
            names.update({r["terminal"]: r["name"] for r in self.app.admin.terminals(self.app.now().timestamp())})
        codes = dict(conn.execute("SELECT id, tracking_code FROM cases").fetchall())
        table = self.query_one("#conflicts", DataTable)
        table.clear()
        for c in open_conflicts(conn):
            table.add_row(codes.get(c["case_id"]) or c["case_id"][:10], c["kind"],
                          names.get(c["event_origin"], c["event_origin"][:10]),
                          f"{c['wanted_from'] or '?'} → {c['wanted_to'] or '?'}", c["found"] or "—", key=c["id"])
        table = self.query_one("#proposals", DataTable)
        table.clear()
        for p in proposals(conn):
            keep, dup = p.keep, p.duplicate
            table.add_row(f"{keep['first_name']} {keep['last_name']}", i18n.day_short(keep["birth_date"]),
                          f"{dup['first_name']} {dup['last_name']} {dup.get('postcode') or ''}".strip(),
                          str(p.cases), key=p.id)
        self.query_one("#report", Static).update(self.report_text())

    def report_text(self) -> str:
        path = report_path(self.app.terminal.home)
        if not path.exists():
            return _("No recovery report yet: it is written by `beffroi recovery` once the incident is ended.")
        try:
            reports = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return _("⚠ {path} cannot be read: run `beffroi recovery` again to rewrite it.").format(path=path)
        try:
            return self.summary(reports, path)
        except (KeyError, TypeError, AttributeError, ValueError):   # hand-edited or from another release
            return _("⚠ {path} cannot be read: run `beffroi recovery` again to rewrite it.").format(path=path)

    def summary(self, reports, path: Path) -> str:
        lines = []
        for r in reports if isinstance(reports, list) else [reports]:
            box, conflicts, merges = r["outbox"], r["conflicts"], r["merge_proposals"]
            lines.append(_(
                "{name}: {acts} act(s) during the incident; outbox {sent} delivered, {dead} dead, {waiting} waiting, "
                "{pending} pending; {conflicts} open conflict(s), {merges} merge proposal(s); now {mode}.").format(
                name=r["terminal"]["name"], acts=r["offline_acts"], sent=box["delivered"], dead=box["dead"],
                waiting=box["waiting"], pending=box["pending"], conflicts=conflicts["open"], merges=merges["open"],
                mode=_(MODES.get(r["mode"], r["mode"]))))
            steps = ", ".join(f"{k} {v:.2f} s" for k, v in r.get("steps_s", {}).items())
            lines.append("  " + _("Steps: {steps}; state-hash {hash}").format(steps=steps, hash=r["state_hash"][:16]))
            if r.get("footprint"):
                lines.append("  " + _("Footprint since the incident: {g:.3g} gCO2e").format(
                    g=r["footprint"]["total"]["g_co2e"]))
        lines.append(_("File: {path}").format(path=path))
        return "\n".join(lines)

