"""A terminal's home: its identity, its journal database, its keys and files.

``Terminal.open(home)`` is the entry point of every program (CLI, TUI, API):
it returns the terminal, from which a :class:`Session` is made for whoever acts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import clock, footprint, ids, journal, mode, outbox, projections, scrape, vault
from .catalog import Catalog, default_catalog
from .clock import Clock, Entropy, SystemClock, SystemEntropy, today
from .durable import write_private
from .errors import Invalid, NotFound
from .journal import Event, Journal
from .roles import Principal

if TYPE_CHECKING:
    from .session import Session

DEFAULT_CITY = "Ville de Beffroi"  # the one default, for every command that makes a home or a city
TERMINAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")

LOCAL_SCHEMA = """
-- Local security state: never replicated, never part of the state hash.
CREATE TABLE IF NOT EXISTS local_failures (
    subject TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS local_failures_subject ON local_failures (subject, at);
"""


def default_home() -> Path:
    env = os.environ.get("BEFFROI_HOME")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_data_dir("beffroi"))


class Terminal:
    def __init__(self, home: Path, config: dict[str, Any], conn: sqlite3.Connection, catalog: Catalog,
                 clock: Clock | None = None, entropy: Entropy | None = None,
                 cpu_ns: Callable[[], int] | None = time.process_time_ns) -> None:
        self.home = home
        self.config = config
        self.id: str = config["terminal_id"]
        self.name: str = config["name"]
        self.conn = conn
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.entropy: Entropy = entropy or SystemEntropy()
        self.journal = Journal(conn, self.id, wall=self.clock.time)
        # The footprint's CPU counter (process time in ns): injectable, and
        # None switches the counting off (the benchmark's baseline).
        self.cpu_ns: Callable[[], int] | None = cpu_ns
        # CPU counts not yet in the footprint table, and each case's démarche
        # (hub.footprint says why: a write per act cost too much).
        self.pending = footprint.Pending()
        self.services = footprint.Services()

    @property
    def city(self) -> str:
        return self.config.get("city") or DEFAULT_CITY

    # --- time and identifiers (from the injected clock and entropy) ------

    def now(self) -> float:
        return self.clock.time()

    def today(self) -> "dt.date":
        return today(self.clock)

    def new_id(self) -> str:
        return ids.ulid(int(self.clock.time() * 1000), self.entropy.bytes)

    def new_tracking_code(self) -> str:
        return ids.tracking_code(self.entropy.bytes)

    # --- lifecycle ------------------------------------------------------

    @classmethod
    def init(cls, home: Path, name: str, city: str = DEFAULT_CITY, *, clock: Clock | None = None,
             entropy: Entropy | None = None, cpu_ns: Callable[[], int] | None = time.process_time_ns,
             office: str | None = None) -> "Terminal":
        """Create a new terminal home; refuses to touch an existing one. ``office``:
        where it stands (incident orders may name offices; the SoR learns it at enrolment)."""
        if not TERMINAL_NAME.match(name):
            raise Invalid("terminal name: 1 to 32 letters, digits, - or _, starting with a letter or digit",
                          "nom du terminal : 1 à 32 lettres, chiffres, - ou _, commençant par une lettre ou un chiffre")
        if office is not None and not TERMINAL_NAME.match(office):
            raise Invalid("office name: 1 to 32 letters, digits, - or _, starting with a letter or digit",
                          "nom du bureau : 1 à 32 lettres, chiffres, - ou _, commençant par une lettre ou un chiffre")
        home = Path(home)
        if (home / "terminal.json").exists():
            raise Invalid(f"{home} is already a Beffroi home", f"{home} est déjà un répertoire Beffroi")
        home.mkdir(parents=True, exist_ok=True)
        (home / "keys").mkdir(mode=0o700, exist_ok=True)
        config = {"terminal_id": ids.ulid(), "name": name, "city": city, "format": 1,
                  **({"office": office} if office else {})}
        write_private(home / "keys" / "storage.key", os.urandom(32))
        write_private(home / "terminal.json", json.dumps(config, indent=2).encode())
        scrape.token(home)   # /metrics of `beffroi serve` asks for it
        return cls.open(home, clock=clock, entropy=entropy, cpu_ns=cpu_ns)

    @classmethod
    def open(cls, home: Path | str | None = None, *, clock: Clock | None = None,
             entropy: Entropy | None = None, cpu_ns: Callable[[], int] | None = time.process_time_ns,
             catalog: Catalog | None = None) -> "Terminal":
        """``catalog``: the city's own catalog, when it is not the shipped one."""
        home = Path(home) if home is not None else default_home()
        config_path = home / "terminal.json"
        if not config_path.exists():
            raise NotFound(f"{home} is not a Beffroi home; create it with `beffroi init --home {home} --terminal NAME`",
                           f"{home} n'est pas un répertoire Beffroi ; créez-le avec `beffroi init --home {home} --terminal NOM`",
                           "no_home")
        config = json.loads(config_path.read_text("utf-8"))
        conn = journal.connect(str(home / "journal.db"))
        conn.executescript(LOCAL_SCHEMA)
        outbox.create(conn)
        footprint.create(conn)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(cases)")}
        tickets = {row[1] for row in conn.execute("PRAGMA table_info(queue_tickets)")}
        if (columns and "deferred" not in columns) or (tickets and "ranged" not in tickets):
            # projections from an older release: refold them from the journal
            with journal.transaction(conn):
                projections.rebuild(conn)
        projections.create(conn)
        terminal = cls(home, config, conn, catalog or default_catalog(), clock, entropy, cpu_ns)
        if "erased_hlc" not in {row[1] for row in conn.execute("PRAGMA table_info(vault_documents)")}:
            terminal.rebuild()   # a home from before the replicated vault: today's tables, refolded
        return terminal

    def close(self) -> None:
        """Writes the pending CPU counts first: a clean close loses none."""
        try:
            if self.pending.counts and not self.conn.in_transaction:
                with self.journal.transaction():
                    self.pending.flush(self.conn)
        finally:
            self.conn.close()

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------

    _grouped = False

    @contextmanager
    def writing(self) -> Iterator["Writer"]:
        """One transaction: every event recorded inside commits together, with
        its projections, or none does. Inside :meth:`group` it is a savepoint
        instead, so one refused write rolls back alone."""
        if not self._grouped:
            with self.journal.transaction():
                writer = Writer(self)
                yield writer
                writer.count()
            return
        self.conn.execute("SAVEPOINT writing")
        try:
            writer = Writer(self)
            yield writer
            writer.count()
        except BaseException:
            self.conn.execute("ROLLBACK TO writing")
            self.conn.execute("RELEASE writing")
            raise
        self.conn.execute("RELEASE writing")

    @contextmanager
    def savepoints(self) -> Iterator[None]:
        """Inside, :meth:`writing` blocks are savepoints of a transaction the
        caller has begun (the HTTP API begins and commits its groups itself, to
        wait for the lock and the disk off its event loop)."""
        if not self.conn.in_transaction:
            raise RuntimeError("savepoints() needs an open transaction")
        self._grouped = True
        try:
            yield
        finally:
            self._grouped = False

    @contextmanager
    def group(self) -> Iterator[None]:
        """Many writes, one transaction and one fsync (group commit): nothing
        inside is durable until the group commits."""
        with self.journal.transaction(), self.savepoints():
            yield

    def accept(self, events: list[Event]) -> list[Event]:
        """Merge other terminals' events (from replication or a bundle) and fold
        them. The aggregates of events that arrive earlier in fold order than
        what is already folded are refolded, so the result is always what a
        fresh rebuild gives (a property test checks exactly that)."""
        with self.journal.transaction():
            last = self.conn.execute("SELECT hlc, origin, seq FROM events ORDER BY hlc DESC, origin DESC, seq DESC"
                                     " LIMIT 1").fetchone()
            # Aggregates that already have events (read before the merge): only
            # those can hold rows folded in another order. A case opened on
            # another terminal during an incident arrives whole and just folds.
            known = {row[0] for row in self.conn.execute(
                "SELECT value FROM json_each(?) WHERE EXISTS (SELECT 1 FROM events WHERE aggregate = value)",
                (json.dumps(sorted({e.aggregate for e in events})),))} if last is not None else set()
            added = self.journal.accept(events)
            ordered = sorted(added, key=lambda e: (e.hlc, e.origin, e.seq))
            late = [e for e in ordered if e.aggregate in known and (e.hlc, e.origin, e.seq) < tuple(last)]
            if not late:
                for event in ordered:
                    projections.apply(self.conn, event)
            else:
                # Events that sort before what is folded: their aggregates are
                # redone from scratch; the others just fold on top.
                redo = {e.aggregate for e in late}
                projections.refold(self.conn, redo)
                for event in ordered:
                    if event.aggregate not in redo:
                        projections.apply(self.conn, event)
        if any(e.type == "vault.document_erased" for e in added):
            vault.shred(self)   # an erasure done elsewhere shreds this terminal's copy too
        return added

    def rebuild(self) -> int:
        with self.journal.transaction():
            return projections.rebuild(self.conn)

    def state_hash(self) -> str:
        return projections.state_hash(self.conn)

    def verify(self) -> journal.Problem | None:
        return journal.verify(str(self.home / "journal.db"))

    def mode(self) -> mode.Mode:
        """This terminal's current mode (folded from its own mode events)."""
        return mode.current(self.conn, self.id)

    def session(self, principal: Principal) -> "Session":
        from .session import Session
        return Session(self, principal)

    # --- local security state ---------------------------------------------

    def failures(self, subject: str, since: float) -> int:
        return int(self.conn.execute("SELECT count(*) FROM local_failures WHERE subject=? AND at>=?",
                                     (subject, since)).fetchone()[0])

    def count_footprint(self, service: str, *, pages: int = 0, sent_bytes: int = 0, origin: str | None = None) -> None:
        """Count what the journal cannot tell: pages printed for a démarche,
        bytes of sealed segments the SoR took (``service`` '' then). Rare, so
        written at once, with the pending CPU counts riding along."""
        with self.journal.transaction():
            footprint.add(self.conn, footprint.day_of(self.now()), origin or self.id, service,
                          pages=pages, sent_bytes=sent_bytes)
            self.pending.flush(self.conn)

    def record_failure(self, subject: str, at: float) -> None:
        self.conn.execute("INSERT INTO local_failures VALUES (?,?)", (subject, at))

    def clear_failures(self, subject: str) -> None:
        self.conn.execute("DELETE FROM local_failures WHERE subject=?", (subject,))


class Writer:
    """Records events inside one open transaction and folds each at once."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.conn = terminal.conn
        self.aggregates: set[str] = set()
        self.last_hlc = 0
        self.cpu_start = terminal.cpu_ns() if terminal.cpu_ns is not None else 0

    def count(self) -> None:
        """The hub's CPU time for this write, to the démarches it touched, kept
        pending; when due, every pending count is written in this write's
        transaction (no commit of its own). Commit and fsync are the disk's,
        not counted."""
        terminal = self.terminal
        if terminal.cpu_ns is None or not self.aggregates:
            return
        spent = terminal.cpu_ns() - self.cpu_start
        at_ms = clock.millis(self.last_hlc)   # the events' time: no extra clock read
        if terminal.pending.add(at_ms, terminal.id, terminal.services.of(self.conn, self.aggregates), spent):
            terminal.pending.flush(self.conn)

    def record(self, principal: Principal, type: str, aggregate: str, data: dict[str, Any]) -> Event:
        mode.stamp(self.conn, self.terminal.id, type, data)
        event = self.terminal.journal.append(type, aggregate, data, principal.actor)
        if type == "case.opened" and self.terminal.cpu_ns is not None:   # counting off: nothing to learn
            self.terminal.services.learn(aggregate, data["service"])
        self.aggregates.add(aggregate)
        self.last_hlc = event.hlc
        projections.apply(self.conn, event)
        # Same transaction: the act and what a back office must hear of it commit together.
        outbox.enqueue(self.conn, event, self.terminal.catalog)
        return event
