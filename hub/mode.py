"""The terminal's mode — online, degraded, isolated, recovery — as hub state.

The mode is not a setting a screen reads: it is folded from ``mode.changed``
events of the journal, so an incident's timeline (who, when, why, which
order) is audited and replicated like any act. Each terminal records its own
mode events and the projection is keyed by the event's origin: a mode event of
terminal A, replicated to B, shows A's mode at B and never changes B's.

Because the hub owns the mode, the catalog's continuity policy is enforced
here, at every door (CLI, API, Open311, counter, kiosk) by ``Cases.open``, and
every act done while isolated gets its number in the incident register from
the range the incident order gave this terminal, and every queue ticket its
number from the terminal's ticket range (two kiosks of one office, cut off
from each other, must not both call "E001"). Orders themselves (signed
documents, transitions, degraded detection) are ``continuity``'s business: it
calls :meth:`Modes.change`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import HubError, Invalid

if TYPE_CHECKING:
    from .session import Session

MODES = ("online", "degraded", "isolated", "recovery")

# Acts written to the incident register while isolated: what the paper
# register of a city under attack listed, one numbered line each.
REGISTER_ACTS = ("case.opened", "payment.taken", "payment.refunded")

# Without a range from an order (an ops agent isolated one terminal by card),
# numbers are local: unique because the register line also names the terminal.
LOCAL_RANGE = (1, 999_999)
MAX_RANGE = 10_000_000


def parse_span(text: str, option: str) -> list[int]:
    """``FIRST-LAST`` (CLI form of a range: orders, enrolment grants) → ``[first, last]``."""
    first, dash, last = text.partition("-")
    try:
        numbers = [int(first), int(last)]
    except ValueError:
        numbers = []
    if not dash or not numbers or not 0 < numbers[0] <= numbers[1] <= MAX_RANGE:
        raise Invalid(f"{option} takes FIRST-LAST with 1 ≤ FIRST ≤ LAST ≤ {MAX_RANGE}, got {text!r}",
                      f"{option} attend PREMIER-DERNIER avec 1 ≤ PREMIER ≤ DERNIER ≤ {MAX_RANGE}, reçu {text!r}")
    return numbers


class ServiceUnavailable(HubError):
    """The continuity policy refuses this service in the current mode."""

    code = "unavailable_in_mode"


class RangeExhausted(HubError):
    """The terminal used every register number its order gave it."""

    code = "register_range_exhausted"


class TicketRangeExhausted(HubError):
    """The terminal handed out every queue-ticket number of its range."""

    code = "ticket_range_exhausted"


def _left(first: int | None, last: int | None, next_: int | None) -> int | None:
    return None if first is None or last is None or next_ is None else max(0, last - next_ + 1)


def _low(first: int | None, last: int | None, next_: int | None) -> bool:
    """Few numbers left (5 %, or 10): the agent is warned before the range runs out."""
    left = _left(first, last, next_)
    if left is None or first is None or last is None:
        return False
    return left <= max(10, (last - first + 1) // 20)


@dataclass(frozen=True)
class Mode:
    name: str = "online"
    since_hlc: int | None = None
    order_id: str | None = None
    reason: str | None = None
    actor: str | None = None
    register_first: int | None = None
    register_last: int | None = None
    register_next: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tickets_first: int | None = None
    tickets_last: int | None = None
    tickets_next: int | None = None

    @property
    def since(self) -> float | None:
        """Seconds since the epoch (the HLC's wall-clock part)."""
        from .clock import millis
        return None if self.since_hlc is None else millis(self.since_hlc) / 1000

    @property
    def register_left(self) -> int | None:
        if self.name != "isolated" or self.register_last is None or self.register_next is None:
            return None
        return max(0, self.register_last - self.register_next + 1)

    @property
    def register_low(self) -> bool:
        """Few numbers left: the agent is warned before the range runs out."""
        return self.register_left is not None and _low(self.register_first, self.register_last, self.register_next)

    @property
    def tickets_left(self) -> int | None:
        """Queue-ticket numbers left in the range (None: no range in use, daily numbers)."""
        if self.name != "isolated":
            return None
        return _left(self.tickets_first, self.tickets_last, self.tickets_next)

    @property
    def tickets_low(self) -> bool:
        return self.tickets_left is not None and _low(self.tickets_first, self.tickets_last, self.tickets_next)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.name, "since": self.since, "since_hlc": self.since_hlc, "order": self.order_id,
                "reason": self.reason, "by": self.actor,
                "register": None if self.register_first is None else {
                    "first": self.register_first, "last": self.register_last, "next": self.register_next,
                    "left": self.register_left, "low": self.register_low},
                "tickets": None if self.tickets_first is None or self.name != "isolated" else {
                    "first": self.tickets_first, "last": self.tickets_last, "next": self.tickets_next,
                    "left": self.tickets_left, "low": self.tickets_low}}


