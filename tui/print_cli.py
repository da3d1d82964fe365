"""``beffroi print receipt|ticket|jobs|retry``: the documents the apps print,
and the terminal's local print queue (``printing``) seen from the CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from hub.cli import cli_principal, emit, home_of, open_terminal
from hub.errors import Invalid
from hub.plugins import command_adder
from printing import printers
from printing.spool import Spool, when

HAND_OVER_WAIT = 5.0   # seconds the CLI waits for CUPS to take a job it just queued


def _hand_over(spool: Spool, job: dict[str, Any]) -> dict[str, Any]:
    """Pump until CUPS has the job (or refused it); a stopped printer keeps it queued, and says so."""
    deadline = time.monotonic() + HAND_OVER_WAIT
    while True:
        spool.pump()
        job = spool.get(job["id"])
        if job["state"] != "queued" or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def _job_text(job: dict[str, Any]) -> str:
    line = f"{job['id']}  {when(job)}  {job['kind']:<9} {job['ref'] or '-':<22} {job['queue']:<16} {job['state']}"
    return line + (f"  ({job['reason']})" if job["reason"] else "")


def _print_receipt(args: argparse.Namespace) -> int:
    from . import i18n
    from .receipt import payer_of, render_receipt
    i18n.set_lang(args.lang)
    spool = Spool(home_of(args))
    with open_terminal(args) as terminal:
        session = terminal.session(cli_principal())
        payment = session.payments.by_receipt(args.number)
        case = session.cases.get(payment["case_id"])
        # Refuse before the journal records a duplicate that could not be printed.
        printers.check_queue(args.printer) if args.printer else printers.require(terminal.home, "receipts")
        copy = session.payments.duplicate(payment["id"])
        printed_at = dt.datetime.fromtimestamp(terminal.now(), dt.UTC)
        pdf = render_receipt(terminal, payment, case, payer_of(session, case), copy, printed_at=printed_at)
    job = spool.submit("receipts", pdf, f"Receipt {payment['receipt_number']} DUPLICATA {copy['copy']}",
                       kind="duplicate", ref=payment["receipt_number"], printer=args.printer)
    job = _hand_over(spool, job)
    emit(args, {**job, "copy": copy["copy"]}, lambda j: f"receipt {payment['receipt_number']} DUPLICATA "
         f"no. {copy['copy']}: job {j['id']} {j['state']} on {j['queue']}" + (f" ({j['reason']})" if j["reason"] else ""))
    return 0 if job["state"] != "failed" else 1


def _print_ticket(args: argparse.Namespace) -> int:
    from . import i18n
    from .ticket import render_ticket
    i18n.set_lang(args.lang)
    spool = Spool(home_of(args))
    with open_terminal(args) as terminal:
        day = (args.day or terminal.today()).isoformat()
        row = terminal.conn.execute("SELECT id FROM queue_tickets WHERE day=? AND label=? ORDER BY issued_hlc DESC",
                                    (day, args.label.strip().upper())).fetchone()
        if row is None:
            raise Invalid(f"no ticket {args.label} on {day}; see `beffroi queue list`",
                          f"aucun ticket {args.label} le {day} ; voir `beffroi queue list`")
        session = terminal.session(cli_principal())
        ticket = session.queue.get(row[0])
        pdf = render_ticket(terminal, ticket, session.queue.ahead(ticket["id"]))
    job = spool.submit("tickets", pdf, f"Ticket {ticket['label']}", kind="ticket",
                       ref=f"{ticket['day']}/{ticket['label']}", printer=args.printer)
    job = _hand_over(spool, job)
    emit(args, job, lambda j: f"ticket {ticket['label']}: job {j['id']} {j['state']} on {j['queue']}"
         + (f" ({j['reason']})" if j["reason"] else ""))
    return 0 if job["state"] != "failed" else 1


def _jobs(args: argparse.Namespace) -> int:
    open_terminal(args).close()
    spool = Spool(home_of(args))
    spool.pump()
    jobs = spool.jobs(args.limit)
    emit(args, jobs, lambda js: "\n".join(_job_text(j) for j in js) or "no print job")
    return 0

def _retry(args: argparse.Namespace) -> int:
    open_terminal(args).close()
    spool = Spool(home_of(args))
    job = _hand_over(spool, spool.retry(args.job))
    emit(args, job, _job_text)
    return 0 if job["state"] != "failed" else 1

def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("--day: a date as YYYY-MM-DD") from None


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise argparse.ArgumentTypeError("--limit: a number of jobs from 1 to 10000")
    return int(value)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    add = command_adder(common)

    print_ = sub.add_parser("print", help="print receipts and tickets; the local print queue",
                            description="print receipts and tickets; the local print queue")
    print_sub = print_.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(print_sub, "receipt", _print_receipt, "reprint a receipt (marked DUPLICATA, recorded in the journal)")
    p.add_argument("number", metavar="NUMBER", help="the receipt number, e.g. MAIRIE-01-000042")
    p.add_argument("--printer", metavar="QUEUE", help="this CUPS queue instead of the receipts printer")
    p.add_argument("--lang", choices=["fr", "en"], default="fr", help="language of the receipt (fr)")
    p = add(print_sub, "ticket", _print_ticket, "print a queue ticket again")
    p.add_argument("label", metavar="LABEL", help="the ticket, e.g. V003")
    p.add_argument("--day", type=_day, metavar="YYYY-MM-DD", help="the ticket's day (today)")
    p.add_argument("--printer", metavar="QUEUE", help="this CUPS queue instead of the tickets printer")
    p.add_argument("--lang", choices=["fr", "en"], default="fr", help="language of the ticket (fr)")
    p = add(print_sub, "jobs", _jobs, "the local print queue, newest first (states brought up to date)")
    p.add_argument("--limit", type=_limit, default=50, help="how many jobs (50)")
    p = add(print_sub, "retry", _retry, "send a failed job to its printer again")
    p.add_argument("job", metavar="JOB", help="the job id (see `beffroi print jobs`)")


