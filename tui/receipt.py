"""Payment receipts: a PDF fit to hand to a citizen of a French city, kept
under ``<home>/receipts/`` and sent to the terminal's receipts printer.

The receipt carries what a *régie de recettes* receipt must: the city and the
régie, the receipt number, date and time, the payer, the service, the amount
in figures and in words, the method, and the tracking code with its QR code
(printed in clear under it too, so a copy whose QR is smudged still reads). A
reprint is a DUPLICATA, numbered and recorded in the journal by the hub: a
second original never circulates. The file under ``receipts/`` is the
original and stays there whatever the printer does.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from hub.clock import millis
from hub.ids import format_tracking_code
from hub.terminal import write_private

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


def amount_in_words(cents: int) -> str:
    """45,50 € as "quarante-cinq euros et cinquante centimes" (or in English)."""
    from num2words import num2words
    return num2words(cents / 100, lang=i18n.lang(), to="currency", currency="EUR")


def qr_payload(case: dict[str, Any]) -> str:
    """What the QR code holds: the tracking code a kiosk or phone reads back."""
    return case["tracking_code"]


def regie(terminal) -> str:
    return terminal.config.get("regie") or _("Cash office of {city}").format(city=terminal.city)


def render_receipt(terminal, payment: dict[str, Any], case: dict[str, Any], payer: str | None,
                   duplicate: dict[str, Any] | None = None, printed_at: dt.datetime | None = None) -> bytes:
    """The receipt as PDF bytes (A5). ``duplicate`` is the hub's record of a
    reprint (``copy``): the page then says DUPLICATA, which copy, and when."""
    # Imported here: fpdf2 costs a quarter of a second, and the counter must paint fast.
    import segno
    from fpdf import FPDF

    service = terminal.catalog.get(case["service"])
    paid_at = dt.datetime.fromtimestamp(millis(payment["hlc"]) / 1000, dt.UTC)
    refund = bool(payment.get("refund_of"))
    pdf = FPDF(format=(148, 210))
    pdf.set_title(f"{_('Receipt')} {payment['receipt_number']}" + (" DUPLICATA" if duplicate else ""))
    pdf.set_creation_date(paid_at)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 8, _latin1(terminal.city), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _latin1(regie(terminal)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 14)
    title = _("Refund receipt") if refund else _("Payment receipt")
    pdf.cell(0, 8, _latin1(f"{title} {payment['receipt_number']}"), new_x="LMARGIN", new_y="NEXT")
    if duplicate:
        pdf.set_font("Helvetica", "B", 22)
        pdf.set_text_color(170, 0, 0)
        pdf.cell(0, 11, "DUPLICATA", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(0, 5, _latin1(_("Copy no. {copy}, printed {when}: not an original").format(
            copy=duplicate["copy"], when=i18n.when(printed_at or paid_at))), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    amount = ("- " if refund else "") + i18n.money(payment["amount_cents"])
    lines = [
        (_("Receipt no."), payment["receipt_number"]),
        (_("Date and time"), i18n.when(paid_at)),
        (_("Terminal"), terminal.name),
        (_("Payer"), payer or _("not named (kiosk request)")),
        (_("Service"), i18n.pick(service.names)),
        (_("Amount"), amount),
        (_("In words"), ("moins " if refund and i18n.lang() == "fr" else "minus " if refund else "")
         + amount_in_words(payment["amount_cents"])),
        (_("Method"), method_word(payment["method"])),
        (_("Tracking code"), format_tracking_code(case["tracking_code"])),
    ]
    # taken while isolated: the line of the incident register this receipt matches
    register = next((e["data"]["register"] for e in case.get("timeline", [])
                     if e["data"].get("id") == payment["id"] and "register" in e["data"]), None)
    if register is not None:
        lines.append((_("Incident register no."), register))
    for label, value in lines:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(38, 7, _latin1(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 7, _latin1(str(value)), new_x="LMARGIN", new_y="NEXT")
    png = io.BytesIO()
    payload = qr_payload(case)
    segno.make(payload, error="m").save(png, kind="png", scale=6, border=2)
    png.seek(0)
    top = pdf.get_y() + 4
    pdf.image(png, x=pdf.l_margin, y=top, w=36)
    pdf.set_xy(pdf.l_margin + 42, top + 6)
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, _latin1(_("Follow your request at a kiosk or at the counter with this code "
                                   "and your birth year or postcode.") + f"\nQR : {payload}"))
    pdf.set_y(190)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin1(_("Keep this receipt: it proves your payment. "
                                   "Issued by the terminal named above; the numbering is continuous.")))
    return bytes(pdf.output())


def receipt_path(terminal, payment: dict[str, Any]) -> Path:
    return Path(terminal.home) / "receipts" / f"{payment['receipt_number']}.pdf"


def write_receipt(terminal, payment: dict[str, Any], case: dict[str, Any], payer: str | None = None) -> Path:
    """Write the original receipt of one payment (or refund) and return its path."""
    path = receipt_path(terminal, payment)
    path.parent.mkdir(exist_ok=True)
    pdf = render_receipt(terminal, payment, case, payer)
    write_private(path, pdf)
    terminal.count_footprint(case["service"], pages=len(re.findall(rb"/Type\s*/Page(?!s)", pdf)))
    return path


def payer_of(session, case: dict[str, Any]) -> str | None:
    if not case.get("citizen_id"):
        return None
    citizen = session.citizens.get(case["citizen_id"])
    return f"{citizen['first_name']} {citizen['last_name']}"
