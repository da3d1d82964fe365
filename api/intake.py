"""The Open311 intake: reports accepted with a token, turned into cases later.

GeoReport v2 lets a server answer ``POST requests`` with a token instead of a
service_request_id, and give the id later through ``GET tokens/{token}``. The
hub uses it when it runs in *batch* mode (the mode for an isolated hub, where a
report must be taken at once and filed when the terminal gets to it): the
report is validated, stored durably here, answered with a token, and a drain
loop opens the case through the hub like any other. The intake is local to the
terminal (not replicated): until drained, a report is this terminal's promise.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from hub import ids
from hub.roles import Principal

SCHEMA = """
CREATE TABLE IF NOT EXISTS open311_intake (
    token TEXT PRIMARY KEY, received REAL NOT NULL, actor_id TEXT NOT NULL, service TEXT NOT NULL,
    fields TEXT NOT NULL, contact TEXT NOT NULL, case_id TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS open311_intake_pending ON open311_intake (received) WHERE case_id IS NULL AND error IS NULL;
"""

DRAIN_LIMIT = 500


def ensure(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def accept(terminal, principal: Principal, service: str, fields: dict[str, Any], contact: dict[str, Any]) -> str:
    """Store one validated report; returns its token. Runs inside a group commit."""
    token = ids.ulid()
    with terminal.writing():
        terminal.conn.execute("INSERT INTO open311_intake VALUES (?,?,?,?,?,?,NULL,NULL)",
                              (token, time.time(), principal.id, service, json.dumps(fields), json.dumps(contact)))
    return token


def pending(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM open311_intake WHERE case_id IS NULL AND error IS NULL").fetchone()[0]


def drain(terminal) -> int:
    """Open a case for each pending report, oldest first; a report the hub
    refuses keeps its reason, visible through its token, and never blocks the
    ones after it. Runs inside a group commit; returns how many were handled."""
    rows = terminal.conn.execute(
        "SELECT token, actor_id, service, fields, contact FROM open311_intake WHERE case_id IS NULL AND error IS NULL"
        " ORDER BY received LIMIT ?", (DRAIN_LIMIT,)).fetchall()
    for token, actor_id, service, fields, contact in rows:
        session = terminal.session(Principal.kiosk(actor_id))
        try:
            with terminal.writing():
                case = session.cases.open(service, None, json.loads(fields), contact=json.loads(contact))
                terminal.conn.execute("UPDATE open311_intake SET case_id=? WHERE token=?", (case["id"], token))
        except Exception as exc:  # noqa: BLE001 — recorded, shown through the token
            terminal.conn.execute("UPDATE open311_intake SET error=? WHERE token=?", (str(exc)[:500], token))
    return len(rows)


def lookup(conn: sqlite3.Connection, token: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT token, case_id, error FROM open311_intake WHERE token=?", (token,)).fetchone()
    if row is None:
        return None
    return {"token": row[0], "service_request_id": row[1], "error": row[2]}
