"""The event journal: every change to a terminal's state, append-only.

Each terminal (its *origin*) numbers its own events with a gapless ``seq`` and
chains them by hash: an event's ``hash`` is SHA-256 over the canonical JSON of
all its other fields, including ``prev``, the hash of the origin's previous
event. Editing, deleting, inserting or reordering any stored event breaks the
chain, and :func:`verify` names the first event where it breaks.

The journal shares its SQLite file with the projections so that an event and
its effect on the projections commit in one transaction: there is never a
state that the journal cannot explain. Durability is ``synchronous=FULL`` in
WAL mode: once :meth:`Journal.append` has returned inside a committed
transaction, a power cut loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import canonical
from .clock import HybridClock

GENESIS = "0" * 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    origin    TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    hlc       INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    aggregate TEXT    NOT NULL,
    data      TEXT    NOT NULL,
    prev      TEXT    NOT NULL,
    hash      TEXT    NOT NULL,
    PRIMARY KEY (origin, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_fold_order ON events (hlc, origin, seq);
CREATE INDEX IF NOT EXISTS events_by_aggregate ON events (aggregate, hlc);
-- The last event of each origin, written with it: deleting the newest events
-- of the journal leaves a head that points past the end, and verify sees it.
CREATE TABLE IF NOT EXISTS heads (
    origin TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL,
    hash   TEXT    NOT NULL
) WITHOUT ROWID;
"""

COLUMNS = ("origin", "seq", "hlc", "actor", "type", "aggregate", "data", "prev", "hash")


