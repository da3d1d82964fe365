"""Recovery after an incident: prove the journal, converge, show every conflict
to a person, drain the outbox, and write down what happened.

The steps, each timed for the report: verify every hash chain; exchange
segments with the SoR (and relays); surface conflicts — the same case moved
on two terminals (the hub's ``conflicts``) and **the same person registered
twice while offline** (a *merge proposal*: an agent accepts or rejects it, and
the decision is an event in the journal, replicated and audited like any
other; neither record is ever dropped); drain the outbox; write the
**recovery report** (JSON and PDF). The terminal returns to online when
nothing is left pending in its outbox (dead and waiting items are a person's
work, listed by `beffroi outbox dead`) and every conflict is assigned to an
agent or an office (``continuity.conflicts``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import Invalid, NotFound
from hub.projections import row_dicts
from hub.text import folded

from .outbox import Outbox

if TYPE_CHECKING:
    from hub.terminal import Terminal

    from .connectors import Connector

DECIDED = "citizen.merge_decided"


# --- merge proposals ---------------------------------------------------------

@dataclass(frozen=True)
class Proposal:
    id: str
    keep: dict[str, Any]          # the record registered first (fold order)
    duplicate: dict[str, Any]     # the same person, registered again
    cases: int                    # cases attached to the duplicate
    decision: str | None          # accepted / rejected / None (open)
    decided_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "keep": self.keep, "duplicate": self.duplicate, "cases": self.cases,
                "decision": self.decision, "decided_by": self.decided_by}


def _decisions(conn) -> dict[str, tuple[str, str]]:
    """The latest decision on each proposal, from the journal itself."""
    found: dict[str, tuple[str, str]] = {}
    for actor, data in conn.execute("SELECT actor, data FROM events WHERE type=? ORDER BY hlc, origin, seq",
                                    (DECIDED,)):
        d = json.loads(data)
        found[d["proposal"]] = (d["decision"], actor)
    return found


def proposals(conn, include_decided: bool = False) -> list[Proposal]:
    """People registered more than once (same name, accents and case aside,
    same birth date), as pairs of the first record and each later one."""
    rows = row_dicts(conn.execute(
        "SELECT id, first_name, last_name, birth_date, postcode, address, created_hlc FROM citizens"
        " WHERE birth_date IS NOT NULL AND birth_date IN"
        " (SELECT birth_date FROM citizens WHERE birth_date IS NOT NULL GROUP BY birth_date HAVING count(*) > 1)"
        " ORDER BY created_hlc, id"))
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        name = tuple(folded(f"{r['first_name']} {r['last_name']}").split())
        groups.setdefault((r["birth_date"], *name), []).append(r)
    decided = _decisions(conn)
    found = []
    for people in groups.values():
        keep = people[0]
        for dup in people[1:]:
            pid = f"{keep['id']}+{dup['id']}"
            decision, by = decided.get(pid, (None, None))
            if decision and not include_decided:
                continue
            cases = conn.execute("SELECT count(*) FROM cases WHERE citizen_id=?", (dup["id"],)).fetchone()[0]
            found.append(Proposal(pid, keep, dup, cases, decision, by))
    return found


def decide(session, proposal_id: str, accept: bool, note: str | None = None) -> Proposal:
    """Record an agent's decision on a merge proposal, as an event."""
    session.principal.require("conflict.resolve")
    match = [p for p in proposals(session.conn, include_decided=True) if p.id == proposal_id]
    if not match:
        raise NotFound(f"no merge proposal {proposal_id}", f"aucune proposition de fusion {proposal_id}",
                       "unknown_proposal")
    proposal = match[0]
    if proposal.decision:
        raise Invalid(f"this merge proposal was already {proposal.decision} by {proposal.decided_by}",
                      f"cette proposition de fusion a déjà été {'acceptée' if proposal.decision == 'accepted' else 'rejetée'}"
                      f" par {proposal.decided_by}", "already_decided")
    decision = "accepted" if accept else "rejected"
    with session.terminal.writing() as w:
        w.record(session.principal, DECIDED, f"citizen:{proposal.duplicate['id']}",
                 {"proposal": proposal.id, "keep": proposal.keep["id"], "duplicate": proposal.duplicate["id"],
                  "decision": decision, **({"note": note} if note else {})})
    return next(p for p in proposals(session.conn, include_decided=True) if p.id == proposal_id)


# --- the recovery run ------------------------------------------------------------

