"""Every enrolled terminal: its office, status, mode, last segment the SoR
holds and how long ago, chain integrity. A terminal silent for too long
stands out; the filter narrows by name, office, mode or status, ``s``
changes the sort. A refresh redraws only the cells that changed."""

from __future__ import annotations

import datetime as dt
import functools

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Label, Static

from ... import i18n
from ...i18n import N_, _
from ...widgets.banner import ModeBanner
from ...widgets.entry import Entry
from ...widgets.page import Page

SORTS = (N_("name"), N_("lag"), N_("mode"), N_("office"))
STATUS = {"active": N_("active"), "pending": N_("awaiting approval"), "revoked": N_("revoked")}
MODES = {"online": N_("online"), "degraded": N_("degraded"), "isolated": N_("isolated"), "recovery": N_("recovery")}


# babel's units, largest first: format_timedelta(threshold=1) shows round(s / unit)
# of the first unit that fits, so the text depends on (unit, count) only.
_UNITS = (31_536_000, 2_592_000, 604_800, 86_400, 3_600, 60, 1)
_LAGS: dict[tuple[int, int, str], str] = {}


def lag_text(seconds: float) -> str:
    """``i18n.duration`` without babel's cost on each of 200 rows at each refresh."""
    unit = next((u for u in _UNITS if seconds >= u), 1)
    key = (unit, max(1, round(seconds / unit)) if seconds > 0 else 0, i18n.lang())
    if key not in _LAGS:
        _LAGS[key] = i18n.duration(seconds)
    return _LAGS[key]


@functools.lru_cache(maxsize=4096)
def seen_text(timestamp: float, lang: str) -> str:
    return i18n.clock_time(dt.datetime.fromtimestamp(timestamp, dt.UTC))


def lag_of(row: dict, now: float) -> float | None:
    return None if row["last_seen"] is None else max(0.0, now - row["last_seen"])


def same(a, b) -> bool:
    # rich's Text equality ignores the style: a terminal turning red must redraw.
    return str(a) == str(b) and getattr(a, "style", None) == getattr(b, "style", None)


class TerminalsScreen(Page):
    BINDINGS = [Binding("s", "sort", N_("Sort")), Binding("r", "reload", N_("Refresh"))]

    sort = "name"

    def compose(self) -> ComposeResult:
        yield ModeBanner(self.app.agent_name)
        yield Label(_("Terminals"), classes="title")
        with Horizontal(classes="tools"):
            yield Entry(id="filter", placeholder=_("Filter: name, office, mode or status"))
        yield DataTable(id="terminals", cursor_type="row", zebra_stripes=True, classes="panel-table")
        yield Static(id="terminals-note", classes="note")
        yield Footer()

    def on_mount(self) -> None:
        self.columns = self.query_one(DataTable).add_columns(
            _("Terminal"), _("Office"), _("Status"), _("Mode"), _("Last segment"), _("Lag"), _("Last seen"), _("Chain"),
            _("Segments"))
        self.reload()
        self.set_interval(5.0, self.reload)

    def action_reload(self) -> None:
        self.reload()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.reload()

    def on_input_changed(self, event: Entry.Changed) -> None:
        self.reload()

    def rows(self) -> list[dict]:
        admin = self.app.admin
        if admin is None:
            return []
        now = self.app.now().timestamp()
        modes = {m["terminal"]: m["mode"] for m in self.app.session.modes.terminals()}
        rows = admin.terminals(now, self.app.silent_after)
        for row in rows:
            row["mode"] = modes.get(row["terminal"], "online")
            row["lag"] = lag_of(row, now)
        wanted = self.query_one("#filter", Entry).value.strip().lower()
        if wanted:
            rows = [r for r in rows if wanted in " ".join(
                (r["name"], r["office"] or "", r["mode"], _(MODES[r["mode"]]), r["status"],
                 _(STATUS[r["status"]]))).lower()]
        if self.sort == "lag":
            rows.sort(key=lambda r: -(r["lag"] if r["lag"] is not None else float("inf")))
        elif self.sort == "mode":
            rows.sort(key=lambda r: (r["mode"], r["name"]))
        elif self.sort == "office":
            rows.sort(key=lambda r: (r["office"] is None, r["office"] or "", r["name"]))
        return rows

    def cells(self, r: dict) -> tuple:
        style = "bold red" if r["silent"] or not r["chain_ok"] or r["status"] == "revoked" else ""
        lag = "—" if r["lag"] is None else lag_text(r["lag"])
        seen = "—" if r["last_seen"] is None else seen_text(r["last_seen"], i18n.lang())
        chain = _("intact") if r["chain_ok"] else _("BROKEN ({forks} fork(s))").format(forks=r["forks"])
        name = ("⚠ " if r["silent"] else "") + r["name"]
        return (Text(name, style=style), r["office"] or "—", _(STATUS[r["status"]]), _(MODES[r["mode"]]), f"#{r['last_seq']}",
                lag, seen, chain, str(r["segments"]))

    def reload(self) -> None:
        table = self.query_one(DataTable)
        rows = self.rows()
        fresh = {r["terminal"]: self.cells(r) for r in rows}
        shown = getattr(self, "shown", None)
        if shown is not None and list(shown) == list(fresh):
            # The same terminals in the same order (the usual refresh): only
            # the cells that changed are redrawn, not 200 rows rebuilt.
            for key, values in fresh.items():
                for column, (before, now) in enumerate(zip(shown[key], values)):
                    if not same(before, now):
                        table.update_cell(key, self.columns[column], now)
        else:
            cursor = table.cursor_row
            table.clear()
            for key, values in fresh.items():
                table.add_row(*values, key=key)
            if rows:
                table.move_cursor(row=min(cursor, len(rows) - 1))
        self.shown = fresh
        if self.app.admin is None:
            text = _("No SoR home given: start the console with --sor-home DIR to see the terminals.")
        else:
            silent = sum(r["silent"] for r in rows)
            text = _("{n} terminal(s), {silent} silent for more than {limit}; sorted by {sort}.").format(
                n=len(rows), silent=silent, limit=i18n.duration(self.app.silent_after), sort=_(self.sort))
        if text != getattr(self, "note", None):   # an unchanged note would still cost a layout of the screen
            self.query_one("#terminals-note", Static).update(text)
            self.note = text
