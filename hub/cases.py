"""Cases (démarches): opened from a service, moved along its workflow, followed
by a tracking code that the citizen can check at a kiosk."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import ids, mode
from .errors import Forbidden, Invalid, NotFound
from .projections import MERGED_UNDER, loads, row_dicts

if TYPE_CHECKING:
    from .roles import Principal
    from .session import Session

LOOKUP_LIMIT = 5          # wrong tracking-code checks a kiosk may make…
LOOKUP_WINDOW = 300.0     # …within this many seconds before it is locked out

_COLUMNS = ("id, service, citizen_id, status, fields, tracking_code, verify_kind, verify_value, assigned_to,"
            " origin, opened_by, opened_hlc, updated_hlc, deferred")


class LookupLocked(Forbidden):
    code = "locked"


def _verification_for(citizen: dict[str, Any] | None, random_bytes: Callable[[int], bytes]) -> tuple[str, str]:
    """The second field a citizen gives with the tracking code: their birth year
    if known, else their postcode, else a 4-digit code printed on the receipt."""
    if citizen and citizen.get("birth_date"):
        return "birth_year", citizen["birth_date"][:4]
    if citizen and citizen.get("postcode"):
        return "postcode", citizen["postcode"]
    return "pin", f"{int.from_bytes(random_bytes(4), 'big') % 10000:04d}"


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["fields"] = loads(row["fields"])
    return row


class Cases:
    def __init__(self, session: "Session") -> None:
        self.session = session

    @property
    def _who(self) -> Principal:
        return self.session.principal

    def open(self, service_code: str, citizen_id: str | None, fields: dict[str, Any],
             contact: dict[str, Any] | None = None) -> dict[str, Any]:
        """Open a case. Agents open any service for a registered citizen; a kiosk
        opens only kiosk services, without reaching any citizen record."""
        who = self._who
        who.require("case.open" if who.role == "kiosk" else "case.write")
        service = self.session.catalog.get(service_code)
        citizen = None
        if who.role == "kiosk":
            if not service.kiosk:
                raise Forbidden(f"{service_code} cannot be filed at a kiosk; please see an agent",
                                f"la démarche {service_code} ne peut pas être faite à la borne ; adressez-vous à un agent")
            if citizen_id is not None:
                raise Forbidden("a kiosk cannot attach a request to a citizen record",
                                "une borne ne peut pas rattacher une demande à un dossier citoyen")
        elif citizen_id is not None:
            citizen = self.session.citizens.get(citizen_id)
        else:
            raise Invalid("a case needs a citizen: register or find one first",
                          "une demande doit être rattachée à un citoyen : enregistrez-le ou recherchez-le d'abord")
        terminal = self.session.terminal
        marks = mode.check_policy(self.session.conn, terminal.id, service)
        clean = service.clean(fields, terminal.today())
        kind, value = _verification_for(citizen, terminal.entropy.bytes)
        case_id = terminal.new_id()
        data: dict[str, Any] = {
            "id": case_id, "service": service.code, "citizen_id": citizen_id, "status": service.initial,
            "fields": clean, "tracking_code": terminal.new_tracking_code(), "verify_kind": kind, "verify_value": value,
        }
        data.update(marks)
        if contact:
            data["contact"] = {k: str(v)[:200] for k, v in contact.items() if v}
        with self.session.terminal.writing() as w:
            w.record(who, "case.opened", f"case:{data['id']}", data)
        if who.role == "kiosk":
            self.session.narrow(case_id=case_id)
        return self.get(case_id)

    def _row(self, key: str) -> dict[str, Any]:
        code = ids.normalize_tracking_code(key) if len(key) != 26 else None
        column, value = ("tracking_code", code) if code else ("id", key)
        rows = row_dicts(self.session.conn.execute(f"SELECT {_COLUMNS} FROM cases WHERE {column}=?", (value,)))
        if not rows:
            raise NotFound(f"no case {key}", f"aucune demande {key}", "unknown_case")
        return _decode(rows[0])

    def get(self, key: str) -> dict[str, Any]:
        """A case by id or tracking code, with its timeline, notes and payments."""
        with self.probe(key):
            case = self._row(key)
            self._who.require("case.read", case_id=case["id"], citizen_id=case["citizen_id"])
        service = self.session.catalog.get(case["service"])
        case["allowed"] = list(service.transitions.get(case["status"], ()))
        case["timeline"] = self.timeline(case["id"])
        case["notes"] = row_dicts(self.session.conn.execute(
            "SELECT id, text, author, hlc FROM case_notes WHERE case_id=? ORDER BY hlc", (case["id"],)))
        case["documents"] = row_dicts(self.session.conn.execute(
            "SELECT document_id, requirement FROM case_documents WHERE case_id=? ORDER BY hlc", (case["id"],)))
        case["payments"] = row_dicts(self.session.conn.execute(
            "SELECT id, kind, amount_cents, method, receipt_number, refund_of, hlc FROM payments"
            " WHERE case_id=? ORDER BY hlc", (case["id"],)))
        case["fee_cents"] = service.fee_cents(case["fields"])
        case["paid_cents"] = sum(p["amount_cents"] * (1 if p["kind"] == "payment" else -1) for p in case["payments"])
        return case

    @contextmanager
    def probe(self, key: str) -> Iterator[None]:
        """A kiosk learns nothing from a record it may not see: "not yours" and
        "does not exist" get the same answer, each counts as a wrong lookup,
        and a locked kiosk is refused before anything is looked up."""
        if self._who.role != "kiosk":
            yield
            return
        terminal, subject = self.session.terminal, f"lookup:{self._who.actor}"
        now = terminal.now()
        if terminal.failures(subject, now - LOOKUP_WINDOW) >= LOOKUP_LIMIT:
            raise LookupLocked("too many wrong codes: this kiosk refuses lookups for 5 minutes",
                               "trop de codes erronés : cette borne refuse les consultations pendant 5 minutes")
        try:
            yield
        except (NotFound, Forbidden):
            terminal.record_failure(subject, now)
            raise NotFound(f"no record {key} that this kiosk may show", f"aucun dossier {key} que cette borne puisse afficher",
                           "not_found") from None

    def timeline(self, case_id: str) -> list[dict[str, Any]]:
        """Every event of the case, from the journal itself."""
        rows = self.session.conn.execute(
            "SELECT hlc, origin, seq, actor, type, data FROM events WHERE aggregate=? ORDER BY hlc, origin, seq",
            (f"case:{case_id}",))
        return [{"hlc": h, "origin": o, "seq": s, "actor": a, "type": t, "data": json.loads(d)}
                for h, o, s, a, t, d in rows]

    def for_citizen(self, citizen_id: str) -> list[dict[str, Any]]:
        self._who.require("case.read", citizen_id=citizen_id)
        rows = row_dicts(self.session.conn.execute(
            f"SELECT {_COLUMNS} FROM cases WHERE citizen_id IN ({MERGED_UNDER}) ORDER BY opened_hlc DESC",
            (citizen_id,)))
        return [_decode(r) for r in rows]

    def move(self, key: str, target: str, reason: str | None = None) -> dict[str, Any]:
        """Move a case along its workflow; the event keeps the status it left so
        that concurrent moves on other terminals become visible conflicts."""
        self._who.require("case.write")
        case = self._row(key)
        service = self.session.catalog.get(case["service"])
        if not service.can_move(case["status"], target):
            allowed = ", ".join(service.transitions.get(case["status"], ())) or "none (final status)"
            raise Invalid(f"cannot move from {case['status']} to {target}; allowed: {allowed}",
                          f"passage de {case['status']} à {target} impossible ; autorisés : {allowed}",
                          "forbidden_move")
        data = {"id": case["id"], "from": case["status"], "to": target}
        if reason:
            data["reason"] = str(reason)[:500]
        with self.session.terminal.writing() as w:
            w.record(self._who, "case.status_changed", f"case:{case['id']}", data)
        return self.get(case["id"])

    def assign(self, key: str, agent_id: str) -> dict[str, Any]:
        self._who.require("case.write")
        case = self._row(key)
        with self.session.terminal.writing() as w:
            w.record(self._who, "case.assigned", f"case:{case['id']}", {"id": case["id"], "agent": agent_id})
        return self.get(case["id"])

    def note(self, key: str, text: str) -> dict[str, Any]:
        self._who.require("case.write")
        text = (text or "").strip()
        if not text or len(text) > 4000:
            raise Invalid("a note needs 1 to 4000 characters", "une note doit compter de 1 à 4000 caractères")
        case = self._row(key)
        with self.session.terminal.writing() as w:
            w.record(self._who, "case.noted", f"case:{case['id']}",
                     {"id": case["id"], "note_id": self.session.terminal.new_id(), "text": text})
        return self.get(case["id"])

    def attach(self, key: str, document_id: str, requirement: str | None = None) -> dict[str, Any]:
        """Attach a vault document to the case, optionally as one of the service's
        required documents."""
        self._who.require("case.write")
        case = self._row(key)
        document = self.session.vault.get(document_id)
        if document["citizen_id"] != case["citizen_id"]:
            raise Forbidden("this document belongs to another citizen", "ce document appartient à un autre citoyen")
        service = self.session.catalog.get(case["service"])
        if requirement is not None and requirement not in {d["code"] for d in service.documents}:
            raise Invalid(f"{requirement} is not a required document of {service.code}",
                          f"{requirement} n'est pas une pièce demandée pour {service.code}")
        with self.session.terminal.writing() as w:
            w.record(self._who, "case.document_attached", f"case:{case['id']}",
                     {"id": case["id"], "document_id": document_id, "requirement": requirement})
        return self.get(case["id"])

    def check(self, code: str, verification: str, now: float | None = None) -> dict[str, Any]:
        """A citizen checks a case with its tracking code and verification field.

        Wrong answers are counted per principal; after five in five minutes the
        lookups are refused until the window passes. On success a kiosk session
        gains reach over that one case, and the citizen sees its public view.
        """
        now = self.session.terminal.now() if now is None else now
        subject = f"lookup:{self._who.actor}"
        terminal = self.session.terminal
        recent = terminal.failures(subject, now - LOOKUP_WINDOW)
        if recent >= LOOKUP_LIMIT:
            raise LookupLocked("too many wrong codes: this kiosk refuses lookups for 5 minutes",
                               "trop de codes erronés : cette borne refuse les consultations pendant 5 minutes")
        normalized = ids.normalize_tracking_code(code or "")
        row = None
        if normalized:
            row = self.session.conn.execute(
                "SELECT id, verify_value FROM cases WHERE tracking_code=?", (normalized,)).fetchone()
        answer = (verification or "").strip().upper()
        if row is None or not hmac.compare_digest(row[1].upper().encode(), answer.encode()):
            terminal.record_failure(subject, now)
            left = LOOKUP_LIMIT - recent - 1
            raise NotFound(f"no request matches this code and verification ({left} tries left)",
                           f"aucune demande ne correspond à ce code et à cette vérification ({left} essais restants)",
                           "no_match")
        terminal.clear_failures(subject)
        self.session.narrow(case_id=row[0])
        return self.public_view(row[0])

    def public_view(self, case_id: str) -> dict[str, Any]:
        """What a citizen may see of their case: no notes, no other person's data."""
        case = self.get(case_id)
        catalog = self.session.catalog
        steps = [{"hlc": e["hlc"], "status": e["data"].get("to") or e["data"].get("status")}
                 for e in case["timeline"] if e["type"] in ("case.opened", "case.status_changed")]
        return {
            "id": case["id"], "tracking_code": case["tracking_code"], "service": case["service"],
            "service_names": catalog.get(case["service"]).names, "status": case["status"],
            "status_names": catalog.statuses.get(case["status"], {}), "opened_hlc": case["opened_hlc"],
            "steps": steps,
        }

    # --- conflicts ---------------------------------------------------------

    def conflicts(self, include_resolved: bool = False) -> list[dict[str, Any]]:
        self._who.require("conflict.resolve")
        sql = "SELECT * FROM conflicts" + ("" if include_resolved else " WHERE resolved_by IS NULL") + " ORDER BY hlc"
        return row_dicts(self.session.conn.execute(sql))

    def resolve_conflict(self, conflict_id: str, resolution: str) -> None:
        self._who.require("conflict.resolve")
        row = self.session.conn.execute("SELECT case_id FROM conflicts WHERE id=?", (conflict_id,)).fetchone()
        if row is None:
            raise NotFound(f"no conflict {conflict_id}", f"aucun conflit {conflict_id}")
        with self.session.terminal.writing() as w:
            w.record(self._who, "conflict.resolved", f"case:{row[0]}",
                     {"conflict_id": conflict_id, "resolution": str(resolution)[:500]})

    def count(self) -> int:
        return int(self.session.conn.execute("SELECT count(*) FROM cases").fetchone()[0])