@dataclass
class Recovery:
    terminal: "Terminal"
    outbox: Outbox
    since_hlc: int = 0                      # the incident's start: acts after it were done offline
    clock: Callable[[], float] = time.perf_counter

    until_hlc: int | None = None            # the incident's end

    async def run(self, connectors: Mapping[str, "Connector"],
                  exchange: Callable[[], Awaitable[Any]] | None = None,
                  sleep: Callable[[float], Awaitable[Any]] | None = None,
                  drain_deadline_s: float | None = None, once: bool = False,
                  verify: bool = True) -> dict[str, Any]:
        """The steps, each timed. ``once``: delivery passes while they deliver,
        without waiting for backoffs (the ``sync --watch`` loop comes back); ``verify`` False when the
        chains were already proved since recovery began."""
        steps: dict[str, float] = {}

        def timed(name: str, start: float) -> None:
            steps[name] = round(self.clock() - start, 4)

        start = self.clock()
        problem = self.terminal.verify() if verify else None
        if problem is not None:
            raise Invalid(f"the journal is damaged ({problem}); restore this terminal before recovery",
                          f"le journal est endommagé ({problem}) ; restaurez ce terminal avant la reprise",
                          "damaged_journal")
        timed("verify", start)
        start = self.clock()
        if exchange is not None:
            await exchange()
        timed("exchange", start)
        start = self.clock()
        surfaced = {"conflicts": len(open_conflicts(self.terminal.conn)),
                    "merge_proposals": len(proposals(self.terminal.conn))}
        timed("conflicts", start)
        start = self.clock()
        kwargs: dict[str, Any] = {"deadline_s": drain_deadline_s}
        if sleep is not None:
            kwargs["sleep"] = sleep
        if once:   # pass after pass while they deliver; never waits for a backoff to run out
            while (await self.outbox.deliver(connectors)).sent and self.outbox.pending():
                pass
        else:
            await self.outbox.drain(connectors, **kwargs)
        timed("drain", start)
        return report(self.terminal, self.since_hlc, steps, surfaced, self.until_hlc)

    def drained(self) -> bool:
        return self.outbox.pending() == 0

    def finish(self) -> str:
        """Back to online once the outbox is drained (dead and waiting items are
        listed for a person) and every conflict is assigned to a person or an
        office (``continuity.conflicts``). Returns the mode the terminal is in
        after the call."""
        from hub.roles import Principal

        from . import conflicts, transitions
        mode = self.terminal.mode().name
        if mode == "recovery" and self.drained() and conflicts.pending_people(self.terminal.conn) == 0:
            transitions.recovered(self.terminal.session(Principal.system()),
                                  "recovery complete: outbox drained, every conflict assigned")
            mode = self.terminal.mode().name
        return mode


def open_conflicts(conn) -> list[dict[str, Any]]:
    return row_dicts(conn.execute("SELECT * FROM conflicts WHERE resolved_by IS NULL ORDER BY hlc"))


def report(terminal: "Terminal", since_hlc: int, steps: dict[str, float],
           surfaced: dict[str, int] | None = None, until_hlc: int | None = None) -> dict[str, Any]:
    """What one terminal did during the incident (events of its own between
    ``since_hlc`` and ``until_hlc``) and how it came back."""
    conn = terminal.conn
    window = (terminal.id, since_hlc, until_hlc if until_hlc is not None else 2**63 - 1)
    offline = conn.execute(
        "SELECT json_extract(data, '$.service') AS service, count(*) FROM events"
        " WHERE origin=? AND hlc>=? AND hlc<? AND type='case.opened' GROUP BY service ORDER BY service",
        window).fetchall()
    acts = conn.execute("SELECT count(*) FROM events WHERE origin=? AND hlc>=? AND hlc<?", window).fetchone()[0]
    outbox = {}
    for connector, state, n in conn.execute(
            "SELECT connector, state, count(*) FROM outbox WHERE origin=? GROUP BY connector, state ORDER BY 1, 2",
            (terminal.id,)):
        outbox.setdefault(connector, {})[state] = n
    totals = {state: sum(c.get(state, 0) for c in outbox.values()) for state in
              ("sent", "failed", "dead", "waiting", "queued", "sending")}
    from . import conflicts as people
    listed = people.listing(conn)
    all_proposals = proposals(conn, include_decided=True)
    receipts = conn.execute("SELECT min(receipt_number), max(receipt_number), count(*) FROM payments"
                            " WHERE origin=? AND hlc>=? AND hlc<?", window).fetchone()
    register = conn.execute("SELECT min(number), max(number), count(*) FROM register WHERE origin=?",
                            (terminal.id,)).fetchone()
    return {
        "terminal": {"id": terminal.id, "name": terminal.name},
        "since_hlc": since_hlc,
        "until_hlc": until_hlc,
        "offline_acts": acts,
        "offline_cases_by_service": dict(offline),
        "outbox": {"by_connector": outbox, "delivered": totals["sent"], "failed": totals["failed"],
                   "dead": totals["dead"], "waiting": totals["waiting"],
                   "pending": totals["queued"] + totals["sending"] + totals["failed"]},
        # both kinds (cases moved twice, merge proposals): nobody on it yet / assigned / resolved
        "conflicts": {**{state: sum(1 for c in listed if c.state == state) for state in people.STATES},
                      "surfaced_at_recovery": (surfaced or {}).get("conflicts"),
                      "items": [c.to_dict() for c in listed]},
        "merge_proposals": {"open": sum(1 for p in all_proposals if not p.decision),
                            "accepted": sum(1 for p in all_proposals if p.decision == "accepted"),
                            "rejected": sum(1 for p in all_proposals if p.decision == "rejected")},
        "receipts": {"first": receipts[0], "last": receipts[1], "count": receipts[2]},
        "register": {"first": register[0], "last": register[1], "count": register[2]},
        "mode": terminal.mode().name,
        "steps_s": steps,
        "state_hash": terminal.state_hash(),
        "footprint": _footprint(terminal, since_hlc),
    }


