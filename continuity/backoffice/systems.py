"""The four back offices a counter feeds, each in the spirit of the French
system it stands for: what it accepts and how its references look.

- ``etat-civil``: the civil-status registry (COMEDEC) — certificate copies;
- ``urbanisme``: the planning intake (Plat'AU) — *déclarations préalables*;
- ``tresor``: the treasury ledger (PayFiP / Hélios exports) — payments;
- ``travaux``: the works-management service — reports of broken equipment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class System:
    name: str
    label: str
    prefix: str
    kinds: tuple[str, ...]          # event types it takes
    services: tuple[str, ...] = ()  # for case events: the services it handles

    def reference(self, number: int, year: int) -> str:
        return f"{self.prefix}-{year}-{number:06d}"

    def refusal(self, kind: str, payload: dict[str, Any]) -> str | None:
        """Why this system would refuse the item (a 422), or None."""
        if kind not in self.kinds:
            return f"{self.label} does not take {kind}"
        if self.services and kind.startswith("case.") and (payload.get("case") or {}).get("service") not in self.services:
            return f"{self.label} does not handle this service"
        return None


SYSTEMS = {
    s.name: s for s in (
        System("etat-civil", "civil-status registry", "EC", ("case.opened", "case.status_changed"),
               ("acte-naissance", "acte-mariage-deces")),
        System("urbanisme", "planning intake", "DP", ("case.opened", "case.status_changed"),
               ("declaration-prealable",)),
        System("tresor", "treasury ledger", "TRE", ("payment.taken", "payment.refunded")),
        System("travaux", "works management", "TRV", ("case.opened", "case.status_changed"), ("signalement",)),
    )
}
