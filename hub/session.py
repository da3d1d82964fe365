"""A session: one principal acting on one terminal.

Every domain operation hangs off a session, so the role check always has the
principal at hand: ``session.cases.open(...)``, ``session.payments.take(...)``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .roles import Principal

if TYPE_CHECKING:
    import sqlite3

    from .agents import Agents
    from .cases import Cases
    from .catalog import Catalog
    from .citizens import Citizens
    from .payments import Payments
    from .queue import Queue
    from .terminal import Terminal
    from .vault import Vault


class Session:
    def __init__(self, terminal: "Terminal", principal: Principal) -> None:
        self.terminal = terminal
        self.principal = principal

    @property
    def conn(self) -> "sqlite3.Connection":
        return self.terminal.conn

    @property
    def catalog(self) -> "Catalog":
        return self.terminal.catalog

    def narrow(self, case_id: str | None = None, citizen_id: str | None = None) -> None:
        """Give a kiosk session reach over one case or citizen, after proof."""
        self.principal = self.principal.narrowed(case_id, citizen_id)

    @cached_property
    def citizens(self) -> "Citizens":
        from .citizens import Citizens
        return Citizens(self)

    @cached_property
    def cases(self) -> "Cases":
        from .cases import Cases
        return Cases(self)

    @cached_property
    def payments(self) -> "Payments":
        from .payments import Payments
        return Payments(self)

    @cached_property
    def queue(self) -> "Queue":
        from .queue import Queue
        return Queue(self)

    @cached_property
    def vault(self) -> "Vault":
        from .vault import Vault
        return Vault(self)

    @cached_property
    def agents(self) -> "Agents":
        from .agents import Agents
        return Agents(self)
