"""Which mode may follow which, and who moves a terminal there.

``online → degraded → isolated → recovery → online``. Degraded comes and goes
by itself (reachability); isolated is entered only by an incident order (or
an ops agent's local order for one terminal); recovery only by the order that
ends the incident; online again once recovery is done. The hub records the
move as a ``mode.changed`` event; this module decides whether it is allowed.
"""

from __future__ import annotations

from typing import Any

from hub.errors import HubError
from hub.mode import Mode

ALLOWED: dict[str, frozenset[str]] = {
    "online": frozenset({"degraded", "isolated"}),
    "degraded": frozenset({"online", "isolated"}),
    "isolated": frozenset({"isolated", "recovery"}),   # isolated → isolated: a newer order (new ranges)
    "recovery": frozenset({"online", "isolated"}),
}

WORDS = {"online": ("online", "en ligne"), "degraded": ("degraded", "dégradé"),
         "isolated": ("isolated", "isolé"), "recovery": ("recovery", "reprise")}


class TransitionRefused(HubError):
    code = "mode_transition_refused"


def move(session, to: str, reason: str, **details: Any) -> Mode:
    """Record the move to ``to`` if the current mode allows it."""
    current = session.modes.current().name
    if to not in ALLOWED.get(current, ()):
        hint_en, hint_fr = _hint(current, to)
        raise TransitionRefused(
            f"this terminal is {WORDS[current][0]}: it cannot go {WORDS[to][0]} from there. {hint_en}",
            f"ce terminal est en mode {WORDS[current][1]} : il ne peut pas passer en mode {WORDS[to][1]}. {hint_fr}")
    return session.modes.change(to, reason, **details)


def _hint(current: str, to: str) -> tuple[str, str]:
    if to == "recovery":
        return ("Only an incident that was declared can be ended.",
                "Seul un incident déclaré peut être clos.")
    if current == "isolated":
        return ("End the incident first (`beffroi incident end`, signed by the city admin).",
                "Mettez d'abord fin à l'incident (`beffroi incident end`, signé par l'administrateur de la ville).")
    return ("", "")


def recovered(session, reason: str = "recovery complete") -> Mode:
    """Recovery is done (outbox drained, conflicts assigned): back online."""
    return move(session, "online", reason)
