"""How an agent proves who they are at the counter.

The login screen talks to a :class:`LoginMethod`, so the smart-card login can
replace the PIN one without touching the screen: it asks for an agent id and
a secret (PIN), and gets a principal or a HubError to show.
"""

from __future__ import annotations

from typing import Protocol

from hub.roles import Principal
from hub.terminal import Terminal

from .i18n import N_


class LoginMethod(Protocol):
    #: What the secret field is called on screen (marked for translation).
    secret_label: str

    def login(self, terminal: Terminal, agent_id: str, secret: str) -> Principal:
        """The agent's principal, or raise a HubError (LoginRefused carries tries left)."""


class PinLogin:
    secret_label = N_("PIN")

    def login(self, terminal: Terminal, agent_id: str, secret: str) -> Principal:
        return terminal.session(Principal.system()).agents.login(agent_id.strip(), secret)
