"""``beffroi`` commands for the outbox, the back-office simulators, recovery
and the drill: ``outbox [--json]``, ``outbox retry ID``, ``outbox aside ID --why``, ``outbox dead``,
``outbox deliver``, ``outbox connect``, ``outbox recover``, ``backoffice serve``,
``recovery``, ``conflicts [assign|resolve]``, ``drill``."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from hub.cli import UsageError, emit, home_of, open_terminal
from hub.plugins import Commands, command_adder

STATE_FR = {"queued": "en file", "sending": "en cours d'envoi", "sent": "envoyé", "failed": "en échec",
            "dead": "abandonné", "waiting": "attend une personne", "aside": "mis de côté"}


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def _line(i: dict[str, Any]) -> str:
    tail = i["reference"] if i["state"] == "sent" else (i["reason"] or "")
    if i["state"] == "aside":
        tail = f"set aside by {i['aside_by']} at {_when(i['aside_at'])}: {i['aside_why']} (back office said: {tail or '-'})"
    due = f" next {_when(i['due_at'])}" if i["state"] == "failed" else ""
    return (f"{i['id']:>6}  {i['state']:<8} {i['connector']:<11} {i['kind']:<20} tries {i['tries']}{due}"
            f"  {i['key']}  {tail}")


def _items_text(rows: list[dict[str, Any]], counts: dict[str, int] | None = None) -> str:
    head = ("  ".join(f"{s} {n}" for s, n in counts.items()) + "\n") if counts is not None else ""
    return head + ("\n".join(map(_line, rows)) or "the outbox is empty")


def _outbox(args: argparse.Namespace):
    from .outbox import Outbox
    return Outbox(open_terminal(args))


def _list(args: argparse.Namespace) -> int:
    box = _outbox(args)
    try:
        case_id = None
        if args.case:
            from hub.cli import cli_principal
            case_id = box.terminal.session(cli_principal()).cases.get(args.case)["id"]
        rows = [i.summary() for i in box.items(state=args.state, case_id=case_id)]
        counts = box.counts()
    finally:
        box.terminal.close()
    emit(args, {"counts": counts, "items": rows}, lambda d: _items_text(d["items"], d["counts"]))
    return 0


def _dead(args: argparse.Namespace) -> int:
    box = _outbox(args)
    try:
        rows = [i.summary() for i in box.items(state="dead")]
    finally:
        box.terminal.close()
    emit(args, rows, lambda r: _items_text(r) if r else "no dead item")
    return 0


def _retry(args: argparse.Namespace) -> int:
    box = _outbox(args)
    try:
        item = box.retry(args.id).summary()
    finally:
        box.terminal.close()
    emit(args, item, lambda i: f"item {i['id']} queued again (key {i['key']}, {i['connector']})")
    return 0


def _aside(args: argparse.Namespace) -> int:
    from hub.cli import cli_principal
    box = _outbox(args)
    try:
        item = box.set_aside(args.id, cli_principal().id, args.why).summary()
    finally:
        box.terminal.close()
    emit(args, item, lambda i: f"item {i['id']} set aside by {i['aside_by']} (key {i['key']}, {i['connector']});"
                               f" `beffroi outbox retry {i['id']}` sends it again")
    return 0


def _connect(args: argparse.Namespace) -> int:
    from .connectors import configure
    config = configure(home_of(args), args.name, args.url)
    emit(args, config, lambda c: "\n".join(f"{n:<11} {u}" for n, u in c.items()))
    return 0


def _recover(args: argparse.Namespace) -> int:
    box = _outbox(args)
    try:
        added = box.recover(args.origin)
        counts = box.counts()
    finally:
        box.terminal.close()
    emit(args, {"added": added, "counts": counts},
         lambda d: f"{d['added']} item(s) rebuilt from the journal; the back offices deduplicate what they hold")
    return 0


def _deliver(args: argparse.Namespace) -> int:
    from .connectors import Connectors, load
    from .outbox import Outbox, Pass, Policy
    if args.timeout <= 0 or args.interval <= 0:
        raise UsageError("--timeout and --interval must be positive")
    terminal = open_terminal(args)
    try:
        urls = load(terminal.home)
        if not urls:
            raise UsageError("no back office configured: add one with `beffroi outbox connect NAME URL`")
        box = Outbox(terminal, policy=Policy(timeout_s=args.timeout))

        async def run() -> Pass:
            async with Connectors(urls, args.timeout) as connectors:
                if args.watch:
                    return await watch(box, connectors, args.interval)
                if args.drain:
                    return await box.drain(connectors, deadline_s=args.drain)
                return await box.deliver(connectors)
        done = asyncio.run(run())
        counts = box.counts()
    finally:
        terminal.close()
    data = {"pass": vars(done), "counts": counts}
    emit(args, data, lambda d: f"sent {d['pass']['sent']}, failed {d['pass']['failed']}, dead {d['pass']['dead']},"
                               f" waiting {d['pass']['waiting']}; now: "
                               + ", ".join(f"{s} {n}" for s, n in d["counts"].items()))
    return 0


async def watch(box, connectors, interval: float):
    """Deliver what falls due, pass after pass, until SIGINT or SIGTERM (the
    outbox itself stays silent while the terminal is isolated)."""
    import signal
    import sys

    from .outbox import Pass
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    total = Pass()
    while not stopping.is_set():
        done = await box.deliver(connectors)
        total.add(done)
        if done.sent or done.failed or done.dead or done.waiting:
            print(f"sent {done.sent}, failed {done.failed}, dead {done.dead}, waiting {done.waiting}",
                  file=sys.stderr, flush=True)
        due = box.next_due(list(connectors))
        wait = interval if due is None else min(interval, max(0.05, due - box.clock()))
        try:
            await asyncio.wait_for(stopping.wait(), wait)
        except TimeoutError:
            pass
    return total


def _backoffice_serve(args: argparse.Namespace) -> int:
    from .backoffice.city import serve
    from .backoffice.simulator import Faults
    if not 0 <= args.port < 65536 - 4:
        raise UsageError("--port must be between 0 and 65531")
    if not 0 <= args.error_rate <= 1:
        raise UsageError("--error-rate must be between 0 and 1")
    if args.slow < 0:
        raise UsageError("--slow must be zero or positive")
    faults = Faults.mixed(args.error_rate)
    faults.slow_s = args.slow
    folder = args.dir or (home_of(args) / "backoffice")
    asyncio.run(serve(Path(folder), "127.0.0.1", args.port, faults, args.seed))
    return 0


def _recovery(args: argparse.Namespace) -> int:
    from .resume import enrolment_exchange, step
    if args.timeout <= 0 or (args.drain is not None and args.drain <= 0):
        raise UsageError("--timeout and --drain must be positive")
    terminal = open_terminal(args)
    try:
        mode = terminal.mode()
        if mode.name != "recovery":
            raise UsageError(f"this terminal is {mode.name}: recovery runs once the incident is ended"
                             " (`beffroi incident apply END_ORDER` or `beffroi incident end`)")
        exchange = enrolment_exchange(terminal, args.sor)
        # By hand, the outbox drains to the end (or --drain seconds), not one pass.
        report = asyncio.run(step(terminal, exchange=exchange, exchanged=exchange is None, timeout_s=args.timeout,
                                  drain_s=args.drain if args.drain is not None else float("inf"), out=args.out))
        if args.to_printer:
            from .cli import _to_printer
            report["print_job"] = _to_printer(terminal, Path(report["files"][1]),
                                              f"Rapport de reprise {terminal.name}")
    finally:
        terminal.close()
    emit(args, report, lambda r: (
        f"{r['terminal']['name']}: {r['offline_acts']} acts during the incident; outbox {r['outbox']['delivered']}"
        f" delivered, {r['outbox']['dead']} dead, {r['outbox']['waiting']} waiting, {r['outbox']['pending']} pending;"
        f" conflicts: {r['conflicts']['open']} without a person, {r['conflicts']['assigned']} assigned,"
        f" {r['conflicts']['resolved']} resolved; {r['merge_proposals']['open']} merge proposal(s) open;"
        f" now {r['mode']}" + "".join(f"\nwaiting for {w}" for w in r["waiting_for"])
        + f"\nreport: {r['files'][1]} and {r['files'][0]}"))
    return 0


def _conflict_line(c: dict[str, Any]) -> str:
    who = f" → {c['assigned_to']}" if c["assigned_to"] else ""
    done = f" ({c['resolution']}, {c['resolved_by']})" if c["state"] == "resolved" else ""
    return f"{c['id']}  {c['state']:<8} {c['kind']:<5} {c['subject']}{who}{done}\n    {c['detail']}"


def _conflicts_list(args: argparse.Namespace) -> int:
    from . import conflicts
    with open_terminal(args) as terminal:
        rows = [c.to_dict() for c in conflicts.listing(terminal.conn, args.state, args.assigned_to)]
        counts = conflicts.counts(terminal.conn)
    emit(args, {"counts": counts, "conflicts": rows},
         lambda d: "  ".join(f"{s} {n}" for s, n in d["counts"].items()) + "\n"
         + ("\n".join(map(_conflict_line, d["conflicts"])) or "no conflict"))
    return 0


def _conflicts_assign(args: argparse.Namespace) -> int:
    from hub.cli import cli_principal

    from . import conflicts
    with open_terminal(args) as terminal:
        done = conflicts.assign(terminal.session(cli_principal()), args.id, args.to, args.note).to_dict()
    emit(args, done, lambda c: f"conflict {c['id']} assigned to {c['assigned_to']}")
    return 0


def _conflicts_resolve(args: argparse.Namespace) -> int:
    from hub.cli import cli_principal

    from . import conflicts
    with open_terminal(args) as terminal:
        done = conflicts.resolve(terminal.session(cli_principal()), args.id, args.note, args.merge).to_dict()
    emit(args, done, lambda c: f"conflict {c['id']} resolved: {c['resolution']}")
    return 0


def _drill(args: argparse.Namespace) -> int:
    import sys

    from .drill import run, text_report
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        raise UsageError(f"{args.out} is not empty: the drill builds its city in a new folder")
    progress = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    result = run(args.terminals, args.demarches, args.backoffice_errors, args.seed, args.out, progress)
    emit(args, result, text_report)
    return 0 if result["converged"] else 1


def _positive_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    add = command_adder(common)

    outbox = add(sub, "outbox", _list, "what this terminal owes the back offices, item by item")
    outbox.add_argument("--state", choices=["queued", "sending", "sent", "failed", "dead", "waiting", "aside"])
    outbox.add_argument("--case", metavar="CODE_OR_ID", help="only the items of one case")
    actions = outbox.add_subparsers(dest="action", metavar="ACTION")
    p = add(actions, "retry", _retry, "send a failed, dead or waiting item again")
    p.add_argument("id", type=int, metavar="ID")
    p = add(actions, "aside", _aside, "set a failed, dead or waiting item aside: it will not be sent (retry undoes it)")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--why", required=True, help="why it will not be sent (recorded with who; $BEFFROI_AGENT names you)")
    add(actions, "dead", _dead, "the items given up after too many tries")
    p = add(actions, "deliver", _deliver, "send what is due now to the configured back offices")
    p.add_argument("--drain", type=float, metavar="SECONDS", help="keep going until nothing is pending, at most this long")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per send (default 10)")
    p.add_argument("--watch", action="store_true", help="keep delivering until stopped (SIGINT/SIGTERM)")
    p.add_argument("--interval", type=float, default=5.0, help="longest pause between passes with --watch (default 5)")
    p = add(actions, "connect", _connect, "point a connector at a back office (written to connectors.json)")
    p.add_argument("name", metavar="NAME", help="etat-civil, urbanisme, tresor or travaux")
    p.add_argument("url", metavar="URL")
    p = add(actions, "recover", _recover, "rebuild the outbox from the journal (after a restore)")
    p.add_argument("--origin", metavar="TERMINAL_ID", help="the wiped terminal whose items to take over")

    backoffice = sub.add_parser("backoffice", help="the back-office simulators",
                                description="the back-office simulators")
    bsub = backoffice.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(bsub, "serve", _backoffice_serve, "run the four back-office simulators on 127.0.0.1")
    p.add_argument("--dir", type=Path, help="where their stores live (default: <home>/backoffice)")
    p.add_argument("--port", type=int, default=0, help="first port (the four take it and the next three); 0: any")
    p.add_argument("--error-rate", type=_positive_rate, default=0.0,
                   help="fraction of requests that fail, mixing every failure mode")
    p.add_argument("--slow", type=float, default=0.0, help="seconds added to every answer")
    p.add_argument("--seed", type=int, help="seed of the failure draws")

    p = add(sub, "recovery", _recovery, "after the incident: verify, exchange, drain the outbox, write the report")
    p.add_argument("--out", type=Path, help="where to write recovery-report.json/.pdf (default <home>/recovery)")
    p.add_argument("--to-printer", action="store_true",
                   help="also print the report on the terminal's register printer")
    p.add_argument("--sor", metavar="URL", help="the SoR to exchange segments with (default: the enrolment's)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per send (default 10)")
    p.add_argument("--drain", type=float, metavar="SECONDS", help="stop draining after this long (default: until done)")

    p = add(sub, "conflicts", _conflicts_list, "conflicts after an incident: open, assigned, resolved")
    p.add_argument("--state", choices=["open", "assigned", "resolved"])
    p.add_argument("--assigned-to", metavar="AGENT_OR_OFFICE", help="only those given to this agent id or office:NAME")
    csub = p.add_subparsers(dest="action", metavar="ACTION")
    q = add(csub, "assign", _conflicts_assign, "give a conflict to an agent (id or name) or an office (office:NAME)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--to", required=True, metavar="AGENT_OR_OFFICE")
    q.add_argument("--note", help="why, for the person who takes it")
    q = add(csub, "resolve", _conflicts_resolve, "close a conflict with a note (a merge with --merge accept|reject)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--note", required=True)
    q.add_argument("--merge", choices=["accept", "reject"],
                   help="for a merge proposal: the same person (accept) or two people (reject)")

    p = add(sub, "drill", _drill, "the whole incident story on one machine: SoR, terminals, back offices")
    p.add_argument("--terminals", type=int, default=3, help="terminals in the city (2 to 20, default 3)")
    p.add_argument("--demarches", type=int, default=20, help="démarches each terminal serves offline (default 20)")
    p.add_argument("--backoffice-errors", type=_positive_rate, default=0.0, metavar="RATE",
                   help="fraction of back-office requests that fail, every way (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the démarches and failures (default 0)")
    p.add_argument("--out", type=Path, help="keep the city and the recovery report in this new folder")


def _demo(home: Path):
    from .demo import start_demo_backoffices
    return start_demo_backoffices(home)


def commands() -> Commands:
    return Commands(register, prepare_demo=_demo)
