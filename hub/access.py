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

from .projections import MERGED_UNDER, loads

if TYPE_CHECKING:
    from .session import Session

FORMAT = "beffroi-access-export/1"


def export(session: "Session", citizen_id: str) -> dict[str, Any]:
    citizen = session.citizens.get(citizen_id)     # the role check, and NotFound for an unknown id
    db = sqlite_utils.Database(session.conn)
    # The records merged into this one are the same person: their requests and documents too.
    records = [row[0] for row in session.conn.execute(MERGED_UNDER, (citizen_id,))]
    owners = f"citizen_id IN ({', '.join('?' * len(records))})"
    cases = [_case(row) for row in db["cases"].rows_where(owners, records, order_by="opened_hlc, id")]
    ids = [c["id"] for c in cases]
    marks = ", ".join("?" * len(ids))

    def of_cases(table: str, order: str) -> list[dict[str, Any]]:
        return list(db[table].rows_where(f"case_id IN ({marks})", ids, order_by=order)) if ids else []

    aggregates = [*(f"citizen:{r}" for r in records), *(f"case:{i}" for i in ids)]
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
            owners, records, order_by="hlc, id",
            select="id, name, kind, media_type, size, hlc, removed_hlc")),
        "events": events,
    }


def _case(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "fields": loads(row["fields"])}