def current(conn: sqlite3.Connection, terminal_id: str) -> Mode:
    row = conn.execute("SELECT mode, since_hlc, order_id, reason, actor, register_first, register_last,"
                       " tickets_first, tickets_last FROM modes WHERE terminal=?", (terminal_id,)).fetchone()
    if row is None:
        return Mode()
    name, since_hlc, order_id, reason, actor, first, last, t_first, t_last = row
    if name != "isolated":
        return Mode(name, since_hlc, order_id, reason, actor, first, last)
    if first is None or last is None:
        first, last = LOCAL_RANGE
    t_next = None if t_first is None else _next_ticket(conn, terminal_id, t_first, t_last)
    return Mode(name, since_hlc, order_id, reason, actor, first, last, _next_number(conn, terminal_id, first, last),
                tickets_first=t_first, tickets_last=t_last, tickets_next=t_next)


def _next_ticket(conn: sqlite3.Connection, terminal_id: str, first: int, last: int) -> int:
    # any ticket of ours in the range counts, daily ones too: a number this
    # terminal printed today is never printed again under the same letter
    used = conn.execute("SELECT max(number) FROM queue_tickets WHERE origin=? AND number BETWEEN ? AND ?",
                        (terminal_id, first, last)).fetchone()[0]
    return first if used is None else used + 1


def ticket_number(conn: sqlite3.Connection, terminal_id: str) -> int | None:
    """The next queue-ticket number of this terminal's range while isolated,
    read in the ticket's own transaction; None when the daily numbering applies
    (online, or isolated without a ticket range). Refuses when the range is used up."""
    mode = current(conn, terminal_id)
    if mode.tickets_next is None or mode.tickets_last is None:
        return None
    if mode.tickets_next > mode.tickets_last:
        raise TicketRangeExhausted(
            f"this terminal handed out every queue-ticket number it was given ({mode.tickets_first}–"
            f"{mode.tickets_last}): no ticket can be printed without reusing a number. Ask an agent at the "
            f"counter, or IT for an incident order with a new ticket range",
            f"ce terminal a distribué tous les numéros de ticket qui lui ont été attribués ({mode.tickets_first}–"
            f"{mode.tickets_last}) : aucun ticket ne peut être imprimé sans réutiliser un numéro. Adressez-vous "
            f"à un agent au guichet ; l'informatique doit fournir un ordre d'incident avec une nouvelle plage")
    return mode.tickets_next


def _next_number(conn: sqlite3.Connection, terminal_id: str, first: int, last: int) -> int:
    used = conn.execute("SELECT max(number) FROM register WHERE origin=? AND number BETWEEN ? AND ?",
                        (terminal_id, first, last)).fetchone()[0]
    return first if used is None else used + 1


def stamp(conn: sqlite3.Connection, terminal_id: str, type: str, data: dict[str, Any]) -> None:
    """Give an act done while isolated its register number, inside the act's
    own transaction: the number and the act commit together or not at all."""
    if type not in REGISTER_ACTS:
        return
    mode = current(conn, terminal_id)
    if mode.name != "isolated" or mode.register_next is None or mode.register_last is None:
        return
    if mode.register_next > mode.register_last:
        raise RangeExhausted(
            f"this terminal used every incident-register number it was given ({mode.register_first}–"
            f"{mode.register_last}); ask IT for an incident order with a new range — no number is ever reused",
            f"ce terminal a utilisé tous les numéros du registre d'incident qui lui ont été attribués "
            f"({mode.register_first}–{mode.register_last}) ; demandez à l'informatique un ordre d'incident avec "
            f"une nouvelle plage — aucun numéro n'est jamais réutilisé")
    data["register"] = mode.register_next
    data["register_order"] = mode.order_id


