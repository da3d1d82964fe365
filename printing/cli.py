"""``beffroi printer set|list`` and ``beffroi print receipt|ticket|jobs|retry``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from hub.cli import UsageError, cli_principal, emit, home_of, open_terminal
from hub.errors import Invalid

from . import cups as cupsio
from . import printers
from .spool import Spool, when

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


def _set(args: argparse.Namespace) -> int:
    home = home_of(args)
    open_terminal(args).close()
    server = printers.check_server(args.server)
    queue = printers.check_queue(args.queue)
    if not args.no_check:
        state = cupsio.printer_state(server, queue)
        if not state.reachable:
            raise Invalid(f"no CUPS answers at {server or 'the local print server'}: start cupsd, check --server, "
                          "or pass --no-check to set it anyway",
                          f"aucun CUPS ne répond à {server or 'le serveur d’impression local'} : démarrez cupsd, "
                          "vérifiez --server, ou ajoutez --no-check pour l’enregistrer quand même")
        if not state.exists:
            raise Invalid(f"CUPS has no queue {queue}; see `beffroi printer list`",
                          f"CUPS n'a pas de file {queue} ; voir `beffroi printer list`")
    entry = printers.set_printer(home, args.role, queue, server)
    emit(args, {"role": args.role, **entry}, lambda e: f"{args.role} print on {e['queue']}"
         + (f" at {e['server']}" if e["server"] else ""))
    return 0


def _list(args: argparse.Namespace) -> int:
    home = home_of(args)
    open_terminal(args).close()
    roles = printers.read(home)
    servers = {entry.get("server") for entry in roles.values()} | {args.server}
    found = []
    for server in sorted(servers, key=lambda s: s or ""):
        try:
            queues = cupsio.printers(server)
        except cupsio.Unreachable as error:
            found.append({"server": server, "queue": None, "error": str(error)})
            continue
        for q in queues:
            used = [r for r, e in roles.items() if e["queue"] == q.queue and e.get("server") == server]
            found.append({"server": server, "queue": q.queue, "roles": used, "state": q.state,
                          "accepting": q.accepting, "trouble": q.trouble, "message": q.message,
                          "info": q.info, "device": q.device})
    data = {"roles": roles, "printers": found}

    def text(d: dict) -> str:
        lines = [f"{role}: {e['queue']}" + (f" at {e['server']}" if e.get("server") else "") for role, e in roles.items()]
        lines = lines or ["no printer set: beffroi printer set receipts|tickets|register QUEUE"]
        for p in d["printers"]:
            if p["queue"] is None:
                lines.append(f"{p['server'] or 'local CUPS'}: unreachable ({p['error']})")
            else:
                state = ", ".join(p["trouble"]) or "ready"
                lines.append(f"  {p['queue']:<20} {state:<24} {'/'.join(p['roles']) or '-':<18} {p['info']}")
        return "\n".join(lines)
    emit(args, data, text)
    return 0


def _print_receipt(args: argparse.Namespace) -> int:
    from tui import i18n
    from tui.receipt import payer_of, render_receipt
    i18n.set_lang(args.lang)
    spool = Spool(home_of(args))
    with open_terminal(args) as terminal:
        session = terminal.session(cli_principal())
        payment = session.payments.by_receipt(args.number)
        case = session.cases.get(payment["case_id"])
        # Refuse before the journal records a duplicate that could not be printed.
        printers.check_queue(args.printer) if args.printer else printers.require(terminal.home, "receipts")
        copy = session.payments.duplicate(payment["id"])
        import datetime as dt
        pdf = render_receipt(terminal, payment, case, payer_of(session, case), copy, printed_at=dt.datetime.now(dt.UTC))
    job = spool.submit("receipts", pdf, f"Receipt {payment['receipt_number']} DUPLICATA {copy['copy']}",
                       kind="duplicate", ref=payment["receipt_number"], printer=args.printer)
    job = _hand_over(spool, job)
    emit(args, {**job, "copy": copy["copy"]}, lambda j: f"receipt {payment['receipt_number']} DUPLICATA "
         f"no. {copy['copy']}: job {j['id']} {j['state']} on {j['queue']}" + (f" ({j['reason']})" if j["reason"] else ""))
    return 0 if job["state"] != "failed" else 1


def _print_ticket(args: argparse.Namespace) -> int:
    import datetime as dt

    from tui import i18n
    from tui.ticket import render_ticket
    i18n.set_lang(args.lang)
    day = args.day or dt.date.today().isoformat()
    spool = Spool(home_of(args))
    with open_terminal(args) as terminal:
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


def _serve_demo(args: argparse.Namespace) -> int:
    import signal

    from .demo import start_demo_printers
    home = home_of(args)
    open_terminal(args).close()
    stop = start_demo_printers(home)
    if stop is None:
        raise Invalid("the demo printers are already running, or cannot run here (see the message above)",
                      "les imprimantes de démonstration tournent déjà, ou ne peuvent pas tourner ici (voir ci-dessus)")
    print(f"demo printers up: receipts and tickets print as PDF into {home / 'printed'}; Ctrl-C stops them", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stop()
    return 0


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise argparse.ArgumentTypeError("--limit: a number of jobs from 1 to 10000")
    return int(value)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def add(parent, name: str, func, help: str):
        p = parent.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    printer = sub.add_parser("printer", help="which CUPS queues this terminal prints on",
                             description="which CUPS queues this terminal prints on")
    printer_sub = printer.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(printer_sub, "set", _set, "print a role's documents on a CUPS queue")
    p.add_argument("role", choices=printers.ROLES, help="receipts (counter), tickets (kiosk), register (continuity)")
    p.add_argument("queue", metavar="QUEUE", help="the CUPS queue name (see `beffroi printer list`)")
    p.add_argument("--server", metavar="HOST[:PORT]|SOCKET", help="CUPS server holding the queue (default: this machine's)")
    p.add_argument("--no-check", action="store_true", help="do not ask CUPS whether the queue exists")
    p = add(printer_sub, "list", _list, "the CUPS queues, their state, and the role each prints")
    p.add_argument("--server", metavar="HOST[:PORT]|SOCKET", help="also list this CUPS server's queues")
    add(printer_sub, "demo", _serve_demo, "run the demo printers (a private cupsd with PDF queues) until Ctrl-C")

    print_ = sub.add_parser("print", help="print receipts and tickets; the local print queue",
                            description="print receipts and tickets; the local print queue")
    print_sub = print_.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(print_sub, "receipt", _print_receipt, "reprint a receipt (marked DUPLICATA, recorded in the journal)")
    p.add_argument("number", metavar="NUMBER", help="the receipt number, e.g. MAIRIE-01-000042")
    p.add_argument("--printer", metavar="QUEUE", help="this CUPS queue instead of the receipts printer")
    p.add_argument("--lang", choices=["fr", "en"], default="fr", help="language of the receipt (fr)")
    p = add(print_sub, "ticket", _print_ticket, "print a queue ticket again")
    p.add_argument("label", metavar="LABEL", help="the ticket, e.g. V003")
    p.add_argument("--day", metavar="YYYY-MM-DD", help="the ticket's day (today)")
    p.add_argument("--printer", metavar="QUEUE", help="this CUPS queue instead of the tickets printer")
    p.add_argument("--lang", choices=["fr", "en"], default="fr", help="language of the ticket (fr)")
    p = add(print_sub, "jobs", _jobs, "the local print queue, newest first (states brought up to date)")
    p.add_argument("--limit", type=_limit, default=50, help="how many jobs (50)")
    p = add(print_sub, "retry", _retry, "send a failed job to its printer again")
    p.add_argument("job", metavar="JOB", help="the job id (see `beffroi print jobs`)")


def _demo(home) -> Any:
    from .demo import start_demo_printers
    return start_demo_printers(home)


def commands() -> dict:
    return {"register": register, "demo": _demo}


__all__ = ["commands", "UsageError"]
