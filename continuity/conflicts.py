"""Conflicts after an incident, and who looks at each one.

Two kinds come out of recovery: a **case** moved on two terminals while they
were cut off (the hub's ``conflicts`` table: the first move in fold order won,
the other is kept here), and a **merge** proposal (the same person registered
twice, ``continuity.recovery.proposals``). Recovery only ends when every one
of them has a person: an agent (by agent id) or an office (``office:NAME``).
Assigning is an event (``conflict.assigned``, replicated and audited like any
other, the latest wins); resolving is ``conflict.resolved`` for a case and
the agent's decision (``citizen.merge_decided``) for a merge.

This module is the query API the counter, the ops console, ``beffroi
conflicts`` and the recovery report share: :func:`listing`, :func:`counts`,
:func:`get`, :func:`assign`, :func:`resolve`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from hub.errors import Invalid, NotFound
from hub.projections import row_dicts

from . import recovery

STATES = ("open", "assigned", "resolved")
_OFFICE = re.compile(r"^office:[\w .'-]{1,60}$")


@dataclass(frozen=True)
class Conflict:
    id: str
    kind: str                 # case (moved on two terminals) / merge (same person twice)
    subject: str              # the case's tracking code and service, or the person
    detail: str
    aggregate: str            # where its events go
    state: str                # open / assigned / resolved
    assigned_to: str | None
    assigned_by: str | None
    resolved_by: str | None
    resolution: str | None
    hlc: int
    wanted: tuple[str | None, str | None] | None = None   # a case: the move wanted (from, to)…
    found: str | None = None                             # …and the status it found
    cases: int = 0                                       # a merge: requests on the second record

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _assignments(conn) -> dict[str, dict[str, Any]]:
    return {r["conflict_id"]: r for r in row_dicts(conn.execute("SELECT * FROM conflict_assignments"))}


def _state(resolved: bool, assignment: dict[str, Any] | None) -> str:
    return "resolved" if resolved else "assigned" if assignment else "open"


def _all(conn) -> list[Conflict]:
    assigned = _assignments(conn)
    found = []
    for c in row_dicts(conn.execute(
            "SELECT k.*, c.tracking_code, c.service FROM conflicts k LEFT JOIN cases c ON c.id = k.case_id"
            " ORDER BY k.hlc, k.id")):
        a = assigned.get(c["id"])
        detail = (f"{c['wanted_from']} → {c['wanted_to']} wanted, the request was already {c['found']}"
                  if c["kind"] == "status" else c["detail"])
        found.append(Conflict(c["id"], "case", f"{c['tracking_code'] or c['case_id']} ({c['service'] or '?'})",
                              detail, f"case:{c['case_id']}", _state(c["resolved_by"] is not None, a),
                              a and a["assigned_to"], a and a["assigned_by"], c["resolved_by"], c["resolution"],
                              c["hlc"], (c["wanted_from"], c["wanted_to"]), c["found"]))
    for p in recovery.proposals(conn, include_decided=True):
        a = assigned.get(p.id)
        person = f"{p.keep['first_name']} {p.keep['last_name']} ({p.keep['birth_date']})"
        found.append(Conflict(p.id, "merge", person,
                              f"registered twice ({p.cases} request(s) on the second record)",
                              f"citizen:{p.duplicate['id']}", _state(p.decision is not None, a),
                              a and a["assigned_to"], a and a["assigned_by"], p.decided_by, p.decision,
                              p.duplicate["created_hlc"], cases=p.cases))
    return found


def listing(conn, state: str | None = None, assigned_to: str | list[str] | None = None) -> list[Conflict]:
    """Every conflict this terminal knows, oldest first; ``state`` one of
    :data:`STATES`; ``assigned_to`` one person or office, or several."""
    wanted = [assigned_to] if isinstance(assigned_to, str) else assigned_to
    return [c for c in _all(conn)
            if (state is None or c.state == state) and (wanted is None or c.assigned_to in wanted)]


def counts(conn) -> dict[str, int]:
    found = dict.fromkeys(STATES, 0)
    for c in _all(conn):
        found[c.state] += 1
    return found


def get(conn, conflict_id: str) -> Conflict:
    for c in _all(conn):
        if c.id == conflict_id:
            return c
    raise NotFound(f"no conflict {conflict_id}: `beffroi conflicts` lists them",
                   f"aucun conflit {conflict_id} : `beffroi conflicts` les liste", "unknown_conflict")


def for_agent(session) -> list[Conflict]:
    """What the signed-in agent has to look at: assigned to them or to their office."""
    office = session.terminal.config.get("office")
    mine = [session.principal.id] + ([f"office:{office}"] if office else [])
    return listing(session.conn, state="assigned", assigned_to=mine)


def _assignee(conn, to: str) -> str:
    to = (to or "").strip()
    if _OFFICE.match(to):
        return to
    row = conn.execute("SELECT id, active FROM agents WHERE id=? OR lower(name)=lower(?)", (to, to)).fetchall()
    if len(row) == 1 and row[0][1]:
        return row[0][0]
    if len(row) > 1:
        raise Invalid(f"{to!r} names several agents: give the agent's id",
                      f"{to!r} désigne plusieurs agents : donnez l'identifiant de l'agent", "ambiguous_agent")
    if row:
        raise Invalid(f"agent {to!r} is disabled: assign the conflict to an active agent or an office",
                      f"l'agent {to!r} est désactivé : confiez le conflit à un agent actif ou à un service",
                      "agent_disabled")
    raise Invalid(f"{to!r} is neither an enrolled agent (`beffroi agent list`) nor an office (office:NAME)",
                  f"{to!r} n'est ni un agent inscrit (`beffroi agent list`) ni un service (office:NOM)",
                  "unknown_assignee")


def assign(session, conflict_id: str, to: str, note: str | None = None) -> Conflict:
    """Give a conflict to an agent or an office (again: the latest assignment wins)."""
    session.principal.require("conflict.resolve")
    conflict = get(session.conn, conflict_id)
    if conflict.state == "resolved":
        raise Invalid(f"conflict {conflict_id} is already resolved by {conflict.resolved_by}: nothing to assign",
                      f"le conflit {conflict_id} est déjà résolu par {conflict.resolved_by} : rien à confier",
                      "already_resolved")
    who = _assignee(session.conn, to)
    data: dict[str, Any] = {"conflict_id": conflict.id, "to": who, "kind": conflict.kind}
    if note:
        data["note"] = _note(note)
    with session.terminal.writing() as w:
        w.record(session.principal, "conflict.assigned", conflict.aggregate, data)
    return get(session.conn, conflict_id)


def _note(note: str) -> str:
    note = (note or "").strip()
    if not note or len(note) > 500 or any(ord(c) < 32 for c in note):
        raise Invalid("the note must be one line of 1 to 500 characters",
                      "la note doit tenir sur une ligne de 1 à 500 caractères", "bad_note")
    return note


def resolve(session, conflict_id: str, note: str, merge: str | None = None) -> Conflict:
    """Close a conflict: a note for a case; for a merge, ``merge`` says
    ``accept`` (the same person) or ``reject`` (two people)."""
    session.principal.require("conflict.resolve")
    conflict = get(session.conn, conflict_id)
    if conflict.state == "resolved":
        raise Invalid(f"conflict {conflict_id} is already resolved by {conflict.resolved_by}",
                      f"le conflit {conflict_id} est déjà résolu par {conflict.resolved_by}", "already_resolved")
    note = _note(note)
    if conflict.kind == "merge":
        if merge not in ("accept", "reject"):
            raise Invalid("a merge proposal is resolved with --merge accept (the same person) or --merge reject"
                          " (two people)",
                          "une proposition de fusion se résout avec --merge accept (la même personne) ou"
                          " --merge reject (deux personnes)", "merge_decision_needed")
        recovery.decide(session, conflict_id, merge == "accept", note)
    else:
        if merge is not None:
            raise Invalid(f"conflict {conflict_id} is about a case, not a merge: leave out --merge",
                          f"le conflit {conflict_id} concerne un dossier, pas une fusion : retirez --merge",
                          "not_a_merge")
        session.cases.resolve_conflict(conflict_id, note)
    return get(session.conn, conflict_id)


def pending_people(conn) -> int:
    """Conflicts nobody has been given yet: recovery waits for them."""
    return counts(conn)["open"]