def check_policy(conn: sqlite3.Connection, terminal_id: str, service: Any) -> dict[str, Any]:
    """What the continuity policy says about opening ``service`` now: raises
    for an ``unavailable`` service while isolated; marks a ``deferred`` one."""
    mode = current(conn, terminal_id)
    if mode.name != "isolated":
        return {}
    if service.policy == "unavailable":
        raise ServiceUnavailable(
            f"“{service.names.get('en', service.code)}” is unavailable while the city's systems are cut off "
            f"(isolated mode): it needs a system that cannot be reached. Ask the citizen to come back after "
            f"the incident, or note their request on paper",
            f"« {service.names.get('fr', service.code)} » est indisponible tant que les systèmes de la ville sont "
            f"coupés (mode isolé) : elle passe par un système injoignable. Proposez au citoyen de revenir après "
            f"l'incident, ou notez sa demande sur papier")
    if service.policy == "deferred":
        # accepted now, finalised by the back office once the incident ends
        return {"deferred": True}
    return {}


class Modes:
    """The session's door to the mode: reading it, and recording a change
    (continuity decides which changes are allowed and why)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self) -> Mode:
        terminal = self.session.terminal
        return current(terminal.conn, terminal.id)

    def change(self, to: str, reason: str, *, order: dict[str, Any] | None = None,
               register: tuple[int, int] | None = None, tickets: tuple[int, int] | None = None,
               local: bool = False) -> Mode:
        """Record this terminal's move to mode ``to``. ``order`` is the summary of
        the incident order applied (id, kind, issued, by, scope); ``register``
        and ``tickets`` the ranges of incident-register and queue-ticket numbers
        this terminal uses while isolated (from the order, or its enrolment grant)."""
        who = self.session.principal
        who.require("terminal.admin")
        if to not in MODES:
            raise Invalid(f"mode must be one of {', '.join(MODES)}", f"le mode doit être l'un de {', '.join(MODES)}")
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("a mode change needs a reason", "un changement de mode doit être motivé")
        terminal = self.session.terminal
        data: dict[str, Any] = {"terminal": terminal.id, "mode": to, "reason": reason[:500], "local": bool(local)}
        if order is not None:
            data["order"] = order
        for key, span in (("register", register), ("tickets", tickets)):
            if span is None:
                continue
            first, last = span
            if type(first) is not int or type(last) is not int or not 0 < first <= last:
                raise Invalid(f"a {key} range is two whole numbers, first ≤ last, from 1",
                              f"une plage ({key}) est deux nombres entiers, premier ≤ dernier, à partir de 1")
            data[key] = {"first": first, "last": last}
        with terminal.writing() as w:
            data["from"] = current(terminal.conn, terminal.id).name
            w.record(who, "mode.changed", f"mode:{terminal.id}", data)
        return self.current()

    def applied(self, order_id: str) -> bool:
        terminal = self.session.terminal
        return terminal.conn.execute("SELECT 1 FROM mode_orders WHERE terminal=? AND order_id=?",
                                     (terminal.id, order_id)).fetchone() is not None

    def last_order(self) -> dict[str, Any] | None:
        """The newest order this terminal applied (replays and older orders are refused against it)."""
        terminal = self.session.terminal
        row = terminal.conn.execute("SELECT order_id, kind, issued FROM mode_orders WHERE terminal=?"
                                    " ORDER BY issued DESC LIMIT 1", (terminal.id,)).fetchone()
        return None if row is None else {"id": row[0], "kind": row[1], "issued": row[2]}

    def timeline(self, terminal_id: str | None = None) -> list[dict[str, Any]]:
        """Every mode change (of one terminal, or of all that this one knows)."""
        import json
        sql = "SELECT origin, seq, hlc, actor, data FROM events WHERE type='mode.changed'"
        args: tuple[str, ...] = ()
        if terminal_id:
            sql += " AND origin=?"
            args = (terminal_id,)
        rows = self.session.terminal.conn.execute(sql + " ORDER BY hlc, origin, seq", args)
        return [{"terminal": o, "seq": s, "hlc": h, "actor": a, **json.loads(d)} for o, s, h, a, d in rows]

    def terminals(self) -> list[dict[str, Any]]:
        """The mode of every terminal this one has heard of."""
        from .projections import row_dicts
        return row_dicts(self.session.terminal.conn.execute("SELECT * FROM modes ORDER BY terminal"))
