"""The numbered incident register, as a PDF a person signs.

What the paper registers of Angers were, made checkable: every act this
terminal did while isolated, in number order — number, time, agent, service,
citizen, tracking code, amount, receipt — with page numbers, a running total,
a line for the agent's signature, and the SHA-256 of the journal head it was
printed from. The head hash chains every event before it, so a paper copy
can later be checked against the journal: same head, same acts.

Same PDF stack as the receipts (fpdf2); it lives here because the hub stays
free of I/O frameworks.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hub.clock import millis
from hub.ids import format_tracking_code
from hub.terminal import Terminal

# fpdf2's core fonts are Latin-1: keep accents, spell out what they cannot draw.
_LATIN1 = str.maketrans({"\u202f": " ", "\xa0": " ", "€": "EUR", "’": "'", "–": "-", "—": "-", "→": "->"})

# One fixed-width line per act (Courier): a register of 10,000 acts renders in
# seconds, where a cell per column took six times as long. Label, width in characters.
COLUMNS = (
    ("N°", 8), ("Heure / Time", 16), ("Agent", 12), ("Démarche / Service", 34), ("Citoyen / Citizen", 24),
    ("Suivi", 9), ("Montant", 10), ("Reçu / Receipt", 18), ("Cumul/Total", 12),
)
NUMERIC = {"N°", "Montant", "Cumul/Total"}


def _line(values) -> str:
    cells = []
    for (label, width), value in zip(COLUMNS, values):
        text = str(value)[:width]
        cells.append(text.rjust(width) if label in NUMERIC else text.ljust(width))
    return " ".join(cells)


def _latin1(text: str) -> str:
    return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")


def euros(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def acts(terminal: Terminal, day: dt.date | None = None) -> list[dict[str, Any]]:
    """This terminal's register lines, in number order (optionally one UTC day)."""
    sql = ("SELECT r.number, r.hlc, r.actor, r.kind, r.amount_cents, r.receipt_number, c.service, c.tracking_code,"
           " ci.first_name, ci.last_name, r.order_id FROM register r JOIN cases c ON c.id = r.case_id"
           " LEFT JOIN citizens ci ON ci.id = c.citizen_id WHERE r.origin = ?")
    args: list[Any] = [terminal.id]
    if day is not None:
        start = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000
        sql += " AND r.hlc >= ? AND r.hlc < ?"
        args += [int(start) << 16, int(start + 86_400_000) << 16]
    names = ("number", "hlc", "actor", "kind", "amount_cents", "receipt_number", "service", "tracking_code",
             "first_name", "last_name", "order_id")
    return [dict(zip(names, row)) for row in terminal.conn.execute(sql + " ORDER BY r.number", args)]


def head(terminal: Terminal) -> tuple[int, str]:
    """This terminal's journal head: its last event's number and hash."""
    return terminal.journal.heads().get(terminal.id, (0, "0" * 64))


def print_register(terminal: Terminal, out: Path, day: dt.date | None = None,
                   now: dt.datetime | None = None) -> dict[str, Any]:
    """Write the register PDF to ``out`` (atomically) and say what it holds."""
    from fpdf import FPDF

    lines = acts(terminal, day)
    head_seq, head_hash = head(terminal)
    printed = now or dt.datetime.now(dt.UTC)
    services = {s.code: s.names.get("fr", s.code) for s in terminal.catalog}
    city = terminal.config.get("city", "")
    title = f"Registre d'incident / Incident register - {terminal.name}" + (f" - {day.isoformat()}" if day else "")

    class Register(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", "B", 12)
            self.cell(0, 7, _latin1(f"{city} - {title}"), new_x="LMARGIN", new_y="NEXT")
            self.set_font("Helvetica", "", 7)
            self.cell(0, 4, _latin1(f"Tête du journal / journal head: #{head_seq} SHA-256 {head_hash}"),
                      new_x="LMARGIN", new_y="NEXT")
            self.set_font("Courier", "B", 8)
            self.cell(0, 6, _latin1(_line(label for label, _ in COLUMNS)), border="B", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 6, _latin1(f"Page {self.page_no()}/{{nb}} - imprimé le / printed {printed:%Y-%m-%d %H:%M} "
                                    f"UTC - {terminal.name}"), align="C")

    pdf = Register(orientation="L", format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_creation_date(printed)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    pdf.set_font("Courier", "", 8)
    total = 0
    for act in lines:
        total += act["amount_cents"] or 0
        at = dt.datetime.fromtimestamp(millis(act["hlc"]) / 1000, dt.UTC)
        citizen = f"{act['first_name'] or ''} {act['last_name'] or ''}".strip() or "-"
        kind = "" if act["kind"] == "case.opened" else (" (remb.)" if act["kind"] == "payment.refunded" else " (paiement)")
        row = (str(act["number"]), f"{at:%Y-%m-%d %H:%M}", act["actor"].partition(":")[2],
               services.get(act["service"], act["service"]) + kind, citizen,
               format_tracking_code(act["tracking_code"]), euros(act["amount_cents"]), act["receipt_number"] or "",
               euros(total))
        pdf.cell(0, 4.2, _latin1(_line(row)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, _latin1(f"{len(lines)} acte(s) / act(s) - total {euros(total)} EUR"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 12, _latin1("Signature de l'agent / Agent's signature: ______________________________    "
                            "Date: ____________"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.cell(0, 5, _latin1(f"Imprimé depuis la tête du journal / printed from journal head #{head_seq}: {head_hash}"),
             new_x="LMARGIN", new_y="NEXT")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(bytes(pdf.output()))
    tmp.replace(out)
    return {"file": str(out), "acts": len(lines), "pages": pdf.page_no(), "total_cents": total,
            "total": f"{euros(total)} EUR", "head": head_hash, "head_seq": head_seq,
            "first": lines[0]["number"] if lines else None, "last": lines[-1]["number"] if lines else None}
