"""How an agent proves who they are at the counter.

The login screen talks to a :class:`LoginMethod`: agent id + PIN
(:class:`PinLogin`), or smart card + PIN (:class:`CardLogin`, where the card
says who the agent is). Either gives a principal or a HubError to show.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from hub.roles import Principal
from hub.terminal import Terminal

from .i18n import N_


class LoginMethod(Protocol):
    #: What the secret field is called on screen (marked for translation).
    secret_label: str
    #: Whether the screen asks for an agent id (a card carries its own).
    asks_agent_id: bool

    def login(self, terminal: Terminal, agent_id: str, secret: str) -> Principal:
        """The agent's principal, or raise a HubError (LoginRefused carries tries left)."""


class PinLogin:
    secret_label = N_("PIN")
    asks_agent_id = True

    def login(self, terminal: Terminal, agent_id: str, secret: str) -> Principal:
        return terminal.session(Principal.system()).agents.login(agent_id.strip(), secret)


class CardLogin:
    """Card + PIN through the real PC/SC stack (``card.login``). The session is
    held by the card: when it leaves the reader, ``on_lock`` runs (from the
    card monitor's thread) and the counter signs the agent out."""

    secret_label = N_("Card PIN")
    asks_agent_id = False

    def __init__(self, reader: str | None = None) -> None:
        # The counter's reader: named, or $BEFFROI_CARD_READER, or the first
        # reader holding a card.
        self.reader = reader or os.environ.get("BEFFROI_CARD_READER") or None
        self.on_lock: Callable[[str], None] | None = None
        self.session = None
        self.factory_pin = False

    def login(self, terminal: Terminal, agent_id: str, secret: str) -> Principal:
        from card.login import open_session
        from card.pins import FACTORY_PIN
        self.close()
        self.session = open_session(terminal, secret, on_lock=self._locked, reader=self.reader)
        # The counter then offers the PIN change: every new card has this PIN.
        self.factory_pin = secret == FACTORY_PIN
        return self.session.principal

    def change_pin(self, new: str) -> None:
        """Replace the factory PIN of the signed-in card (in its own reader)."""
        from card.pins import FACTORY_PIN, change_pin
        change_pin(FACTORY_PIN, new, self.session.login.reader)
        self.factory_pin = False

    def _locked(self, reason: str) -> None:
        if self.on_lock is not None:
            self.on_lock(reason)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def card_present() -> bool:
    """True when pcscd answers and a reader holds a card: the counter then
    offers the card login (the demo inserts the demo agent's virtual card)."""
    try:
        from card.reader import Pcsc
        with Pcsc() as pcsc:
            named = os.environ.get("BEFFROI_CARD_READER")
            return any(state.present for state in pcsc.states([named] if named else pcsc.readers()))
    except Exception:  # no pyscard, no pcscd, no reader: the PIN login stays
        return False
