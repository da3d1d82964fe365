"""Who held a card at which terminal, and when: sign-ins, failed PINs,
lockouts and card removals are journal events, so an incident review can tell
who was at which counter. Never the PIN, nor anything derived from it.

The events have no projection: they are the record itself, replicated and
sealed like every other event.
"""

from __future__ import annotations

from hub.roles import Principal
from hub.terminal import Terminal

from .trust import Identity

SIGNED_IN, PIN_FAILED, PIN_BLOCKED, REMOVED = "card.signed_in", "card.pin_failed", "card.pin_blocked", "card.removed"


def _aggregate(identity: Identity) -> str:
    return f"citizen:{identity.uid}" if identity.role == "citizen" else f"agent:{identity.uid}"


def record(terminal: Terminal, type: str, identity: Identity, reader: str, by: Principal | None = None,
           **extra) -> None:
    """One event about the card of ``identity`` in ``reader`` of this terminal.
    A failed PIN is recorded by the system: the card's certificate names its
    holder, but whoever typed the PIN is not proven to be them."""
    data = {"uid": identity.uid, "role": identity.role, "serial": f"{identity.serial:x}",
            "terminal": terminal.name, "reader": reader, **extra}
    with terminal.writing() as w:
        w.record(by or Principal.system(), type, _aggregate(identity), data)


def record_removal(home, identity: Identity, reader: str, reason: str) -> None:
    """From the card monitor's thread, which cannot use the terminal's own
    SQLite connection: a connection of its own, for one event."""
    with Terminal.open(home) as terminal:
        record(terminal, REMOVED, identity, reader, reason=reason)
