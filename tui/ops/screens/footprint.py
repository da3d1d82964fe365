"""Footprint: what each démarche costs the city's machines — journal and SoR
bytes, CPU time, pages — and its estimate in gCO2e (``hub.footprint``, the
same table as ``beffroi footprint``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Label, Static

from hub import footprint
from hub.errors import HubError

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.page import Page


class FootprintScreen(Page):
    BINDINGS = [Binding("r", "reload", N_("Refresh"))]

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Footprint of each démarche"), classes="title")
        yield DataTable(id="footprint", zebra_stripes=True, classes="panel-table")
        yield Static(id="factors", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(_("Démarche"), _("Requests"), _("Events"), _("Journal"), _("Sent to SoR"),
                                              _("CPU s"), _("Pages"), _("gCO2e"), _("Wh"))
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        terminal = self.app.terminal
        try:
            factors = footprint.Factors.load(terminal.home)
        except HubError as error:  # a hand-edited footprint.json: say so, show the defaults
            self.app.show_refusal(error)
            factors = footprint.Factors()
        data = footprint.report(terminal.conn, factors, pending=terminal.pending)
        names = {s.code: i18n.pick(s.names) for s in terminal.catalog}
        names[footprint.OTHER] = _("(other: citizens, queue, vault, modes)")
        names["total"] = _("Total")
        table = self.query_one(DataTable)
        table.clear()
        for row in [*data["services"], data["total"]]:
            table.add_row(names.get(row["name"], row["name"])[:26], str(row["cases"]), str(row["events"]),
                          footprint.human_bytes(row["journal_bytes"]), footprint.human_bytes(row["sent_bytes"]),
                          f"{row['cpu_seconds']:.3f}", str(row["pages"]), f"{row['g_co2e']:.3g}", f"{row['wh']:.3g}")
        f = data["factors"]
        self.query_one("#factors", Static).update(_(
            "Factors: {cpu} W per busy core, {net} Wh per GB sent, {store} Wh per GB stored a year, "
            "{grid} gCO2e per kWh, {page} gCO2e per page (README: sources; override in footprint.json).").format(
            cpu=round(f["wh_per_cpu_second"] * 3600, 2), net=f["wh_per_gb_sent"], store=f["wh_per_gb_year_stored"],
            grid=f["g_co2e_per_kwh"], page=f["g_co2e_per_page"]))
