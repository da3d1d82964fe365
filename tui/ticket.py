"""Queue tickets for an 80 mm roll: the number large, the family, the time,
and how many people wait ahead. Kept under ``<home>/tickets/`` (the slip as
text, for a kiosk without a printer) and sent to the tickets printer as PDF."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hub.clock import millis

from . import i18n
from .i18n import _, ngettext
from .receipt import _latin1

ROLL_MM = 80


def _lines(terminal, ticket: dict[str, Any], ahead: int | None) -> tuple[str, str, str]:
    family = terminal.catalog.families.get(ticket["family"], {})
    issued = dt.datetime.fromtimestamp(millis(ticket["issued_hlc"]) / 1000, dt.UTC) if ticket.get("issued_hlc") else None
    wait = "" if ahead is None else (_("Nobody is waiting ahead of you.") if ahead == 0 else
                                     ngettext("{n} person waiting ahead of you.", "{n} people waiting ahead of you.",
                                              ahead).format(n=ahead))
    return i18n.pick(family) if family else ticket["family"], i18n.when(issued) if issued else ticket["day"], wait


def render_ticket(terminal, ticket: dict[str, Any], ahead: int | None = None) -> bytes:
    """The ticket as a PDF page 80 mm wide."""
    from fpdf import FPDF

    family, issued, wait = _lines(terminal, ticket, ahead)
    pdf = FPDF(format=(ROLL_MM, 110))
    pdf.set_title(f"{_('Ticket')} {ticket['label']}")
    pdf.set_margins(5, 5, 5)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 5, _latin1(terminal.city), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, _latin1(_("Your ticket number")), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 44)
    pdf.cell(0, 22, ticket["label"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 6, _latin1(family), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in (issued, wait, _("Please wait to be called."), terminal.name):
        if line:
            pdf.multi_cell(0, 5, _latin1(line), align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write_ticket(terminal, ticket: dict[str, Any], ahead: int | None = None) -> Path:
    family, issued, wait = _lines(terminal, ticket, ahead)
    text = "\n".join([terminal.city, "", f"    {ticket['label']}", "", family, issued, wait,
                      _("Please wait to be called."), terminal.name, ""])
    folder = Path(terminal.home) / "tickets"
    folder.mkdir(exist_ok=True)
    path = folder / f"{ticket['day']}-{ticket['label']}.txt"
    path.write_text(text, "utf-8")
    return path
