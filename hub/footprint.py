"""The footprint of every démarche: what the software itself spends on it.

A city asked what its digital services cost (Bordeaux Métropole's roadmap).
The answer starts from quantities the software controls and can count
exactly: events and bytes written to the journal, bytes sealed and sent to
the system of record, CPU time the hub spent writing, pages printed. Energy
and gCO2e are derived from them with factors a city can replace
(:class:`Factors`); the defaults and their sources are in the README.

Journal quantities are read from the journal itself (SQL over ``events``,
so they are right after a restore too). The others cannot be: CPU time,
pages and bytes sent are counted as the work happens, in the local
``footprint`` table — never replicated, never in the state hash, like
``local_failures``.

CPU time is counted on every write, so it is not written on every write: an
upsert per act cost a page more in each commit, a quarter of a case's
creation. A terminal keeps its CPU counts in memory (:class:`Pending`) and
writes them in one ``executemany`` with the next act once a few seconds of
its clock have passed or enough writes have gathered, and at a clean close.
Every reader adds what is still pending (``report(..., pending=)``), so the
figures are whole at any moment. A crash — or a commit that fails — loses at
most those last few seconds of CPU counts: they are estimates of energy, not
records of the city. Pages and bytes sent are rare and stay direct writes.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import Invalid

OTHER = "(other)"   # citizens, queue, agents, vault, modes: work that is no one démarche's

SCHEMA = """
-- Local measures: never replicated, never part of the state hash.
CREATE TABLE IF NOT EXISTS footprint (
    day TEXT NOT NULL, origin TEXT NOT NULL, service TEXT NOT NULL,
    cpu_ns INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0, sent_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, origin, service)
) WITHOUT ROWID;
"""

_ADD = ("INSERT INTO footprint (day, origin, service, cpu_ns, pages, sent_bytes) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT (day, origin, service) DO UPDATE SET cpu_ns=cpu_ns+excluded.cpu_ns,"
        " pages=pages+excluded.pages, sent_bytes=sent_bytes+excluded.sent_bytes")

# Bytes an event takes in the journal: its text columns and its integers
# (origin, seq, hlc) as SQLite stores them, without the B-tree's overhead.
_EVENT_BYTES = ("length(e.origin) + length(e.type) + length(e.aggregate) + length(e.actor) + length(e.data)"
                " + length(e.prev) + length(e.hash) + 24")
# The démarche an event belongs to: a case's service; anything else is OTHER.
_SERVICE = (f"coalesce((SELECT c.service FROM cases c WHERE e.aggregate LIKE 'case:%'"
            f" AND c.id = substr(e.aggregate, 6)), '{OTHER}')")


def create(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def day_of(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).date().isoformat()


def add(conn: sqlite3.Connection, day: str, origin: str, service: str, *, cpu_ns: int = 0, pages: int = 0,
        sent_bytes: int = 0) -> None:
    conn.execute(_ADD, (day, origin, service, cpu_ns, pages, sent_bytes))


class Services:
    """Which démarche each case aggregate belongs to, without a query per write.

    A case's service is set when it is opened and never changes (no event
    updates ``cases.service``; a refold deletes and refolds the same row), so
    what was learnt stays true. The writer teaches it at each ``case.opened``;
    a case opened elsewhere or before a restart is looked up once. Bounded:
    past ``size`` cases the oldest half is forgotten (looked up again if ever
    touched).
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self.known: dict[str, str] = {}

    def learn(self, aggregate: str, service: str) -> None:
        if len(self.known) >= self.size:
            for old in list(self.known)[: self.size // 2]:
                del self.known[old]
        self.known[aggregate] = service

    def of(self, conn: sqlite3.Connection, aggregates: set[str]) -> tuple[str, ...]:
        """The démarches a write touched, plus OTHER when it touched anything
        but a case (or only cases the projection does not hold)."""
        if len(aggregates) == 1:   # the usual write: one aggregate
            (aggregate,) = aggregates
            if aggregate in self.known:
                return (self.known[aggregate],)
            if not aggregate.startswith("case:"):
                return (OTHER,)
        cases = [a for a in aggregates if a.startswith("case:")]
        unknown = [a for a in cases if a not in self.known]
        if unknown:
            rows = conn.execute("SELECT 'case:' || id, service FROM cases WHERE id IN"
                                " (SELECT substr(value, 6) FROM json_each(?))", (json.dumps(unknown),))
            for aggregate, service in rows:
                self.learn(aggregate, service)
        found = {self.known[a] for a in cases if a in self.known}
        if not found or len(cases) < len(aggregates):
            found.add(OTHER)
        return tuple(sorted(found))


class Pending:
    """The CPU counts not yet in the ``footprint`` table (see the module's
    docstring for why, and what a crash may lose).

    Keyed by (UTC day number, origin, service): the day is turned into its ISO
    date only when written. ``every_ms`` of clock time after the first count
    not yet written, or ``most`` writes, the counts are due.
    """

    def __init__(self, every_ms: int = 5_000, most: int = 1_000) -> None:
        self.every_ms = every_ms
        self.most = most
        self.counts: dict[tuple[int, str, str], int] = {}
        self.writes = 0
        self.first_ms: int | None = None

    def add(self, at_ms: int, origin: str, services: tuple[str, ...], cpu_ns: int) -> bool:
        """One write's CPU time, shared out between the démarches it touched;
        True when the counts are due to be written (one call: this runs on
        every write)."""
        counts, day, share = self.counts, at_ms // 86_400_000, cpu_ns // len(services)
        for service in services:
            key = (day, origin, service)
            counts[key] = counts.get(key, 0) + share
        self.writes += 1
        if self.first_ms is None:
            self.first_ms = at_ms
        return self.writes >= self.most or at_ms - self.first_ms >= self.every_ms

    def rows(self) -> list[tuple[str, str, str, int, int, int]]:
        """What is pending, as rows of the table (nothing is removed)."""
        epoch = dt.date(1970, 1, 1)
        return [((epoch + dt.timedelta(days=day)).isoformat(), origin, service, cpu_ns, 0, 0)
                for (day, origin, service), cpu_ns in list(self.counts.items())]

    def drain(self) -> list[tuple[str, str, str, int, int, int]]:
        """What is pending, now the caller's to write; nothing is left pending."""
        rows = self.rows()
        self.counts.clear()
        self.writes = 0
        self.first_ms = None
        return rows

    def flush(self, conn: sqlite3.Connection) -> None:
        """Into the table, in the caller's transaction: one statement for all."""
        if self.counts:
            conn.executemany(_ADD, self.drain())


# --- factors -------------------------------------------------------------------

@dataclass(frozen=True)
class Factors:
    """What turns the measures into energy and gCO2e (README: sources)."""
    wh_per_cpu_second: float = 3.5 / 3600        # 3.5 W per busy core (Cloud Carbon Footprint, max per vCPU)
    wh_per_gb_sent: float = 7.5                  # network, per GB transferred (Aslan et al. 2018, trend to 2021)
    wh_per_gb_year_stored: float = 10.512        # 1.2 Wh per TB·h of SSD (Cloud Carbon Footprint), over a year
    g_co2e_per_kwh: float = 52.0                 # French electricity, average mix (ADEME Base Empreinte, 2022)
    g_co2e_per_page: float = 4.6                 # one A4 sheet of 80 g/m² paper (ADEME Base Empreinte, paper ~919 kgCO2e/t)

    @classmethod
    def load(cls, home: Path) -> "Factors":
        """The defaults, with what ``<home>/footprint.json`` overrides."""
        path = Path(home) / "footprint.json"
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise Invalid(f"{path} is not readable JSON ({exc}); fix it or remove it to use the defaults",
                          f"{path} n'est pas du JSON lisible ({exc}) ; corrigez-le ou supprimez-le pour les valeurs"
                          " par défaut") from None
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - names or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in raw.values()):
            raise Invalid(f"{path}: give non-negative numbers for some of {', '.join(sorted(names))}",
                          f"{path} : donnez des nombres positifs ou nuls pour certains de {', '.join(sorted(names))}")
        return cls(**raw)


