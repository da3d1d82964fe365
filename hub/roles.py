"""Who is acting, and what they may do: enforced in the hub, not in the screens.

A kiosk principal starts with no reach at all beyond the catalog and the queue;
checking a tracking code (or presenting a citizen card) narrows it to that one
case (or citizen), so a kiosk can never list, search or open anyone else's data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import Forbidden

ROLES = ("agent", "ops", "kiosk", "system")

_AGENT = frozenset({
    "catalog.read", "citizen.read", "citizen.write", "case.read", "case.write", "payment.write",
    "queue.issue", "queue.call", "vault.read", "vault.write", "conflict.resolve",
})
PERMISSIONS: dict[str, frozenset[str]] = {
    "agent": _AGENT,
    "ops": _AGENT | {"agent.manage", "terminal.admin"},
    "system": _AGENT | {"agent.manage", "terminal.admin"},
    # Everything a kiosk does on a case or citizen is checked against its scope.
    "kiosk": frozenset({"catalog.read", "queue.issue", "case.open", "case.read", "vault.read"}),
}


@dataclass(frozen=True)
class Principal:
    role: str
    id: str
    scope_case: str | None = None
    scope_citizen: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.id}"

    @classmethod
    def agent(cls, agent_id: str) -> "Principal":
        return cls("agent", agent_id)

    @classmethod
    def ops(cls, agent_id: str) -> "Principal":
        return cls("ops", agent_id)

    @classmethod
    def kiosk(cls, kiosk_id: str) -> "Principal":
        return cls("kiosk", kiosk_id)

    @classmethod
    def system(cls) -> "Principal":
        return cls("system", "beffroi")

    def narrowed(self, case_id: str | None = None, citizen_id: str | None = None) -> "Principal":
        return replace(self, scope_case=case_id or self.scope_case, scope_citizen=citizen_id or self.scope_citizen)

    def require(self, permission: str, *, case_id: str | None = None, citizen_id: str | None = None) -> None:
        if permission not in PERMISSIONS.get(self.role, ()):
            raise Forbidden(f"a {self.role} session may not do {permission}",
                            f"une session {self.role} ne peut pas faire {permission}")
        if self.role != "kiosk" or permission in ("catalog.read", "queue.issue", "case.open"):
            return
        if case_id is not None and case_id == self.scope_case:
            return
        if citizen_id is not None and citizen_id == self.scope_citizen:
            return
        raise Forbidden("this kiosk can only show the request it was opened for",
                        "cette borne ne peut afficher que la demande pour laquelle elle a été ouverte")
