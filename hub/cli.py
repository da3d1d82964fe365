"""The ``beffroi`` command line.

Contract relied on by scripts and the ops team: every command takes ``--home``;
``--json`` prints data; bad input prints one line on stderr, exits 2 and writes
nothing. Other packages (tui, replication, card, continuity) add their commands
through the ``beffroi.commands`` entry point, so the hub imports none of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from . import ids, plugins
from .errors import HubError
from .roles import Principal
from .terminal import DEFAULT_CITY, Terminal, default_home

EXIT_REFUSED = 2


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=None,
                        help="terminal home directory (default: $BEFFROI_HOME, else the platform data dir)")
    common.add_argument("--json", action="store_true", help="print data as JSON")
    return common


def home_of(args: argparse.Namespace) -> Path:
    return args.home if args.home is not None else default_home()


def open_terminal(args: argparse.Namespace) -> Terminal:
    return Terminal.open(home_of(args))


def cli_principal() -> Principal:
    """Whoever runs the CLI holds the terminal's files: an ops principal, named
    by $BEFFROI_AGENT so the journal says who it was."""
    return Principal.ops(os.environ.get("BEFFROI_AGENT", "cli"))


def emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str] | str | None = None) -> None:
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    elif callable(text):
        print(text(data))
    elif text is not None:
        print(text)
    else:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def parse_fields(pairs: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--field takes KEY=VALUE, got {pair!r}")
        fields[key.strip()] = value
    return fields


# --- commands -------------------------------------------------------------

def cmd_init(args: argparse.Namespace) -> int:
    terminal = Terminal.init(home_of(args), args.terminal, args.city, office=args.office)
    emit(args, {"home": str(terminal.home), "terminal_id": terminal.id, "name": terminal.name},
         f"Terminal {terminal.name} ({terminal.id}) created in {terminal.home}")
    return 0


def cmd_services(args: argparse.Namespace) -> int:
    from .catalog import default_catalog
    catalog = default_catalog()
    data = [s.describe() for s in catalog]
    emit(args, data, lambda d: "\n".join(f"{s['code']:<28} {s['policy']:<12} {s['names']['fr']}" for s in d))
    return 0


def _citizen_line(c: dict[str, Any]) -> str:
    return f"{c['id']}  {c['last_name'].upper()} {c['first_name']}  {c.get('birth_date') or ''}  {c.get('postcode') or ''}"


def cmd_citizen_add(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        c = t.session(cli_principal()).citizens.register(
            first_name=args.first_name, last_name=args.last_name, birth_date=args.birth_date,
            postcode=args.postcode, phone=args.phone, address=args.address, email=args.email)
    if c["duplicates"] and not args.json:
        print(f"warning: {len(c['duplicates'])} citizen(s) with the same name and birth date already exist",
              file=sys.stderr)
    emit(args, c, _citizen_line)
    return 0


def cmd_citizen_edit(args: argparse.Namespace) -> int:
    changes = {k: getattr(args, k) for k in ("first_name", "last_name", "birth_date", "postcode", "phone",
                                              "address", "email") if getattr(args, k) is not None}
    with open_terminal(args) as t:
        c = t.session(cli_principal()).citizens.edit(args.id, **changes)
    emit(args, c, _citizen_line)
    return 0


def cmd_citizen_search(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        found = t.session(cli_principal()).citizens.search(args.query, limit=args.limit)
    emit(args, found, lambda d: "\n".join(map(_citizen_line, d)) or "no citizen found")
    return 0


def cmd_citizen_export(args: argparse.Namespace) -> int:
    from .access import export
    from .durable import write_private
    with open_terminal(args) as t:
        data = export(t.session(cli_principal()), args.id)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a folder")
    write_private(out, text.encode())   # personal data: readable by its owner only
    print(f"{len(data['cases'])} case(s), {len(data['events'])} event(s) written to {out}")
    return 0


def cmd_citizen_show(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        s = t.session(cli_principal())
        c = s.citizens.get(args.id)
        c["cases"] = s.cases.for_citizen(args.id)
        c["documents"] = s.vault.for_citizen(args.id)
    emit(args, c, lambda d: _citizen_line(d) + "".join(
        f"\n  {x['tracking_code']}  {x['service']:<26} {x['status']}" for x in d["cases"]))
    return 0


def _case_text(case: dict[str, Any]) -> str:
    lines = [f"{ids.format_tracking_code(case['tracking_code'])}  {case['service']}  status: {case['status']}",
             f"id: {case['id']}   verification ({case['verify_kind']}): {case['verify_value']}"]
    lines += [f"  {k}: {v}" for k, v in case["fields"].items()]
    if case.get("allowed"):
        lines.append(f"next: {', '.join(case['allowed'])}")
    return "\n".join(lines)


def cmd_case_new(args: argparse.Namespace) -> int:
    fields = parse_fields(args.field)
    with open_terminal(args) as t:
        case = t.session(cli_principal()).cases.open(args.service, args.citizen, fields)
    emit(args, case, _case_text)
    return 0


def cmd_case_show(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        case = t.session(cli_principal()).cases.get(args.key)
    emit(args, case, _case_text)
    return 0


def cmd_case_status(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        case = t.session(cli_principal()).cases.move(args.key, args.status, args.reason)
    emit(args, case, _case_text)
    return 0


def cmd_case_note(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        case = t.session(cli_principal()).cases.note(args.key, args.text)
    emit(args, case, _case_text)
    return 0


def cmd_pay(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        payment = t.session(cli_principal()).payments.take(args.key, args.amount_cents, args.method)
    emit(args, payment, lambda p: f"receipt {p['receipt_number']}: {p['amount_cents'] / 100:.2f} € by {p['method']}")
    return 0


def cmd_refund(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        payment = t.session(cli_principal()).payments.refund(args.payment, args.amount_cents, args.reason)
    emit(args, payment, lambda p: f"refund receipt {p['receipt_number']}: {p['amount_cents'] / 100:.2f} €")
    return 0


def cmd_queue_issue(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        ticket = t.session(cli_principal()).queue.issue(args.family)
    emit(args, ticket, lambda d: d["label"])
    return 0


def cmd_queue_call(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        ticket = t.session(cli_principal()).queue.call_next(args.family or None, args.desk)
    emit(args, ticket, lambda d: d["label"] if d else "nobody is waiting")
    return 0


def cmd_queue_close(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        ticket = t.session(cli_principal()).queue.close(args.ticket, args.outcome)
    emit(args, ticket, lambda d: f"{d['label']}: {d['status']}")
    return 0


def cmd_queue_list(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        waiting = t.session(cli_principal()).queue.waiting()
    emit(args, waiting, lambda d: "\n".join(f"{x['label']}  {x['id']}" for x in d) or "nobody is waiting")
    return 0


def cmd_vault_deposit(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path} is not a readable file")
    with open_terminal(args) as t:
        doc = t.session(cli_principal()).vault.deposit(args.citizen, path.name, path.read_bytes(), args.kind)
    emit(args, doc, lambda d: f"{d['id']}  {d['name']}  {d['media_type']}  {d['size']} bytes")
    return 0


def cmd_vault_list(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        docs = t.session(cli_principal()).vault.for_citizen(args.citizen)
    emit(args, docs, lambda d: "\n".join(f"{x['id']}  {x['name']}  {x['kind']}" for x in d) or "no document")
    return 0


def cmd_vault_get(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        content = t.session(cli_principal()).vault.read(args.document)
    Path(args.output).write_bytes(content)
    emit(args, {"path": args.output, "size": len(content)}, f"written to {args.output}")
    return 0


def cmd_vault_erase(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        doc = t.session(cli_principal()).vault.erase(args.document, args.reason)
    emit(args, doc, lambda d: f"document {d['id']} erased by {d['erased_by']}; its content is shredded on this "
                              "terminal, and at the SoR and on the other terminals at their next sync")
    return 0


def cmd_agent_add(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        agent = t.session(cli_principal()).agents.enroll(args.id, args.name, args.pin, args.role)
    emit(args, agent, lambda a: f"agent {a['id']} ({a['role']}) enrolled")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        problem = t.verify()
        count = t.journal.count()
    if problem is None:
        emit(args, {"ok": True, "events": count}, f"journal intact: {count} events")
        return 0
    data = {"ok": False, "origin": problem.origin, "seq": problem.seq, "reason": problem.reason}
    if args.json:
        emit(args, data)
    else:
        print(f"journal damaged: {problem}", file=sys.stderr)
    return 1


def cmd_state_hash(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        print(t.state_hash())
    return 0


def cmd_footprint(args: argparse.Namespace) -> int:
    from . import footprint
    with open_terminal(args) as t:
        data = footprint.report(t.conn, footprint.Factors.load(t.home), args.since, t.pending)
        names = {s.code: s.names["en"] for s in t.catalog}
    emit(args, data, lambda d: footprint.table(d, names))
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    with open_terminal(args) as t:
        count = t.rebuild()
        digest = t.state_hash()
    emit(args, {"events": count, "state_hash": digest}, f"rebuilt from {count} events; state-hash {digest}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import ensure_demo_home
    home = args.home if args.home is not None else default_home() / "demo"
    summary = ensure_demo_home(home, citizens=args.citizens, reset=args.reset)
    if args.no_ui:
        emit(args, summary, lambda s: f"demo home ready in {s['home']}: {s['citizens']} citizens, {s['cases']} cases")
        return 0
    plugins = plugins_loaded()
    counter = plugins.get("counter")
    if counter is None:
        print(f"demo home ready in {home}; the counter app is not installed", file=sys.stderr)
        return 0
    # Plugins prepare the demo (the card plugin inserts the demo agent's
    # virtual card) and hand back what undoes it when the app closes.
    cleanups = [undo for p in plugins.values() for undo in [p.demo(home)] if undo]
    try:
        return counter.run(home) or 0
    finally:
        for undo in cleanups:
            undo()


# --- parser ---------------------------------------------------------------

_loaded: dict[str, plugins.Plugin] | None = None


def plugins_loaded() -> dict[str, plugins.Plugin]:
    """The commands other packages provide (see :mod:`hub.plugins`), loaded once."""
    global _loaded
    if _loaded is None:
        _loaded = plugins.load()
    return _loaded


def build_parser() -> Parser:
    common = common_options()
    parser = Parser(prog="beffroi", description="Beffroi municipal service hub")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str,
            parent: argparse._SubParsersAction[Any] = sub) -> Parser:
        p: Parser = parent.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    def group(name: str, help: str) -> argparse._SubParsersAction[Any]:
        p = sub.add_parser(name, help=help, description=help)
        return p.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = add("init", cmd_init, "create a terminal home")
    p.add_argument("--terminal", required=True, help="terminal name, e.g. MAIRIE-01")
    p.add_argument("--city", default=DEFAULT_CITY)
    p.add_argument("--office", help="the office it stands in, e.g. ANNEXE-NORD (incident orders may name offices)")
    add("services", cmd_services, "list the service catalog")

    citizen = group("citizen", "register, edit and find citizens")
    for name, func, needed in (("add", cmd_citizen_add, True), ("edit", cmd_citizen_edit, False)):
        p = add(name, func, f"{name} a citizen", citizen)
        if not needed:
            p.add_argument("id")
        p.add_argument("--first-name", required=needed)
        p.add_argument("--last-name", required=needed)
        p.add_argument("--birth-date", required=needed, help="YYYY-MM-DD or DD/MM/YYYY")
        for opt in ("--postcode", "--phone", "--address", "--email"):
            p.add_argument(opt)
    p = add("search", cmd_citizen_search, "search citizens by name, birth date, address or phone", citizen)
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=20)
    p = add("show", cmd_citizen_show, "show a citizen with their cases", citizen)
    p.add_argument("id")
    p = add("export", cmd_citizen_export, "everything held about a citizen, as JSON (right of access)", citizen)
    p.add_argument("id")
    p.add_argument("--out", metavar="FILE", help="write to FILE (mode 0600) instead of standard output")

    case = group("case", "open and follow cases")
    p = add("new", cmd_case_new, "open a case", case)
    p.add_argument("--service", required=True)
    p.add_argument("--citizen", required=True)
    p.add_argument("--field", action="append", metavar="KEY=VALUE", default=[])
    p = add("show", cmd_case_show, "show a case by id or tracking code", case)
    p.add_argument("key", metavar="CODE_OR_ID")
    p = add("status", cmd_case_status, "move a case to a new status", case)
    p.add_argument("key", metavar="CODE_OR_ID")
    p.add_argument("status", metavar="NEW_STATUS")
    p.add_argument("--reason")
    p = add("note", cmd_case_note, "add a note to a case", case)
    p.add_argument("key", metavar="CODE_OR_ID")
    p.add_argument("text")

    p = add("pay", cmd_pay, "take a payment on a case")
    p.add_argument("key", metavar="CODE_OR_ID")
    p.add_argument("--amount-cents", type=int, required=True)
    p.add_argument("--method", required=True, choices=["cash", "card", "cheque"])
    p = add("refund", cmd_refund, "refund (part of) a payment")
    p.add_argument("payment")
    p.add_argument("--amount-cents", type=int, required=True)
    p.add_argument("--reason", required=True)

    queue = group("queue", "queue tickets")
    p = add("issue", cmd_queue_issue, "issue a ticket for a service family", queue)
    p.add_argument("family")
    p = add("call", cmd_queue_call, "call the next ticket", queue)
    p.add_argument("--family", action="append")
    p.add_argument("--desk")
    p = add("close", cmd_queue_close, "close a called ticket", queue)
    p.add_argument("ticket")
    p.add_argument("outcome", choices=["served", "no_show"])
    add("list", cmd_queue_list, "waiting tickets", queue)

    vault = group("vault", "the citizen document vault")
    p = add("deposit", cmd_vault_deposit, "deposit a PDF/PNG/JPEG document", vault)
    p.add_argument("--citizen", required=True)
    p.add_argument("--kind", default="autre")
    p.add_argument("file")
    p = add("list", cmd_vault_list, "a citizen's documents", vault)
    p.add_argument("citizen")
    p = add("get", cmd_vault_get, "write a document's content to a file", vault)
    p.add_argument("document")
    p.add_argument("output")
    p = add("erase", cmd_vault_erase, "erase a document for good (the citizen's right to erasure)", vault)
    p.add_argument("document")
    p.add_argument("--reason", required=True, help="why (e.g. \"demande RGPD\"), no personal details")

    agent = group("agent", "counter agents")
    p = add("add", cmd_agent_add, "enrol an agent with a PIN", agent)
    p.add_argument("--id", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--pin")
    p.add_argument("--role", default="agent", choices=["agent", "ops"])

    add("verify", cmd_verify, "check every hash chain of the journal")
    add("state-hash", cmd_state_hash, "print the hash of the projected state")
    add("rebuild", cmd_rebuild, "drop and rebuild the projections from the journal")
    p = add("footprint", cmd_footprint, "what each démarche costs: journal, SoR bytes, CPU, pages, gCO2e")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only what happened from that day (UTC)")
    p = add("demo", cmd_demo, "create a demo home with realistic data, then open the counter app")
    p.add_argument("--no-ui", action="store_true", help="only create the demo home")
    p.add_argument("--reset", action="store_true", help="recreate the demo home from scratch")
    p.add_argument("--citizens", type=int, default=300)

    for _name, plugin in sorted(plugins_loaded().items()):
        plugin.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args))
    except UsageError as exc:
        print(f"beffroi: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except HubError as exc:
        print(f"beffroi: error: {exc.en}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
