"""Payment receipts as PDF files under ``<home>/receipts/``.

The QR code holds the tracking code, so a citizen's phone (or another counter)
reads the case back without typing. Printing comes with continuity; for now
the counter shows the path.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from hub.clock import millis
from hub.ids import format_tracking_code

from . import i18n
from .i18n import N_, _

METHOD_WORDS = {"cash": N_("cash"), "card": N_("card"), "cheque": N_("cheque")}


def method_word(method: str) -> str:
    word = METHOD_WORDS.get(method, method)
    return _(word)


# fpdf2's core fonts are Latin-1: keep accents, spell out what they cannot draw.
_LATIN1 = str.maketrans({"\u202f": " ", "\xa0": " ", "€": "EUR", "’": "'", "–": "-", "—": "-"})


def _latin1(text: str) -> str:
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def write_receipt(terminal, payment: dict[str, Any], case: dict[str, Any]) -> Path:
    """Write the receipt of one payment (or refund) and return its path."""
    # Imported here: fpdf2 costs a quarter of a second, and the counter must paint fast.
    import segno
    from fpdf import FPDF

    service = terminal.catalog.get(case["service"])
    paid_at = dt.datetime.fromtimestamp(millis(payment["hlc"]) / 1000, dt.UTC)
    pdf = FPDF(format=(148, 210))
    pdf.set_title(f"{_('Receipt')} {payment['receipt_number']}")
    pdf.set_creation_date(paid_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _latin1(terminal.city), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    lines = [
        (_("Receipt"), payment["receipt_number"]),
        (_("Terminal"), terminal.name),
        (_("Date"), i18n.when(paid_at)),
        (_("Service"), i18n.pick(service.names)),
        (_("Amount"), ("- " if payment.get("refund_of") else "") + i18n.money(payment["amount_cents"])),
        (_("Method"), method_word(payment["method"])),
        (_("Tracking code"), format_tracking_code(case["tracking_code"])),
    ]
    for label, value in lines:
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(40, 8, _latin1(label))
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(0, 8, _latin1(str(value)), new_x="LMARGIN", new_y="NEXT")
    png = io.BytesIO()
    segno.make(case["tracking_code"], error="m").save(png, kind="png", scale=6, border=2)
    png.seek(0)
    pdf.image(png, x=pdf.l_margin, y=pdf.get_y() + 4, w=40)
    folder = Path(terminal.home) / "receipts"
    folder.mkdir(exist_ok=True)
    path = folder / f"{payment['receipt_number']}.pdf"
    tmp = path.with_suffix(".pdf.tmp")
    tmp.write_bytes(bytes(pdf.output()))
    tmp.replace(path)
    return path
