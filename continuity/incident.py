"""Applying incident orders at a terminal, and isolating one terminal by hand.

An order is checked against the admin key this terminal pinned at enrolment
(``replication.db``), then against this terminal's own history of orders:
an order it already applied, or one older than the last it applied, is a
replay and is refused. Only then does the terminal record its own
``mode.changed`` event; another terminal's event never moves this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from hub.errors import NotFound
from hub.roles import Principal
from hub.terminal import Terminal

from . import orders, transitions
from .orders import Order, OrderRefused


def pinned_city(terminal: Terminal) -> dict[str, Any]:
    """The city and admin key this terminal pinned when it enrolled."""
    from replication.local import Local
    local = Local(terminal.home)
    try:
        city = local.get("city")
    finally:
        local.close()
    if not city:
        raise NotFound("this terminal has no city admin key to check orders against: enrol it first "
                       "(`beffroi enroll --sor URL`)",
                       "ce terminal n'a pas de clé d'administration pour vérifier les ordres : inscrivez-le d'abord "
                       "(`beffroi enroll --sor URL`)", "not_enrolled")
    return city


def granted_ranges(terminal: Terminal) -> dict[str, tuple[int, int]]:
    """The ranges the city admin put in this terminal's enrolment grant
    (``sor approve --register-range/--ticket-range``), read from the device
    list pinned at the last sync and checked again against the admin key: an
    edited grant is refused, never half-used. Empty when there is none."""
    from replication import keys
    from replication.local import Local
    local = Local(terminal.home)
    try:
        city, listing = local.get("city"), local.get("devices") or {}
    finally:
        local.close()
    if not city:
        return {}
    for entry in listing.get("devices", []):
        if entry.get("id") != terminal.id or not entry.get("certificate"):
            continue
        try:
            grant = keys.verify_doc(keys.sign_public(city["admin_sign"]), entry["certificate"], "grant")
            if grant.get("kind") != "enrolment" or grant.get("terminal") != terminal.id:
                raise keys.KeyRefused("not this terminal's grant", "pas l'inscription de ce terminal")
        except keys.KeyRefused:
            raise OrderRefused(
                "this terminal's enrolment grant, as stored here, is not the one the city admin signed (edited?): "
                "its number ranges are refused and nothing changed; sync again (`beffroi sync`) or ask IT for an "
                "incident order with ranges",
                "l'inscription de ce terminal, telle qu'elle est enregistrée ici, n'est pas celle signée par "
                "l'administrateur de la ville (modifiée ?) : ses plages de numéros sont refusées et rien n'a changé ; "
                "resynchronisez (`beffroi sync`) ou demandez à l'informatique un ordre d'incident avec des plages")
        ranges = grant.get("ranges") or {}
        return {kind: (span[0], span[1]) for kind, span in ranges.items()
                if kind in ("register", "tickets") and orders.well_formed(span)}
    return {}


def check(terminal: Terminal, raw: bytes, now: dt.datetime) -> Order:
    """Everything :func:`apply` checks, without writing: the verified order."""
    order = orders.verify(raw, pinned_city(terminal), now)
    if not order.scope.covers(terminal.id, terminal.name, terminal.config.get("office")):
        raise OrderRefused(f"this order is for {order.scope}, which does not include terminal {terminal.name}",
                           f"cet ordre vise {order.scope}, qui n'inclut pas le terminal {terminal.name}")
    session = terminal.session(Principal.system())
    if session.modes.applied(order.id):
        raise OrderRefused(f"order {order.id} was already applied at this terminal (replayed): nothing changed",
                           f"l'ordre {order.id} a déjà été appliqué sur ce terminal (rejoué) : rien n'a changé")
    last = session.modes.last_order()
    if last is not None and (last["issued"], last["id"]) > (order.doc["issued"], order.id) \
            and order.doc.get("ends") != last["id"]:
        raise OrderRefused(
            f"order {order.id} ({order.doc['issued']}) is older than order {last['id']} ({last['issued']}) "
            f"already applied here: an old order is never replayed",
            f"l'ordre {order.id} ({order.doc['issued']}) est plus ancien que l'ordre {last['id']} "
            f"({last['issued']}) déjà appliqué ici : un ancien ordre n'est jamais rejoué")
    return order


def apply(terminal: Terminal, raw: bytes, now: dt.datetime, principal: Principal | None = None) -> dict[str, Any]:
    """Verify an order and move this terminal accordingly (declare → isolated,
    end → recovery). Refused orders change nothing."""
    order = check(terminal, raw, now)
    session = terminal.session(principal or Principal.system())
    if order.kind == "declare":
        granted = granted_ranges(terminal)
        mode = transitions.move(session, "isolated", order.doc["reason"], order=order.summary(),
                                register=order.range_for(terminal.id, terminal.name) or granted.get("register"),
                                tickets=order.range_for(terminal.id, terminal.name, "tickets") or granted.get("tickets"))
    else:
        mode = transitions.move(session, "recovery", order.doc["reason"], order=order.summary())
    return {"terminal": terminal.name, "order": order.id, "kind": order.kind, "fingerprint": order.fingerprint,
            **mode.to_dict()}


def now_at(terminal: Terminal) -> dt.datetime:
    """The terminal's clock (injected in tests and drills) as an aware datetime."""
    return dt.datetime.fromtimestamp(terminal.clock.time(), dt.UTC)


def isolate_here(terminal: Terminal, principal: Principal, reason: str, now: dt.datetime,
                 new_id: Callable[[], str] | None = None) -> dict[str, Any]:
    """An ops agent isolates this one terminal when no signed order can reach
    it: a local order, recorded as such (``local: true``, the agent as actor)."""
    if principal.role != "ops":
        raise OrderRefused("only an ops agent's card may isolate a terminal",
                           "seule la carte d'un agent d'exploitation peut isoler un terminal")
    summary = {"id": (new_id or terminal.new_id)(), "kind": "local", "issued": orders.iso(now), "by": principal.actor,
               "scope": {"kind": "terminals", "names": [terminal.name]}}
    granted = granted_ranges(terminal)
    mode = transitions.move(terminal.session(principal), "isolated", reason, order=summary, local=True,
                            register=granted.get("register"), tickets=granted.get("tickets"))
    return {"terminal": terminal.name, "order": summary["id"], "kind": "local", **mode.to_dict()}
