"""``beffroi printer set|list|demo``: which CUPS queue prints what. The
``beffroi print …`` commands (documents and the local print queue) are the
apps' (``tui/print_cli.py``), since the documents are theirs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from hub.cli import emit, home_of, open_terminal
from hub.errors import Invalid
from hub.plugins import Commands, command_adder

from . import cups as cupsio
from . import printers


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


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    add = command_adder(common)

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



def _demo(home: Path) -> Callable[[], None] | None:
    from .demo import start_demo_printers
    return start_demo_printers(home)


def commands() -> Commands:
    return Commands(register, prepare_demo=_demo)
