"""Taking a kiosk out of citizen service for maintenance.

A kiosk stands unattended in a public hall: the only way out of the kiosk app
is IT staff (an ``ops`` principal, proved by card + PIN or ops id + PIN) and
every such exit is an event in the journal, so the city can tell who opened
which kiosk and when. Wrong PINs are counted by the login itself
(``Agents.login`` locally, the card's own PIN counter for a card).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import Forbidden, Invalid
from .terminal import TERMINAL_NAME

if TYPE_CHECKING:
    from .session import Session

METHODS = ("card", "pin")


class Maintenance:
    def __init__(self, session: "Session") -> None:
        self.session = session

    def leave_kiosk(self, kiosk_id: str, method: str) -> dict[str, Any]:
        """Record that this session's ops principal takes the kiosk out of
        service; the caller leaves the kiosk app only once this returned."""
        principal = self.session.principal
        if principal.role != "ops":
            raise Forbidden("only IT staff (an ops card or ops id) can take the kiosk out of service",
                            "seul le personnel informatique (carte ou identifiant ops) peut mettre la borne "
                            "hors service", "not_ops")
        principal.require("terminal.admin")
        if method not in METHODS:
            raise Invalid("method must be card or pin", "la méthode doit être card ou pin")
        if not TERMINAL_NAME.match(kiosk_id or ""):
            raise Invalid("kiosk id: 1 to 32 letters, digits, - or _", "identifiant de borne : 1 à 32 lettres, "
                          "chiffres, - ou _")
        terminal = self.session.terminal
        data = {"kiosk": kiosk_id, "method": method, "by": principal.id}
        with terminal.writing() as w:
            event = w.record(principal, "kiosk.maintenance_opened", f"terminal:{terminal.id}", data)
        return {**data, "origin": event.origin, "seq": event.seq, "hlc": event.hlc}