@dataclass(frozen=True)
class Event:
    origin: str
    seq: int
    hlc: int
    actor: str
    type: str
    aggregate: str
    data: dict[str, Any]
    prev: str
    hash: str = field(default="")

    def body(self) -> dict[str, Any]:
        """Everything the hash covers."""
        return {
            "origin": self.origin,
            "seq": self.seq,
            "hlc": self.hlc,
            "actor": self.actor,
            "type": self.type,
            "aggregate": self.aggregate,
            "data": self.data,
            "prev": self.prev,
        }

    def canonical_text(self, data_text: str | None = None) -> str:
        """``canonical.dumps(self.body())``, built around the already-encoded
        data: merging a segment encodes each event's data once, not twice.
        Keys in sorted order: actor, aggregate, data, hlc, origin, prev, seq, type."""
        text = canonical.quote
        if data_text is None:
            data_text = canonical.dumps(self.data)
        return (f'{{"actor":{text(self.actor)},"aggregate":{text(self.aggregate)},"data":{data_text},'
                f'"hlc":{int(self.hlc)},"origin":{text(self.origin)},"prev":{text(self.prev)},'
                f'"seq":{int(self.seq)},"type":{text(self.type)}}}')

    def computed_hash(self, data_text: str | None = None) -> str:
        return canonical.sha256_hex(self.canonical_text(data_text).encode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Event":
        """Build an event from untrusted input (a segment, a bundle); checks types
        strictly so that a malformed record is an error, not a half-event."""
        if not isinstance(raw, dict) or set(raw) != set(COLUMNS):
            raise JournalError("event record has missing or unexpected fields")
        for name in ("origin", "actor", "type", "aggregate", "prev", "hash"):
            if not isinstance(raw[name], str) or not raw[name]:
                raise JournalError(f"event field {name!r} must be a non-empty string")
        for name in ("seq", "hlc"):
            if type(raw[name]) is not int or raw[name] < 0:
                raise JournalError(f"event field {name!r} must be a non-negative integer")
        if not isinstance(raw["data"], dict):
            raise JournalError("event field 'data' must be an object")
        return cls(**{name: raw[name] for name in COLUMNS})

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "Event":
        origin, seq, hlc, actor, type_, aggregate, data, prev, hash_ = row
        return cls(origin, seq, hlc, actor, type_, aggregate, json.loads(data), prev, hash_)


class JournalError(Exception):
    """The journal refused an operation; nothing was written."""


class ForkError(JournalError):
    """Two different events claim the same (origin, seq)."""

    def __init__(self, origin: str, seq: int) -> None:
        super().__init__(f"fork: another event {origin}#{seq} is already in the journal")
        self.origin = origin
        self.seq = seq


def connect(path: str) -> sqlite3.Connection:
    """Open the terminal database with the journal's durability settings.

    Autocommit mode (``isolation_level=None``): transactions are explicit and
    begin with BEGIN IMMEDIATE, so two processes on one home serialise instead
    of failing half-way.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT; rolls back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Journal:
    """Appends this terminal's events and merges other terminals' events."""

    def __init__(self, conn: sqlite3.Connection, origin: str, wall: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.origin = origin
        self.clock = HybridClock(wall=wall)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.conn)

    def _head(self, origin: str) -> tuple[int, str]:
        row = self.conn.execute("SELECT seq, hash FROM heads WHERE origin = ?", (origin,)).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def append(self, type: str, aggregate: str, data: dict[str, Any], actor: str) -> Event:
        """Append one event of this terminal. Must run inside :meth:`transaction`;
        the head and clock are read there, so another process appending to the
        same home cannot make a gap or a fork."""
        if not self.conn.in_transaction:
            raise JournalError("append outside a transaction")
        seq, prev = self._head(self.origin)
        newest = self.conn.execute("SELECT max(hlc) FROM events").fetchone()[0]
        if newest is not None:
            self.clock.observe(newest)
        event = Event(self.origin, seq + 1, self.clock.now(), actor, type, aggregate, data, prev)
        data_text = canonical.dumps(data)
        event = Event(**{**event.body(), "hash": event.computed_hash(data_text)})
        self.conn.execute(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
            (event.origin, event.seq, event.hlc, event.actor, event.type, event.aggregate,
             data_text, event.prev, event.hash),
        )
        self.conn.execute(
            "INSERT INTO heads VALUES (?,?,?) ON CONFLICT(origin) DO UPDATE SET seq=excluded.seq, hash=excluded.hash",
            (event.origin, event.seq, event.hash),
        )
        return event

    def accept(self, events: Iterable[Event]) -> list[Event]:
        """Take other terminals' events into the journal, checking each chain.

        Events already present (same hash) are skipped, so a segment received
        twice changes nothing. An event that contradicts a stored one is a fork
        and aborts the whole call. Returns the events actually added, for the
        caller to fold. Must run inside :meth:`transaction`.
        """
        if not self.conn.in_transaction:
            raise JournalError("accept outside a transaction")
        added: list[Event] = []
        rows: list[tuple[Any, ...]] = []
        heads: dict[str, tuple[int, str]] = {}
        for event in sorted(events, key=lambda e: (e.origin, e.seq)):
            if event.origin == self.origin:
                self._check_known(event)
                continue
            head_seq, head_hash = heads.get(event.origin) or self._head(event.origin)
            data_text = canonical.dumps(event.data)
            if event.computed_hash(data_text) != event.hash:
                raise JournalError(f"event {event.origin}#{event.seq} does not match its hash")
            if event.seq <= head_seq:
                self._check_known(event)
                continue
            if event.seq != head_seq + 1:
                raise JournalError(f"gap: {event.origin}#{event.seq} arrived but #{head_seq + 1} is missing")
            if event.prev != head_hash:
                raise ForkError(event.origin, event.seq)
            rows.append((event.origin, event.seq, event.hlc, event.actor, event.type, event.aggregate,
                         data_text, event.prev, event.hash))
            self.clock.observe(event.hlc)
            heads[event.origin] = (event.seq, event.hash)
            added.append(event)
        # One statement for all rows and one head per origin: a segment of
        # thousands of events costs a few statements, not thousands.
        self.conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
        self.conn.executemany(
            "INSERT INTO heads VALUES (?,?,?) ON CONFLICT(origin) DO UPDATE SET seq=excluded.seq, hash=excluded.hash",
            [(origin, seq, hash_) for origin, (seq, hash_) in heads.items()])
        return added

    def _check_known(self, event: Event) -> None:
        """An event at a position already taken must be the very same event."""
        stored = self.conn.execute(
            "SELECT hash FROM events WHERE origin=? AND seq=?", (event.origin, event.seq)).fetchone()
        if stored is None or stored[0] != event.hash:
            raise ForkError(event.origin, event.seq)

    def heads(self) -> dict[str, tuple[int, str]]:
        return {o: (s, h) for o, s, h in self.conn.execute("SELECT origin, seq, hash FROM heads")}

    def events(self, origin: str | None = None, after_seq: int = 0, limit: int | None = None) -> Iterator[Event]:
        """One origin's events in seq order, or every event in fold order."""
        if origin is None:
            cursor = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY hlc, origin, seq")
        else:
            cursor = self.conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM events WHERE origin=? AND seq>? ORDER BY seq LIMIT ?",
                (origin, after_seq, -1 if limit is None else limit),
            )
        return (Event.from_row(row) for row in cursor)

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM events").fetchone()[0])


