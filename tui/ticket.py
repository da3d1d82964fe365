"""Queue tickets as printable text files under ``<home>/tickets/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import i18n
from .i18n import _


def write_ticket(terminal, ticket: dict[str, Any]) -> Path:
    family = terminal.catalog.families.get(ticket["family"], {})
    text = "\n".join([
        terminal.city,
        "",
        f"    {ticket['label']}",
        "",
        i18n.pick(family) if family else ticket["family"],
        _("Please wait to be called."),
        f"{ticket['day']}  {terminal.name}",
        "",
    ])
    folder = Path(terminal.home) / "tickets"
    folder.mkdir(exist_ok=True)
    path = folder / f"{ticket['day']}-{ticket['label']}.txt"
    path.write_text(text, "utf-8")
    return path
