"""Degraded mode, detected and left by itself.

Every round of checks (the SoR and office relays, and the back offices'
health checks: see ``continuity.watch``) reports success or failure here. After ``failures`` failed
checks in a row — retried sooner and sooner backed off, never slower than the
sync interval — an online terminal becomes degraded; the first good answer
brings a degraded terminal back online. Isolated and recovery are left alone:
only an incident order moves a terminal out of those.

With the defaults (3 failures, first retry after 1 s, then 2 s, sync every
5 s) a dead upstream is noticed within about 3 s plus the probe timeouts,
well inside the 10 s the issue asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.mode import Mode
from hub.roles import Principal
from hub.terminal import Terminal

from . import transitions

FAILURES = 3
FIRST_RETRY = 1.0


@dataclass
class Reachability:
    failures_to_degrade: int = FAILURES
    first_retry: float = FIRST_RETRY
    failed: int = 0
    last_error: str | None = None

    def next_delay(self, interval: float) -> float:
        """How long to wait before the next check."""
        if self.failed == 0:
            return interval
        return min(interval, self.first_retry * 2 ** (self.failed - 1))

    def report(self, terminal: Terminal, ok: bool, error: str | None = None) -> Mode | None:
        """Count one check; returns the new mode when this check changed it."""
        if ok:
            self.failed, self.last_error = 0, None
            if terminal.mode().name == "degraded":
                return transitions.move(terminal.session(Principal.system()), "online", "upstream reachable again")
            return None
        self.failed += 1
        self.last_error = error
        if self.failed >= self.failures_to_degrade and terminal.mode().name == "online":
            return transitions.move(terminal.session(Principal.system()), "degraded",
                                    f"upstream unreachable after {self.failed} checks: {error or 'no answer'}")
        return None