@dataclass(frozen=True)
class Problem:
    origin: str
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"event {self.origin}#{self.seq}: {self.reason}"


def verify(path: str) -> Problem | None:
    """Check every chain in the journal at ``path``; the first broken event, or None.

    Reads raw bytes (not Python strings) so that a corrupted byte that is not
    valid UTF-8 is reported as a problem rather than crashing the check.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = bytes
    try:
        return _verify(conn)
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection) -> Problem | None:
    expected: tuple[bytes, int, str] | None = None  # origin, next seq, prev hash
    last: dict[str, tuple[int, str]] = {}
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY origin, seq")
    for row in rows:
        origin_raw, seq = row[0], row[1]
        origin = origin_raw.decode("utf-8", "replace") if isinstance(origin_raw, bytes) else str(origin_raw)
        where = (origin, seq if isinstance(seq, int) else -1)
        if expected is None or expected[0] != origin_raw:
            expected = (origin_raw, 1, GENESIS)
        problem = _check_row(row, expected[1], expected[2])
        if problem:
            return Problem(*where, problem)
        expected = (origin_raw, seq + 1, row[8].decode())
        last[origin] = (seq, row[8].decode())
    for origin_raw, seq, hash_ in conn.execute("SELECT origin, seq, hash FROM heads"):
        origin = origin_raw.decode("utf-8", "replace")
        have = last.pop(origin, (0, GENESIS))
        if have != (seq, hash_.decode("utf-8", "replace")):
            return Problem(origin, have[0] + 1, f"missing: the journal ends at #{have[0]} but its head is #{seq}")
    for origin, (seq, _) in last.items():
        return Problem(origin, seq, "events without a head record")
    return None


def _check_row(row: tuple[Any, ...], want_seq: int, want_prev: str) -> str | None:
    seq, hlc = row[1], row[2]
    if not isinstance(seq, int) or not isinstance(hlc, int):
        return "seq or hlc is not an integer"
    if seq != want_seq:
        return f"gap or reorder: expected #{want_seq}"
    try:
        origin, actor, type_, aggregate, data, prev, hash_ = (
            row[i].decode("utf-8") for i in (0, 3, 4, 5, 6, 7, 8)
        )
    except (UnicodeDecodeError, AttributeError):
        return "a field is not valid UTF-8 text"
    try:
        parsed = json.loads(data)
    except ValueError:
        return "data is not valid JSON"
    if not isinstance(parsed, dict) or canonical.dumps(parsed) != data:
        return "data is not in canonical form"
    if prev != want_prev:
        return "prev does not match the previous event's hash"
    event = Event(origin, seq, hlc, actor, type_, aggregate, parsed, prev, hash_)
    if event.computed_hash(data) != hash_:   # data is canonical (checked above): not encoded again
        return "hash does not match the event's content"
    return None
