"""A terminal's replication state, in ``<home>/replication.db`` (apart from the
journal, so replication never touches the state hash).

It keeps every segment the terminal sealed or verified, byte for byte: a
retried upload sends the very same bytes (so the SoR sees the same segment,
not a fork), and a bundle can carry other terminals' segments onwards. It also
keeps what the terminal trusts: the city's public keys, the admin-signed
device certificates and revocation list, and the epoch keys wrapped to it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hub.journal import GENESIS

if TYPE_CHECKING:
    from .segment import Segment

class SegmentRow(NamedTuple):
    """One stored segment: its header's place in its origin's chain, and its bytes."""
    origin: str
    first: int
    last: int
    epoch: int
    hash: str
    prev: str
    data: bytes

    @classmethod
    def of(cls, seg: "Segment", raw: bytes) -> "SegmentRow":
        h = seg.header
        return cls(h.origin, h.first, h.last, h.epoch, seg.hash, h.prev, raw)


SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    origin TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, epoch INTEGER NOT NULL,
    hash TEXT NOT NULL, prev TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (origin, first)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epoch_keys (
    recipient TEXT NOT NULL, epoch INTEGER NOT NULL, record TEXT NOT NULL, wrapped TEXT NOT NULL,
    PRIMARY KEY (recipient, epoch)
);
-- Segments the feed offered that could not be taken yet (no key, a refused
-- predecessor, revoked…): retried each round, so one stuck segment never
-- blocks the others and none is skipped for good.
CREATE TABLE IF NOT EXISTS refused (
    origin TEXT NOT NULL, first INTEGER NOT NULL, hash TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (origin, first)
);
"""


class Local:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.conn = sqlite3.connect(str(self.home / "replication.db"), isolation_level=None, timeout=30,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO settings VALUES (?,?)", (key, json.dumps(value)))

    # --- segments ----------------------------------------------------------------

    def held(self, origin: str, first: int) -> str | None:
        row = self.conn.execute("SELECT hash FROM segments WHERE origin=? AND first=?", (origin, first)).fetchone()
        return row[0] if row else None

    def head(self, origin: str) -> tuple[int, str]:
        row = self.conn.execute("SELECT last, hash FROM segments WHERE origin=? ORDER BY first DESC LIMIT 1",
                                (origin,)).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: a second process sealing the same terminal waits
        here, then sees the new head, so two `sync` never seal one run twice."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def segment_hash_ending(self, origin: str, last: int) -> str | None:
        row = self.conn.execute("SELECT hash FROM segments WHERE origin=? AND last=?", (origin, last)).fetchone()
        return row[0] if row else None

    def add(self, rows: list[SegmentRow]) -> None:
        """Store segments, in one transaction."""
        if self.conn.in_transaction:
            self.conn.executemany("INSERT OR IGNORE INTO segments VALUES (?,?,?,?,?,?,?)", rows)
            return
        with self.transaction():
            self.conn.executemany("INSERT OR IGNORE INTO segments VALUES (?,?,?,?,?,?,?)", rows)

    def origins(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT origin FROM segments ORDER BY origin")]

    def after(self, origin: str, last: int) -> Iterator[tuple[int, bytes]]:
        """This origin's segments that start after seq ``last``, in order."""
        for first, data in self.conn.execute("SELECT first, data FROM segments WHERE origin=? AND first>?"
                                             " ORDER BY first", (origin, last)).fetchall():
            yield first, data

    def every(self) -> Iterator[bytes]:
        for (data,) in self.conn.execute("SELECT data FROM segments ORDER BY origin, first"):
            yield data

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM segments").fetchone()[0]

    def refuse(self, origin: str, first: int, hash_: str, reason: str, at: float) -> None:
        self.conn.execute("INSERT OR REPLACE INTO refused VALUES (?,?,?,?,?)", (origin, first, hash_, reason, at))

    def refused(self) -> list[dict[str, Any]]:
        return [{"origin": o, "first": f, "hash": h, "reason": r} for o, f, h, r in
                self.conn.execute("SELECT origin, first, hash, reason FROM refused ORDER BY origin, first")]

    def unrefuse(self, keys: list[tuple[str, int]]) -> None:
        self.conn.executemany("DELETE FROM refused WHERE origin=? AND first=?", keys)

    # --- keys ------------------------------------------------------------------------

    def store_keys(self, recipient: str, epochs: list[dict[str, Any]]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO epoch_keys VALUES (?,?,?,?)",
                              [(recipient, e["epoch"], json.dumps(e["record"]), e["wrapped"]) for e in epochs])

    def wrapped_keys(self, recipient: str) -> list[dict[str, Any]]:
        return [{"epoch": epoch, "record": json.loads(record), "wrapped": wrapped} for epoch, record, wrapped in
                self.conn.execute("SELECT epoch, record, wrapped FROM epoch_keys WHERE recipient=? ORDER BY epoch",
                                  (recipient,))]
