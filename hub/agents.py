"""Counter agents and their PIN login (the smart card replaces the PIN alone).

PINs are stored as scrypt hashes in the journal, so an enrolment made on one
terminal reaches the others; failed tries are local and lock after three.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import Forbidden, Invalid, NotFound
from .projections import row_dicts
from .roles import Principal

if TYPE_CHECKING:
    from .session import Session

MAX_TRIES = 3
LOCK_SECONDS = 15 * 60
_AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(pin.encode())
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_pin(pin: str, stored: str) -> bool:
    try:
        _, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = Scrypt(salt=base64.b64decode(salt), length=32, n=2**14, r=8, p=1).derive(pin.encode())
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


class LoginRefused(Forbidden):
    def __init__(self, en: str, fr: str, tries_left: int, code: str = "login_refused") -> None:
        super().__init__(en, fr, code)
        self.tries_left = tries_left


class Agents:
    def __init__(self, session: "Session") -> None:
        self.session = session

    def enroll(self, agent_id: str, name: str, pin: str | None, role: str = "agent") -> dict[str, Any]:
        self.session.principal.require("agent.manage")
        if not _AGENT_ID.match(agent_id or ""):
            raise Invalid("agent id: 2 to 32 lower-case letters, digits, . _ or -",
                          "identifiant agent : 2 à 32 minuscules, chiffres, . _ ou -")
        if role not in ("agent", "ops"):
            raise Invalid("role must be agent or ops", "le rôle doit être agent ou ops")
        if pin is not None and not re.fullmatch(r"\d{6,8}", pin):
            raise Invalid("the PIN must be 6 to 8 digits", "le code PIN doit comporter 6 à 8 chiffres")
        data = {"id": agent_id, "name": (name or agent_id).strip()[:100], "role": role,
                "pin_hash": hash_pin(pin) if pin else None}
        with self.session.terminal.writing() as w:
            w.record(self.session.principal, "agent.enrolled", f"agent:{agent_id}", data)
        return self.get(agent_id)

    def get(self, agent_id: str) -> dict[str, Any]:
        rows = row_dicts(self.session.conn.execute("SELECT id, name, role, active FROM agents WHERE id=?", (agent_id,)))
        if not rows:
            raise NotFound(f"no agent {agent_id}", f"aucun agent {agent_id}")
        return rows[0]

    def list(self) -> list[dict[str, Any]]:
        return row_dicts(self.session.conn.execute("SELECT id, name, role, active FROM agents ORDER BY id"))

    def login(self, agent_id: str, pin: str, now: float | None = None) -> Principal:
        """A principal for the agent, or LoginRefused with the tries left."""
        now = self.session.terminal.now() if now is None else now
        terminal = self.session.terminal
        subject = f"pin:{agent_id}"
        failures = terminal.failures(subject, now - LOCK_SECONDS)
        if failures >= MAX_TRIES:
            raise LoginRefused("this agent is locked after 3 wrong PINs; ask IT staff or wait 15 minutes",
                               "agent bloqué après 3 codes erronés ; contactez l'informatique ou attendez 15 minutes",
                               0, "locked")
        row = terminal.conn.execute("SELECT role, pin_hash, active FROM agents WHERE id=?", (agent_id,)).fetchone()
        if row is None or not row[2] or not row[1] or not check_pin(pin or "", row[1]):
            terminal.record_failure(subject, now)
            left = MAX_TRIES - failures - 1
            if left <= 0:
                raise LoginRefused("wrong PIN: this agent is now locked for 15 minutes",
                                   "code erroné : agent bloqué pendant 15 minutes", 0, "locked")
            raise LoginRefused(f"unknown agent or wrong PIN ({left} tries left)",
                               f"agent inconnu ou code erroné ({left} essais restants)", left)
        terminal.clear_failures(subject)
        return Principal(row[0], agent_id)