# --- the report ------------------------------------------------------------------

@dataclass
class Line:
    """One démarche's (or one terminal's) measures and their estimate."""
    name: str
    cases: int = 0
    events: int = 0
    journal_bytes: int = 0
    sent_bytes: int = 0
    cpu_seconds: float = 0.0
    pages: int = 0
    wh: float = 0.0
    g_co2e: float = 0.0

    def estimate(self, factors: Factors) -> None:
        gb = 1e9
        # Every journal byte is kept twice a year over: on the terminal, and
        # sealed at the SoR (sent bytes); a year is the unit a budget reads.
        self.wh = (self.cpu_seconds * factors.wh_per_cpu_second + self.sent_bytes / gb * factors.wh_per_gb_sent
                   + (self.journal_bytes + self.sent_bytes) / gb * factors.wh_per_gb_year_stored)
        self.g_co2e = self.wh / 1000 * factors.g_co2e_per_kwh + self.pages * factors.g_co2e_per_page

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu_seconds"] = round(self.cpu_seconds, 6)
        data["wh"] = round(self.wh, 9)
        data["g_co2e"] = round(self.g_co2e, 9)
        return data


def _since_hlc(since: str | None) -> tuple[int, str]:
    if since is None:
        return 0, "0000-00-00"
    try:
        day = dt.date.fromisoformat(since)
    except ValueError:
        raise Invalid(f"since: a date like 2026-11-30, got {since!r}",
                      f"depuis : une date comme 2026-11-30, reçu {since!r}") from None
    millis = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    return millis << 16, day.isoformat()


