"""Citizens: register, edit, find. Search is SQLite FTS5 over folded text, so
"helene dupont" finds "Hélène Dupont". A record an agent merged into another
(the same person registered twice) is kept but no longer found: its cases
show under the record it was merged into."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from .catalog import parse_date
from .errors import FieldError, FormErrors, NotFound
from .projections import CITIZEN_FIELDS, row_dicts
from .text import folded, phone_digits

if TYPE_CHECKING:
    from .session import Session

_POSTCODE = re.compile(r"^\d{5}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COLUMNS = "id, first_name, last_name, birth_date, postcode, phone, address, email"


def clean_identity(raw: dict[str, Any], partial: bool = False, today: dt.date | None = None) -> dict[str, Any]:
    """Validated citizen fields; every problem reported at once."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for key in CITIZEN_FIELDS:
        if key not in raw:
            continue
        value = raw[key]
        value = value.strip() if isinstance(value, str) else value
        if value in (None, ""):
            if key in ("first_name", "last_name"):
                errors.append(FieldError(key, "is required", "est obligatoire"))
            else:
                out[key] = None
            continue
        if not isinstance(value, str):
            errors.append(FieldError(key, "must be text", "doit être du texte"))
            continue
        if any(ord(c) < 32 for c in value) or len(value) > 200:
            errors.append(FieldError(key, "must be one line of at most 200 characters",
                                     "doit tenir sur une ligne de 200 caractères au plus"))
            continue
        if key == "birth_date":
            day = parse_date(value)
            if day is None or day > (today or dt.date.today()) or day.year < 1880:
                errors.append(FieldError(key, "must be a past date as YYYY-MM-DD or DD/MM/YYYY",
                                         "doit être une date passée au format JJ/MM/AAAA ou AAAA-MM-JJ"))
                continue
            value = day.isoformat()
        elif key == "postcode" and not _POSTCODE.match(value):
            errors.append(FieldError(key, "must be 5 digits", "doit comporter 5 chiffres"))
            continue
        elif key == "phone":
            digits = phone_digits(value)
            if not 9 <= len(digits) <= 15:
                errors.append(FieldError(key, "must be a phone number (10 digits)",
                                         "doit être un numéro de téléphone (10 chiffres)"))
                continue
            value = digits
        elif key == "email" and not _EMAIL.match(value):
            errors.append(FieldError(key, "must be an e-mail address", "doit être une adresse e-mail"))
            continue
        out[key] = value
    if not partial:
        for key in ("first_name", "last_name", "birth_date"):
            if key not in raw:
                errors.append(FieldError(key, "is required", "est obligatoire"))
    if errors:
        raise FormErrors(errors)
    return out


def match_query(query: str) -> str | None:
    """An FTS5 MATCH expression for what an agent types: each word a prefix;
    dates in either French or ISO form; phone numbers with or without spaces."""
    text = query.strip()
    day = parse_date(text)
    if day is not None:
        return f'birth_date : "{day.isoformat()}"'
    compact = re.sub(r"[\s.+]", "", text)
    if compact.isdigit() and len(compact) >= 6:
        return f'phone : "{phone_digits(text)}"*'
    words = re.findall(r"\w+", folded(text))
    if not words:
        return None
    return " AND ".join(f'"{w}"*' for w in words[:8])


class Citizens:
    def __init__(self, session: "Session") -> None:
        self.session = session

    def register(self, **fields: Any) -> dict[str, Any]:
        """Register a citizen; the returned record carries ``duplicates``: people
        already known with the same name and birth date, for the agent to check."""
        self.session.principal.require("citizen.write")
        clean = clean_identity(fields, today=self.session.terminal.today())
        duplicates = self.possible_duplicates(clean)
        citizen = {"id": self.session.terminal.new_id(), **{k: clean.get(k) for k in CITIZEN_FIELDS}}
        with self.session.terminal.writing() as w:
            w.record(self.session.principal, "citizen.registered", f"citizen:{citizen['id']}", citizen)
        return {**citizen, "duplicates": duplicates}

    def possible_duplicates(self, clean: dict[str, Any]) -> list[dict[str, Any]]:
        if not clean.get("birth_date"):
            return []
        rows = row_dicts(self.session.conn.execute(
            f"SELECT {_COLUMNS} FROM citizens WHERE birth_date=?", (clean["birth_date"],)))
        name = folded(f"{clean['first_name']} {clean['last_name']}").split()
        return [r for r in rows if folded(f"{r['first_name']} {r['last_name']}").split() == name]

    def edit(self, citizen_id: str, **changes: Any) -> dict[str, Any]:
        self.session.principal.require("citizen.write")
        current = self.get(citizen_id)
        clean = clean_identity(changes, partial=True, today=self.session.terminal.today())
        changed = {k: v for k, v in clean.items() if current.get(k) != v}
        if changed:
            with self.session.terminal.writing() as w:
                w.record(self.session.principal, "citizen.edited", f"citizen:{citizen_id}",
                         {"id": citizen_id, "changes": changed})
        return self.get(citizen_id)

    def get(self, citizen_id: str) -> dict[str, Any]:
        self.session.principal.require("citizen.read", citizen_id=citizen_id)
        rows = row_dicts(self.session.conn.execute(
            f"SELECT {_COLUMNS}, (SELECT kept FROM citizen_merges WHERE duplicate=id) AS merged_into"
            " FROM citizens WHERE id=?", (citizen_id,)))
        if not rows:
            raise NotFound(f"no citizen {citizen_id}", f"aucun citoyen {citizen_id}", "unknown_citizen")
        return rows[0]

    def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        self.session.principal.require("citizen.read")
        expression = match_query(query)
        if expression is None:
            return []
        cursor = self.session.conn.execute(
            f"SELECT {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))} FROM citizens_fts"
            " JOIN citizens c ON c.rid = citizens_fts.rowid"
            " WHERE citizens_fts MATCH ? AND c.id NOT IN (SELECT duplicate FROM citizen_merges)"
            " ORDER BY rank LIMIT ?", (expression, limit))
        return row_dicts(cursor)

    def count(self) -> int:
        self.session.principal.require("citizen.read")
        return int(self.session.conn.execute("SELECT count(*) FROM citizens").fetchone()[0])
