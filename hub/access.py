"""A citizen's right of access (RGPD, article 15): everything the city holds
about one person, as one JSON document an agent can hand over.

It reads the projections with sqlite-utils (one ``rows_where`` per table, in
the tables' key order) and adds the journal's events about the person and
their cases, so the export also says who did what and when. Vault documents
are listed, not embedded: the citizen opens them with their card.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlite_utils

from .projections import loads

if TYPE_CHECKING:
    from .session import Session

FORMAT = "beffroi-access-export/1"


def export(session: "Session", citizen_id: str) -> dict[str, Any]:
    citizen = session.citizens.get(citizen_id)     # the role check, and NotFound for an unknown id
    db = sqlite_utils.Database(session.conn)
    cases = [_case(row) for row in db["cases"].rows_where("citizen_id = ?", [citizen_id], order_by="opened_hlc, id")]
    ids = [c["id"] for c in cases]
    marks = ", ".join("?" * len(ids))

    def of_cases(table: str, order: str) -> list[dict[str, Any]]:
        return list(db[table].rows_where(f"case_id IN ({marks})", ids, order_by=order)) if ids else []

    aggregates = [f"citizen:{citizen_id}", *(f"case:{i}" for i in ids)]
    events = [{**row, "data": loads(row["data"])} for row in db.query(
        f"SELECT origin, seq, hlc, actor, type, aggregate, data FROM events"
        f" WHERE aggregate IN ({', '.join('?' * len(aggregates))}) ORDER BY hlc, origin, seq", aggregates)]
    return {
        "format": FORMAT,
        "terminal": session.terminal.name,
        "city": session.terminal.city,
        "exported_by": session.principal.actor,
        "citizen": citizen,
        "cases": cases,
        "notes": of_cases("case_notes", "case_id, hlc"),
        "payments": of_cases("payments", "case_id, hlc"),
        "documents": list(db["vault_documents"].rows_where(
            "citizen_id = ?", [citizen_id], order_by="hlc, id",
            select="id, name, kind, media_type, size, hlc, removed_hlc")),
        "events": events,
    }


def _case(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "fields": loads(row["fields"])}