def report(conn: sqlite3.Connection, factors: Factors, since: str | None = None,
           pending: Pending | None = None) -> dict[str, Any]:
    """Per démarche and per terminal: the measures and their estimate.

    ``pending``: the terminal's counts not yet written (``Terminal.pending``),
    added to the table's; a reader never writes (``/metrics`` reads while the
    HTTP server's group commit may hold the transaction).

    Bytes sent are counted per terminal; a démarche gets the share of its
    terminal's sent bytes that its journal bytes are of that terminal's.
    """
    hlc, day = _since_hlc(since)
    journal_rows = conn.execute(
        f"SELECT e.origin, {_SERVICE} AS service, count(*), sum({_EVENT_BYTES}),"
        " sum(e.type = 'case.opened') FROM events e WHERE e.hlc >= ? GROUP BY 1, 2", (hlc,)).fetchall()
    local_rows = conn.execute(
        "SELECT origin, service, sum(cpu_ns), sum(pages), sum(sent_bytes) FROM ("
        " SELECT day, origin, service, cpu_ns, pages, sent_bytes FROM footprint UNION ALL"
        " SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5 FROM json_each(?))"
        " WHERE day >= ? GROUP BY 1, 2", (json.dumps(pending.rows() if pending else []), day)).fetchall()
    services: dict[str, Line] = {}
    terminals: dict[str, Line] = {}
    origin_bytes: dict[str, int] = {}
    for origin, service, events, nbytes, opened in journal_rows:
        for line in (services.setdefault(service, Line(service)), terminals.setdefault(origin, Line(origin))):
            line.events += events
            line.journal_bytes += nbytes
            line.cases += opened
        origin_bytes[origin] = origin_bytes.get(origin, 0) + nbytes
    sent: dict[str, int] = {}
    for origin, service, cpu_ns, pages, sent_bytes in local_rows:
        lines = [terminals.setdefault(origin, Line(origin))]
        if service:   # '' holds bytes sent, shared out below
            lines.append(services.setdefault(service, Line(service)))
        for line in lines:
            line.cpu_seconds += cpu_ns / 1e9
            line.pages += pages
        terminals[origin].sent_bytes += sent_bytes
        sent[origin] = sent.get(origin, 0) + sent_bytes
    for origin, service, _events, nbytes, _opened in journal_rows:
        if sent.get(origin) and origin_bytes.get(origin):
            services[service].sent_bytes += round(sent[origin] * nbytes / origin_bytes[origin])
    total = Line("total")
    for line in services.values():
        line.estimate(factors)
        for name in ("cases", "events", "journal_bytes", "sent_bytes", "pages"):
            setattr(total, name, getattr(total, name) + getattr(line, name))
        total.cpu_seconds += line.cpu_seconds
    total.estimate(factors)
    for line in terminals.values():
        line.estimate(factors)
    order = sorted(services.values(), key=lambda line: (line.name == OTHER, -line.g_co2e, line.name))
    return {"since": since, "factors": asdict(factors), "services": [line.to_dict() for line in order],
            "terminals": [terminals[k].to_dict() for k in sorted(terminals)], "total": total.to_dict()}


def table(data: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """The report as the console shows it: one line per démarche, then the total."""
    names = names or {}
    head = f"{'service':<28} {'cases':>6} {'events':>7} {'journal':>10} {'sent':>10} {'CPU s':>8} {'pages':>5} {'gCO2e':>9}"
    lines = [head, "-" * len(head)]
    for row in [*data["services"], data["total"]]:
        lines.append(f"{names.get(row['name'], row['name'])[:28]:<28} {row['cases']:>6} {row['events']:>7}"
                     f" {human_bytes(row['journal_bytes']):>10} {human_bytes(row['sent_bytes']):>10}"
                     f" {row['cpu_seconds']:>8.3f} {row['pages']:>5} {row['g_co2e']:>9.3g}")
    return "\n".join(lines)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
