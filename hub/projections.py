"""Projections: the current state, folded from the journal.

Every table here can be dropped and rebuilt from the events at any time and
comes out identical; :func:`state_hash` proves it. Folding is deterministic:
events are applied in (hlc, origin, seq) order and each handler depends only on
the event and on what earlier events produced.

A status move carries the status it moved *from*. When the case is no longer in
that status (two terminals acted on it offline), the first move in fold order
wins and the later one is kept as a **conflict** for an agent to resolve.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from . import canonical
from .catalog import default_catalog
from .journal import Event
from .text import folded, phone_digits

SCHEMA = """
CREATE TABLE IF NOT EXISTS citizens (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL, last_name TEXT NOT NULL, birth_date TEXT,
    postcode TEXT, phone TEXT, address TEXT, email TEXT,
    created_hlc INTEGER NOT NULL, updated_hlc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS citizens_identity ON citizens (birth_date, last_name);
CREATE VIRTUAL TABLE IF NOT EXISTS citizens_fts USING fts5 (
    name, birth_date, address, phone,
    tokenize="unicode61 remove_diacritics 2"
);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL, citizen_id TEXT, status TEXT NOT NULL,
    fields TEXT NOT NULL, tracking_code TEXT NOT NULL,
    verify_kind TEXT NOT NULL, verify_value TEXT NOT NULL,
    assigned_to TEXT, origin TEXT NOT NULL, opened_by TEXT NOT NULL,
    opened_hlc INTEGER NOT NULL, updated_hlc INTEGER NOT NULL,
    deferred INTEGER NOT NULL DEFAULT 0  -- accepted while isolated, for the back office to finalise
);
CREATE INDEX IF NOT EXISTS cases_tracking ON cases (tracking_code);
CREATE INDEX IF NOT EXISTS cases_citizen ON cases (citizen_id, opened_hlc);
CREATE INDEX IF NOT EXISTS cases_service_status ON cases (service, status);
CREATE TABLE IF NOT EXISTS case_notes (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL, hlc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS case_notes_case ON case_notes (case_id, hlc);
CREATE TABLE IF NOT EXISTS case_documents (
    case_id TEXT NOT NULL, document_id TEXT NOT NULL, requirement TEXT, hlc INTEGER NOT NULL,
    PRIMARY KEY (case_id, document_id)
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, kind TEXT NOT NULL, refund_of TEXT,
    amount_cents INTEGER NOT NULL, method TEXT NOT NULL, reason TEXT,
    origin TEXT NOT NULL, receipt_seq INTEGER NOT NULL, receipt_number TEXT NOT NULL,
    actor TEXT NOT NULL, hlc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_case ON payments (case_id, hlc);
CREATE UNIQUE INDEX IF NOT EXISTS payments_receipt ON payments (origin, receipt_seq);
CREATE TABLE IF NOT EXISTS queue_tickets (
    id TEXT PRIMARY KEY, day TEXT NOT NULL, family TEXT NOT NULL, origin TEXT NOT NULL,
    number INTEGER NOT NULL, label TEXT NOT NULL, status TEXT NOT NULL,
    issued_hlc INTEGER NOT NULL, called_hlc INTEGER, called_by TEXT, desk TEXT,
    ranged INTEGER NOT NULL DEFAULT 0   -- 1: numbered from the terminal's ticket range (isolated)
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue_tickets (day, status, family, issued_hlc);
CREATE UNIQUE INDEX IF NOT EXISTS queue_numbering ON queue_tickets (day, family, origin, number);
CREATE INDEX IF NOT EXISTS queue_origin_number ON queue_tickets (origin, number);
-- blob, key_check, digest: a replicated document (hub/vault.py); sha256 and
-- wrapped_key: one deposited before the vault replicated (kept readable).
CREATE TABLE IF NOT EXISTS vault_documents (
    id TEXT PRIMARY KEY, citizen_id TEXT NOT NULL, blob TEXT, key_check TEXT, digest TEXT,
    sha256 TEXT, wrapped_key TEXT, media_type TEXT NOT NULL,
    size INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    origin TEXT NOT NULL, hlc INTEGER NOT NULL, removed_hlc INTEGER, erased_hlc INTEGER, erased_by TEXT
);
CREATE INDEX IF NOT EXISTS vault_citizen ON vault_documents (citizen_id, hlc);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, pin_hash TEXT,
    active INTEGER NOT NULL, hlc INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS conflicts (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL, kind TEXT NOT NULL,
    event_origin TEXT NOT NULL, event_seq INTEGER NOT NULL,
    wanted_from TEXT, wanted_to TEXT, found TEXT, detail TEXT NOT NULL,
    resolved_by TEXT, resolution TEXT, hlc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_open ON conflicts (resolved_by, hlc);
-- Who looks at a conflict (a case moved on two terminals, a merge proposal):
-- an agent or an office; owned by the aggregate the conflict belongs to.
CREATE TABLE IF NOT EXISTS conflict_assignments (
    conflict_id TEXT PRIMARY KEY, aggregate TEXT NOT NULL, assigned_to TEXT NOT NULL,
    assigned_by TEXT NOT NULL, note TEXT, hlc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conflict_assignments_to ON conflict_assignments (assigned_to);
-- A duplicate citizen record an agent found to be the same person as `kept`:
-- the record stays (its events too), its cases and documents show under `kept`.
CREATE TABLE IF NOT EXISTS citizen_merges (
    duplicate TEXT PRIMARY KEY, kept TEXT NOT NULL, proposal TEXT NOT NULL, actor TEXT NOT NULL, hlc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS citizen_merges_kept ON citizen_merges (kept);
-- The mode of every terminal this one has heard of, keyed by the origin of
-- its mode events: a terminal only ever changes its own row.
CREATE TABLE IF NOT EXISTS modes (
    terminal TEXT PRIMARY KEY, mode TEXT NOT NULL, since_hlc INTEGER NOT NULL, order_id TEXT, reason TEXT,
    actor TEXT NOT NULL, register_first INTEGER, register_last INTEGER, tickets_first INTEGER, tickets_last INTEGER
);
CREATE TABLE IF NOT EXISTS mode_orders (
    terminal TEXT NOT NULL, order_id TEXT NOT NULL, kind TEXT NOT NULL, issued TEXT NOT NULL, hlc INTEGER NOT NULL,
    PRIMARY KEY (terminal, order_id)
);
-- The incident register: one numbered line per act done while isolated.
CREATE TABLE IF NOT EXISTS register (
    number INTEGER NOT NULL, origin TEXT NOT NULL, kind TEXT NOT NULL, case_id TEXT NOT NULL, payment_id TEXT,
    amount_cents INTEGER, receipt_number TEXT, order_id TEXT, actor TEXT NOT NULL, hlc INTEGER NOT NULL,
    PRIMARY KEY (origin, number)
);
CREATE INDEX IF NOT EXISTS register_number ON register (number, origin);
"""

# Tables covered by the state hash, with the key that orders them. The FTS
# index is left out: it is derived from `citizens` row by row.
HASHED = {
    "citizens": "id", "cases": "id", "case_notes": "id", "case_documents": "case_id, document_id",
    "payments": "id", "queue_tickets": "id", "vault_documents": "id", "agents": "id", "conflicts": "id",
    "conflict_assignments": "conflict_id", "citizen_merges": "duplicate",
    "modes": "terminal", "mode_orders": "terminal, order_id", "register": "origin, number",
}
DROP = list(HASHED) + ["citizens_fts"]

Handler = Callable[[sqlite3.Connection, Event], None]
HANDLERS: dict[str, Handler] = {}


def handles(event_type: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[event_type] = fn
        return fn
    return register


def create(conn: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would commit an open transaction.
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def apply(conn: sqlite3.Connection, event: Event) -> None:
    handler = HANDLERS.get(event.type)
    if handler is None:
        # An event type from a newer release: kept in the journal, folded once
        # this terminal is upgraded and rebuilds.
        return
    handler(conn, event)


def rebuild(conn: sqlite3.Connection) -> int:
    """Drop every projection and fold the whole journal again, in one transaction."""
    for table in DROP:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    create(conn)
    count = 0
    cursor = conn.execute(
        "SELECT origin, seq, hlc, actor, type, aggregate, data, prev, hash FROM events ORDER BY hlc, origin, seq")
    while batch := cursor.fetchmany(2000):
        for row in batch:
            apply(conn, Event.from_row(row))
        count += len(batch)
    return count


# What each kind of aggregate owns in the projections. Every row belongs to
# exactly one aggregate and depends only on that aggregate's events, which is
# what lets :func:`refold` redo a few aggregates instead of the whole journal.
RESETS: dict[str, list[str]] = {
    "citizen": ["DELETE FROM citizens_fts WHERE rowid IN (SELECT rid FROM citizens WHERE id = :id)",
                "DELETE FROM citizens WHERE id = :id",
                "DELETE FROM vault_documents WHERE citizen_id = :id",
                "DELETE FROM citizen_merges WHERE duplicate = :id",
                "DELETE FROM conflict_assignments WHERE aggregate = 'citizen:' || :id"],
    "case": ["DELETE FROM cases WHERE id = :id", "DELETE FROM case_notes WHERE case_id = :id",
             "DELETE FROM case_documents WHERE case_id = :id", "DELETE FROM payments WHERE case_id = :id",
             "DELETE FROM conflicts WHERE case_id = :id", "DELETE FROM register WHERE case_id = :id",
             "DELETE FROM conflict_assignments WHERE aggregate = 'case:' || :id"],
    "ticket": ["DELETE FROM queue_tickets WHERE id = :id"],
    "agent": ["DELETE FROM agents WHERE id = :id"],
    "mode": ["DELETE FROM modes WHERE terminal = :id", "DELETE FROM mode_orders WHERE terminal = :id"],
}


def refold(conn: sqlite3.Connection, aggregates: set[str]) -> int:
    """Redo the projections of some aggregates from all their events, in fold
    order: what a merge needs when events arrive that sort before ones already
    folded. Falls back to a full rebuild for an aggregate kind it does not know."""
    if any(a.partition(":")[0] not in RESETS for a in aggregates):
        return rebuild(conn)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS refolding (aggregate TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.refolding")
    conn.executemany("INSERT OR IGNORE INTO temp.refolding VALUES (?)", ((a,) for a in aggregates))
    for aggregate in aggregates:
        kind, _, ident = aggregate.partition(":")
        for statement in RESETS[kind]:
            conn.execute(statement, {"id": ident})
    cursor = conn.execute(
        "SELECT origin, seq, hlc, actor, type, aggregate, data, prev, hash FROM events"
        " WHERE aggregate IN (SELECT aggregate FROM temp.refolding) ORDER BY hlc, origin, seq")
    count = 0
    while batch := cursor.fetchmany(2000):
        for row in batch:
            apply(conn, Event.from_row(row))
        count += len(batch)
    conn.execute("DELETE FROM temp.refolding")
    return count


def state_hash(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for table, order in HASHED.items():
        cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
        names = [d[0] for d in cursor.description if d[0] != "rid"]
        digest.update(canonical.encode([table, names]))
        skip_rid = cursor.description[0][0] == "rid"
        for row in cursor:
            digest.update(canonical.encode(list(row[1:] if skip_rid else row)))
    return digest.hexdigest()


# --- citizens -------------------------------------------------------------

def _index_citizen(conn: sqlite3.Connection, rid: int, c: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO citizens_fts (rowid, name, birth_date, address, phone) VALUES (?,?,?,?,?)",
        (rid, folded(f"{c['first_name']} {c['last_name']}"), c.get("birth_date") or "",
         folded(f"{c.get('address') or ''} {c.get('postcode') or ''}"), phone_digits(c.get("phone") or "")),
    )


@handles("citizen.registered")
def _citizen_registered(conn: sqlite3.Connection, e: Event) -> None:
    c = e.data
    cursor = conn.execute(
        "INSERT INTO citizens (id, first_name, last_name, birth_date, postcode, phone, address, email,"
        " created_hlc, updated_hlc) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        (c["id"], c["first_name"], c["last_name"], c.get("birth_date"), c.get("postcode"), c.get("phone"),
         c.get("address"), c.get("email"), e.hlc, e.hlc),
    )
    if cursor.rowcount and cursor.lastrowid is not None:
        _index_citizen(conn, cursor.lastrowid, c)


CITIZEN_FIELDS = ("first_name", "last_name", "birth_date", "postcode", "phone", "address", "email")


@handles("citizen.edited")
def _citizen_edited(conn: sqlite3.Connection, e: Event) -> None:
    changes = {k: v for k, v in e.data["changes"].items() if k in CITIZEN_FIELDS}
    row = conn.execute(f"SELECT rid, {', '.join(CITIZEN_FIELDS)} FROM citizens WHERE id=?", (e.data["id"],)).fetchone()
    if row is None or not changes:
        return
    current = dict(zip(CITIZEN_FIELDS, row[1:]))
    current.update(changes)
    sets = ", ".join(f"{k}=?" for k in changes)
    conn.execute(f"UPDATE citizens SET {sets}, updated_hlc=? WHERE rid=?", (*changes.values(), e.hlc, row[0]))
    conn.execute("DELETE FROM citizens_fts WHERE rowid=?", (row[0],))
    _index_citizen(conn, row[0], current)


# --- cases ----------------------------------------------------------------

@handles("case.opened")
def _case_opened(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    conn.execute(
        "INSERT INTO cases (id, service, citizen_id, status, fields, tracking_code, verify_kind, verify_value,"
        " assigned_to, origin, opened_by, opened_hlc, updated_hlc, deferred) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(id) DO NOTHING",
        (d["id"], d["service"], d.get("citizen_id"), d["status"], canonical.dumps(d["fields"]), d["tracking_code"],
         d["verify_kind"], d["verify_value"], None, e.origin, e.actor, e.hlc, e.hlc, int(bool(d.get("deferred")))),
    )
    _register(conn, e, d["id"])


def _register(conn: sqlite3.Connection, e: Event, case_id: str) -> None:
    """An act numbered in the incident register (see hub.mode.stamp)."""
    d = e.data
    if "register" not in d:
        return
    payment = e.type != "case.opened"
    conn.execute("INSERT INTO register VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                 (d["register"], e.origin, e.type, case_id, d["id"] if payment else None,
                  (-d["amount_cents"] if e.type == "payment.refunded" else d["amount_cents"]) if payment else None,
                  d.get("receipt_number"), d.get("register_order"), e.actor, e.hlc))


def _conflict(conn: sqlite3.Connection, e: Event, kind: str, found: str | None, detail: str) -> None:
    conn.execute(
        "INSERT INTO conflicts (id, case_id, kind, event_origin, event_seq, wanted_from, wanted_to, found, detail, hlc)"
        " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        (f"{e.origin}#{e.seq}", e.data["id"], kind, e.origin, e.seq, e.data.get("from"), e.data.get("to"),
         found, detail, e.hlc),
    )


@handles("case.status_changed")
def _case_status_changed(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    row = conn.execute("SELECT status, service FROM cases WHERE id=?", (d["id"],)).fetchone()
    if row is None:
        return
    status, service_code = row
    if status != d["from"]:
        _conflict(conn, e, "status", status,
                  f"moved {d['from']} → {d['to']} on {e.origin}, but the case was already {status}")
        return
    service = default_catalog().services.get(service_code)
    if service is not None and not service.can_move(status, d["to"]):
        _conflict(conn, e, "workflow", status, f"{status} → {d['to']} is not in the workflow")
        return
    conn.execute("UPDATE cases SET status=?, updated_hlc=? WHERE id=?", (d["to"], e.hlc, d["id"]))


@handles("case.assigned")
def _case_assigned(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE cases SET assigned_to=?, updated_hlc=? WHERE id=?", (e.data["agent"], e.hlc, e.data["id"]))


@handles("case.noted")
def _case_noted(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("INSERT INTO case_notes VALUES (?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                 (e.data["note_id"], e.data["id"], e.data["text"], e.actor, e.hlc))
    conn.execute("UPDATE cases SET updated_hlc=? WHERE id=?", (e.hlc, e.data["id"]))


@handles("case.document_attached")
def _case_document_attached(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("INSERT INTO case_documents VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                 (e.data["id"], e.data["document_id"], e.data.get("requirement"), e.hlc))
    conn.execute("UPDATE cases SET updated_hlc=? WHERE id=?", (e.hlc, e.data["id"]))


@handles("conflict.resolved")
def _conflict_resolved(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE conflicts SET resolved_by=?, resolution=? WHERE id=?",
                 (e.actor, e.data["resolution"], e.data["conflict_id"]))


@handles("conflict.assigned")
def _conflict_assigned(conn: sqlite3.Connection, e: Event) -> None:
    """The latest assignment in fold order wins: reassigning is one more event."""
    conn.execute("INSERT INTO conflict_assignments VALUES (?,?,?,?,?,?) ON CONFLICT(conflict_id) DO UPDATE SET"
                 " aggregate=excluded.aggregate, assigned_to=excluded.assigned_to,"
                 " assigned_by=excluded.assigned_by, note=excluded.note, hlc=excluded.hlc",
                 (e.data["conflict_id"], e.aggregate, e.data["to"], e.actor, e.data.get("note"), e.hlc))


@handles("citizen.merge_decided")
def _merge_decided(conn: sqlite3.Connection, e: Event) -> None:
    """Accepted: the duplicate's cases and documents show under the kept record.
    Rejected (possibly after an acceptance made on another terminal): the latest
    decision in fold order wins, as in ``continuity.recovery``."""
    d = e.data
    if d["decision"] == "accepted":
        conn.execute("INSERT INTO citizen_merges VALUES (?,?,?,?,?) ON CONFLICT(duplicate) DO UPDATE SET"
                     " kept=excluded.kept, proposal=excluded.proposal, actor=excluded.actor, hlc=excluded.hlc",
                     (d["duplicate"], d["keep"], d["proposal"], e.actor, e.hlc))
    else:
        conn.execute("DELETE FROM citizen_merges WHERE duplicate=? AND kept=?", (d["duplicate"], d["keep"]))


# A citizen's id and those of every record merged into it (merges of merges
# too), for ``citizen_id IN (...)`` with the citizen's id as the parameter.
MERGED_UNDER = ("WITH RECURSIVE under(id) AS (SELECT ? UNION SELECT m.duplicate FROM citizen_merges m"
                " JOIN under ON m.kept = under.id) SELECT id FROM under")


# --- payments -------------------------------------------------------------

@handles("payment.taken")
@handles("payment.refunded")
def _payment(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    conn.execute(
        "INSERT INTO payments VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        (d["id"], d["case_id"], "refund" if e.type == "payment.refunded" else "payment", d.get("refund_of"),
         d["amount_cents"], d["method"], d.get("reason"), e.origin, d["receipt_seq"], d["receipt_number"],
         e.actor, e.hlc),
    )
    _register(conn, e, d["case_id"])


# --- queue ----------------------------------------------------------------

@handles("queue.ticket_issued")
def _ticket_issued(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    conn.execute(
        "INSERT INTO queue_tickets (id, day, family, origin, number, label, status, issued_hlc, ranged)"
        " VALUES (?,?,?,?,?,?,'waiting',?,?) ON CONFLICT DO NOTHING",
        (d["id"], d["day"], d["family"], e.origin, d["number"], d["label"], e.hlc, int(bool(d.get("ranged")))),
    )


@handles("queue.ticket_called")
def _ticket_called(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE queue_tickets SET status='called', called_hlc=?, called_by=?, desk=? WHERE id=?"
                 " AND status='waiting'", (e.hlc, e.actor, e.data.get("desk"), e.data["id"]))


@handles("queue.ticket_closed")
def _ticket_closed(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE queue_tickets SET status=? WHERE id=? AND status IN ('waiting','called')",
                 (e.data["outcome"], e.data["id"]))


# --- vault ----------------------------------------------------------------

@handles("vault.document_deposited")
def _vault_deposited(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    conn.execute(
        "INSERT INTO vault_documents (id, citizen_id, blob, key_check, digest, sha256, wrapped_key, media_type,"
        " size, name, kind, origin, hlc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        (d["id"], d["citizen_id"], d.get("blob"), d.get("key_check"), d.get("digest"), d.get("sha256"),
         d.get("wrapped_key"), d["media_type"], d["size"], d["name"], d["kind"], e.origin, e.hlc),
    )


@handles("vault.document_removed")
def _vault_removed(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE vault_documents SET removed_hlc=? WHERE id=? AND removed_hlc IS NULL", (e.hlc, e.data["id"]))


@handles("vault.document_erased")
def _vault_erased(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE vault_documents SET erased_hlc=?, erased_by=? WHERE id=? AND erased_hlc IS NULL",
                 (e.hlc, e.actor, e.data["id"]))


# --- agents ---------------------------------------------------------------

@handles("agent.enrolled")
def _agent_enrolled(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    conn.execute("INSERT INTO agents VALUES (?,?,?,?,1,?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
                 " role=excluded.role, pin_hash=excluded.pin_hash, active=1, hlc=excluded.hlc",
                 (d["id"], d["name"], d["role"], d.get("pin_hash"), e.hlc))


@handles("agent.disabled")
def _agent_disabled(conn: sqlite3.Connection, e: Event) -> None:
    conn.execute("UPDATE agents SET active=0, hlc=? WHERE id=?", (e.hlc, e.data["id"]))


# --- modes ----------------------------------------------------------------

@handles("mode.changed")
def _mode_changed(conn: sqlite3.Connection, e: Event) -> None:
    d = e.data
    order = d.get("order") or {}
    register = d.get("register") or {}
    tickets = d.get("tickets") or {}
    conn.execute("INSERT INTO modes VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(terminal) DO UPDATE SET"
                 " mode=excluded.mode, since_hlc=excluded.since_hlc, order_id=excluded.order_id,"
                 " reason=excluded.reason, actor=excluded.actor, register_first=excluded.register_first,"
                 " register_last=excluded.register_last, tickets_first=excluded.tickets_first,"
                 " tickets_last=excluded.tickets_last",
                 (e.origin, d["mode"], e.hlc, order.get("id"), d.get("reason"), e.actor, register.get("first"),
                  register.get("last"), tickets.get("first"), tickets.get("last")))
    if order.get("id"):
        conn.execute("INSERT INTO mode_orders VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                     (e.origin, order["id"], order.get("kind", ""), order.get("issued", ""), e.hlc))


def row_dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# --- kiosks ---------------------------------------------------------------

@handles("kiosk.maintenance_opened")
def _kiosk_maintenance_opened(conn: sqlite3.Connection, e: Event) -> None:
    """Journal only: the event itself is the record of who opened the kiosk;
    nothing in the current state changes."""
