"""The waiting queue: tickets per service family, numbered from 1 each day.

While isolated, a terminal with a ticket range (from the incident order or its
enrolment grant) numbers its tickets from that range instead: the kiosks of
one office cannot see each other's tickets then, and two "E001" called at the
same time would send two citizens to one desk. The number is read in the
ticket's own transaction, like the incident register's (``hub.mode``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from . import mode
from .errors import Invalid, NotFound
from .projections import row_dicts

if TYPE_CHECKING:
    from .session import Session

OUTCOMES = ("served", "no_show")


class Queue:
    def __init__(self, session: "Session") -> None:
        self.session = session

    def _family(self, family: str) -> str:
        if family not in self.session.catalog.families:
            raise Invalid(f"unknown service family {family!r}; one of {', '.join(self.session.catalog.families)}",
                          f"famille de démarches inconnue {family!r} ; l'une de {', '.join(self.session.catalog.families)}")
        return family

    def issue(self, family: str, day: dt.date | None = None) -> dict[str, Any]:
        who = self.session.principal
        who.require("queue.issue")
        family = self._family(family)
        day_text = (day or self.session.terminal.today()).isoformat()
        terminal = self.session.terminal
        with terminal.writing() as w:
            number = mode.ticket_number(terminal.conn, terminal.id)
            ranged = number is not None
            if number is None:
                # daily numbers; they go on after any ranged number of the day (one label, one ticket)
                number = terminal.conn.execute(
                    "SELECT coalesce(max(number), 0) + 1 FROM queue_tickets WHERE day=? AND family=? AND origin=?",
                    (day_text, family, terminal.id)).fetchone()[0]
            ticket_id = terminal.new_id()
            data: dict[str, Any] = {"id": ticket_id, "day": day_text, "family": family, "number": number,
                                    "label": f"{family}{number:03d}"}
            if ranged:
                data["ranged"] = True
            w.record(who, "queue.ticket_issued", f"ticket:{ticket_id}", data)
        return self.get(ticket_id)

    def get(self, ticket_id: str) -> dict[str, Any]:
        rows = row_dicts(self.session.conn.execute("SELECT * FROM queue_tickets WHERE id=?", (ticket_id,)))
        if not rows:
            raise NotFound(f"no ticket {ticket_id}", f"aucun ticket {ticket_id}")
        return rows[0]

    def ahead(self, ticket_id: str) -> int:
        """How many tickets of the same family wait before this one (printed on it)."""
        self.session.principal.require("queue.issue")
        ticket = self.get(ticket_id)
        count: int = self.session.conn.execute(
            "SELECT count(*) FROM queue_tickets WHERE day=? AND family=? AND status='waiting' AND issued_hlc < ?",
            (ticket["day"], ticket["family"], ticket["issued_hlc"])).fetchone()[0]
        return count

    def waiting(self, day: dt.date | None = None) -> list[dict[str, Any]]:
        self.session.principal.require("queue.call")
        return row_dicts(self.session.conn.execute(
            "SELECT * FROM queue_tickets WHERE day=? AND status='waiting' ORDER BY issued_hlc",
            ((day or self.session.terminal.today()).isoformat(),)))

    def counts(self, day: dt.date | None = None) -> dict[str, int]:
        """Tickets waiting per family, for the queue panel."""
        self.session.principal.require("queue.call")
        rows = self.session.conn.execute(
            "SELECT family, count(*) FROM queue_tickets WHERE day=? AND status='waiting' GROUP BY family",
            ((day or self.session.terminal.today()).isoformat(),))
        return dict(rows.fetchall())

    def call_next(self, families: list[str] | None = None, desk: str | None = None,
                  day: dt.date | None = None) -> dict[str, Any] | None:
        """Call the ticket that has waited longest (in the given families); None
        when nobody is waiting."""
        who = self.session.principal
        who.require("queue.call")
        families = [self._family(f) for f in families] if families else list(self.session.catalog.families)
        marks = ",".join("?" * len(families))
        with self.session.terminal.writing() as w:
            row = self.session.conn.execute(
                f"SELECT id FROM queue_tickets WHERE day=? AND status='waiting' AND family IN ({marks})"
                " ORDER BY issued_hlc LIMIT 1", ((day or self.session.terminal.today()).isoformat(), *families)).fetchone()
            if row is None:
                return None
            w.record(who, "queue.ticket_called", f"ticket:{row[0]}", {"id": row[0], "desk": desk})
        return self.get(row[0])

    def close(self, ticket_id: str, outcome: str) -> dict[str, Any]:
        who = self.session.principal
        who.require("queue.call")
        if outcome not in OUTCOMES:
            raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}", f"issue : l'une de {', '.join(OUTCOMES)}")
        ticket = self.get(ticket_id)
        if ticket["status"] not in ("waiting", "called"):
            raise Invalid(f"ticket {ticket['label']} is already {ticket['status']}",
                          f"le ticket {ticket['label']} est déjà {ticket['status']}")
        with self.session.terminal.writing() as w:
            w.record(who, "queue.ticket_closed", f"ticket:{ticket_id}", {"id": ticket_id, "outcome": outcome})
        return self.get(ticket_id)