def _footprint(terminal: "Terminal", since_hlc: int) -> dict[str, Any]:
    """What the incident's days cost (hub.footprint, from the incident's first day)."""
    import datetime as dt

    from hub import footprint
    from hub.clock import millis
    day = dt.datetime.fromtimestamp(millis(since_hlc) / 1000, dt.UTC).date().isoformat() if since_hlc else None
    data = footprint.report(terminal.conn, footprint.Factors.load(terminal.home), day, terminal.pending)
    return {"since": day, "total": data["total"], "services": data["services"]}


# --- the PDF ---------------------------------------------------------------------

_LATIN1 = str.maketrans({"\u202f": " ", "\xa0": " ", "€": "EUR", "’": "'", "–": "-", "—": "-", "→": "->"})


def _text(value: Any) -> str:
    return str(value).translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def _footprint_lines(fp: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not fp:
        return []
    t = fp["total"]
    return [("Empreinte / footprint (depuis / since " + str(fp["since"] or "-") + ")",
             f"{t['events']} events, {t['journal_bytes']} B journal, {t['sent_bytes']} B SoR, "
             f"{t['cpu_seconds']:.3f} CPU s, {t['pages']} p., {t['g_co2e']:.3g} gCO2e")]


def write_pdf(reports: list[dict[str, Any]], path: Path, title: str = "Rapport de reprise / Recovery report") -> Path:
    """The recovery report on paper: one section per terminal."""
    from fpdf import FPDF
    pdf = FPDF()
    pdf.set_title(_text(title))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, _text(title), new_x="LMARGIN", new_y="NEXT")
    for r in reports:
        pdf.set_font("Helvetica", "B", 12)
        pdf.ln(3)
        pdf.cell(0, 7, _text(f"Terminal {r['terminal']['name']} ({r['terminal']['id']})"),
                 new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        lines = [("Actes hors ligne / offline acts", r["offline_acts"]),
                 *((f"  {service}", n) for service, n in r["offline_cases_by_service"].items()),
                 ("Envois livrés / items delivered", r["outbox"]["delivered"]),
                 ("En échec / failed", r["outbox"]["failed"]),
                 ("Abandonnés / dead", r["outbox"]["dead"]),
                 ("En attente d'une personne / waiting", r["outbox"]["waiting"]),
                 *((f"  {c}", ", ".join(f"{s} {n}" for s, n in states.items()))
                   for c, states in r["outbox"]["by_connector"].items()),
                 ("Conflits sans personne / open conflicts", r["conflicts"]["open"]),
                 ("Conflits confiés / assigned conflicts", r["conflicts"]["assigned"]),
                 ("Conflits résolus / resolved conflicts", r["conflicts"]["resolved"]),
                 *((f"  {c['kind']} {c['subject']}", f"{c['state']} {c['assigned_to'] or ''} {c['resolution'] or ''}")
                   for c in r["conflicts"].get("items", [])[:40]),
                 ("Fusions proposées / merge proposals open", r["merge_proposals"]["open"]),
                 ("Fusions acceptées / accepted", r["merge_proposals"]["accepted"]),
                 ("Fusions rejetées / rejected", r["merge_proposals"]["rejected"]),
                 ("Reçus / receipts", f"{r['receipts']['count']} ({r['receipts']['first']} - {r['receipts']['last']})"),
                 ("Registre d'incident / incident register",
                  f"{r['register']['count']} (n° {r['register']['first']} - {r['register']['last']})"),
                 ("Mode", r["mode"]),
                 *((f"Étape / step {name} (s)", f"{seconds:.3f}") for name, seconds in r["steps_s"].items()),
                 ("État / state hash", r["state_hash"]),
                 *_footprint_lines(r.get("footprint"))]
        for label, value in lines:
            pdf.cell(85, 6, _text(label))
            pdf.cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")
    path = Path(path)
    pdf.output(str(path))
    return path
