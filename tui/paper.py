"""What the counter and the kiosk print, and what the screens say about it.

Printing never holds up a screen: a document is written to the terminal's
local print queue (a file and a row, on the UI thread, a few milliseconds)
and a worker thread hands it to CUPS and follows it. The latest printer
states are kept on the app for the printer line under the mode banner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hub.errors import HubError
from printing import printers
from printing.cups import PrinterState
from printing.spool import Spool

from . import i18n
from .i18n import N_, _, ngettext
from .receipt import payer_of, render_receipt

ROLE_WORDS = {"receipts": N_("Receipts printer"), "tickets": N_("Ticket printer"), "register": N_("Register printer")}
STATE_WORDS = {"queued": N_("waiting to print"), "printing": N_("printing"), "done": N_("printed"),
               "failed": N_("failed")}
TROUBLE_WORDS = {
    "cups-unreachable": N_("print server unreachable"),
    "queue-missing": N_("queue unknown to CUPS"),
    "paused": N_("stopped"),
    "not-accepting-jobs": N_("rejecting jobs"),
    "media-empty-error": N_("out of paper"), "media-empty": N_("out of paper"), "media-needed": N_("out of paper"),
    "offline-report": N_("unplugged or offline"), "connecting-to-device": N_("unplugged or offline"),
    "door-open-error": N_("cover open"), "media-jam-error": N_("paper jam"),
    "toner-empty-error": N_("out of toner"), "marker-supply-empty-error": N_("out of ink"),
}


@dataclass
class PaperStatus:
    """What the last pump saw."""

    printers: dict[str, PrinterState] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def trouble(self) -> str:
        """One line for the banner area, or "" when paper comes out."""
        parts = []
        for role, state in sorted(self.printers.items()):
            problems = state.trouble
            if problems:
                words = ", ".join(dict.fromkeys(_(TROUBLE_WORDS[p]) if p in TROUBLE_WORDS else p for p in problems))
                parts.append(i18n.labelled(f"{_(ROLE_WORDS.get(role, role))} {state.queue}", words))
        waiting = self.counts.get("queued", 0) + (self.counts.get("printing", 0) if parts else 0)
        if parts and waiting:
            parts.append(ngettext("{n} document waiting", "{n} documents waiting", waiting).format(n=waiting))
        failed = self.counts.get("failed", 0)
        if failed:
            parts.append(ngettext("{n} print job failed", "{n} print jobs failed", failed).format(n=failed))
        return ("⚠ " + "  ·  ".join(parts)) if parts else ""


def job_line(job: dict[str, Any] | None, refusal: HubError | None = None) -> str:
    """A job's state as a screen shows it."""
    if refusal is not None:
        return f"⚠ {refusal.message(i18n.lang())}"
    if job is None:
        return ""
    line = _("{printer}: {state}").format(printer=job["queue"], state=_(STATE_WORDS[job["state"]]))
    if job["reason"] and job["state"] != "done":
        line += f" — {job['reason']}"
    return line


def pump(spool: Spool) -> PaperStatus:
    """One pass of the print queue and the printers' states (blocking: a worker thread's)."""
    spool.pump()
    return PaperStatus(spool.printer_states(), spool.counts())


def print_receipt(app, payment: dict[str, Any], duplicate: bool = False) -> tuple[dict | None, HubError | None]:
    """Queue a payment's receipt; a duplicate is first recorded in the journal.
    Returns (job, None) or (None, the refusal to show): a missing printer
    never undoes or repeats the payment, it only says so."""
    session = app.session
    case = session.cases.get(payment["case_id"])
    try:
        printers.require(app.terminal.home, "receipts")   # no printer: say so before the journal records a copy
        copy = session.payments.duplicate(payment["id"]) if duplicate else None
        pdf = render_receipt(app.terminal, payment, case, payer_of(session, case), copy,
                             printed_at=app.now() if copy else None)
        title = f"{_('Receipt')} {payment['receipt_number']}" + (f" DUPLICATA {copy['copy']}" if copy else "")
        job = app.spool.submit("receipts", pdf, title, kind="duplicate" if copy else "receipt",
                               ref=payment["receipt_number"])
    except HubError as refusal:
        return None, refusal
    app.pump_paper()   # hand it to CUPS now, not at the next tick
    return job, None


def print_ticket(app, ticket: dict[str, Any], ahead: int | None) -> tuple[dict | None, HubError | None]:
    from .ticket import render_ticket
    try:
        job = app.spool.submit("tickets", render_ticket(app.terminal, ticket, ahead),
                               f"{_('Ticket')} {ticket['label']}", kind="ticket", ref=f"{ticket['day']}/{ticket['label']}")
    except HubError as refusal:
        return None, refusal
    app.pump_paper()
    return job, None


def printed_at(job: dict[str, Any]) -> str:
    return i18n.when(dt.datetime.fromtimestamp(job["created"], dt.UTC))
