"""The outbox's items: what each back office must receive, written in the same
transaction as the event that calls for it.

A counter's work ends when it reaches the city's back-office systems. If the
item were written after the event, a crash in between would lose the act for
the back office (what OpenCRVS's users lived through), so :func:`enqueue` runs
inside :meth:`hub.terminal.Writer.record`. Items are *local* state, like
``local_failures``: never replicated, never in the state hash, and made only
for this terminal's own events — events merged from other terminals never
enqueue anything, so three terminals never deliver one act three times.

The idempotency key is ``<origin>-<seq>`` of the event: the same act always
carries the same key, whoever sends it and however often, and the back office
deduplicates on it. Delivery (states, retries, connectors) is in
``continuity.outbox``; the hub only knows which acts go where.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from . import canonical
from .catalog import Catalog
from .journal import Event

SCHEMA = """
-- Local delivery state: never replicated, never part of the state hash.
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY,
    key       TEXT    NOT NULL UNIQUE,
    origin    TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    connector TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    case_id   TEXT,
    payload   TEXT    NOT NULL,
    state     TEXT    NOT NULL DEFAULT 'queued'
              CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'dead', 'waiting', 'aside')),
    tries     INTEGER NOT NULL DEFAULT 0,
    due_at    REAL    NOT NULL DEFAULT 0,
    reference TEXT,
    reason    TEXT,
    created_hlc INTEGER NOT NULL,
    sent_at   REAL,
    aside_by  TEXT,     -- who set the item aside (a person decided it will not be sent), and why
    aside_why TEXT,
    aside_at  REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, due_at);
CREATE INDEX IF NOT EXISTS outbox_case ON outbox (case_id);
"""

# Which back office hears of which service. Services not listed here live
# entirely at the counter (their continuity policy is `full` and no system
# downstream asks for them), except for their payments, which the treasury
# always receives.
SERVICE_CONNECTOR = {
    "acte-naissance": "etat-civil",
    "acte-mariage-deces": "etat-civil",
    "declaration-prealable": "urbanisme",
    "signalement": "travaux",
}
PAYMENTS_CONNECTOR = "tresor"
CONNECTORS = ("etat-civil", "urbanisme", "tresor", "travaux")


def create(conn: sqlite3.Connection) -> None:
    found = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='outbox'").fetchone()
    if found and "'aside'" not in found[0]:
        _add_aside(conn)
        return
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _add_aside(conn: sqlite3.Connection) -> None:
    """An outbox from before "set aside": SQLite cannot widen a CHECK in place,
    so the table is copied into today's shape, in one transaction."""
    from .journal import transaction
    kept = ("id, key, origin, seq, connector, kind, case_id, payload, state, tries, due_at, reference, reason,"
            " created_hlc, sent_at")
    with transaction(conn):
        conn.execute("ALTER TABLE outbox RENAME TO outbox_before_aside")
        conn.execute("DROP INDEX IF EXISTS outbox_due")
        conn.execute("DROP INDEX IF EXISTS outbox_case")
        for statement in SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"INSERT INTO outbox ({kept}) SELECT {kept} FROM outbox_before_aside")
        conn.execute("DROP TABLE outbox_before_aside")


def route(conn: sqlite3.Connection, event: Event, catalog: Catalog) -> tuple[str, str | None] | None:
    """The connector and case an event must reach, or None if no back office hears of it."""
    d = event.data
    if event.type in ("payment.taken", "payment.refunded"):
        return PAYMENTS_CONNECTOR, d["case_id"]
    if event.type == "case.opened":
        connector = SERVICE_CONNECTOR.get(d["service"])
        service = catalog.services.get(d["service"])
        # A deferred service, or one a back office follows (reports for the works service).
        if connector and service is not None:
            return connector, d["id"]
        return None
    if event.type == "case.status_changed":
        row = conn.execute("SELECT service FROM cases WHERE id=?", (d["id"],)).fetchone()
        connector = SERVICE_CONNECTOR.get(row[0]) if row else None
        return (connector, d["id"]) if connector else None
    return None


def payload(conn: sqlite3.Connection, event: Event) -> dict[str, Any]:
    """What the back office receives: the event's own data and the case and
    citizen as they stand when the act is recorded (a back office cannot read
    the journal)."""
    body: dict[str, Any] = {"type": event.type, "data": event.data, "actor": event.actor, "hlc": event.hlc}
    case_id = event.data.get("case_id") if event.type.startswith("payment.") else event.data.get("id")
    row = conn.execute("SELECT service, tracking_code, citizen_id, status FROM cases WHERE id=?", (case_id,)).fetchone()
    if row:
        body["case"] = {"id": case_id, "service": row[0], "tracking_code": row[1], "status": row[3]}
        citizen = conn.execute("SELECT id, first_name, last_name, birth_date, postcode FROM citizens WHERE id=?",
                               (row[2],)).fetchone() if row[2] else None
        if citizen:
            body["citizen"] = dict(zip(("id", "first_name", "last_name", "birth_date", "postcode"), citizen))
    return body


def key_of(origin: str, seq: int) -> str:
    return f"{origin}-{seq}"


def enqueue(conn: sqlite3.Connection, event: Event, catalog: Catalog) -> bool:
    """Write the outbox item an event calls for, if any. Runs inside the event's
    transaction; a second call for the same event changes nothing."""
    target = route(conn, event, catalog)
    if target is None:
        return False
    connector, case_id = target
    cursor = conn.execute(
        "INSERT INTO outbox (key, origin, seq, connector, kind, case_id, payload, created_hlc)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO NOTHING",
        (key_of(event.origin, event.seq), event.origin, event.seq, connector, event.type, case_id,
         canonical.dumps(payload(conn, event)), event.hlc))
    return cursor.rowcount > 0


def rederive(conn: sqlite3.Connection, events: Iterable[Event], catalog: Catalog) -> int:
    """Rebuild the items of some events (a restored terminal taking over a wiped
    one's outbox). Keys are the events' own, so the back office recognises
    what it already holds and nothing is recorded there twice."""
    return sum(enqueue(conn, event, catalog) for event in events)
