"""``beffroi`` commands for continuity: the mode, incident orders, the register.

``incident declare`` and ``incident end`` run on the city admin's machine with
the admin key folder that ``beffroi sor init`` made, and need no terminal home;
every other command acts on one terminal's home.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from hub.cli import UsageError, cli_principal, emit, open_terminal
from hub.plugins import Commands, command_adder


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _since_text(mode: dict[str, Any]) -> str:
    if mode["since"] is None:
        return ""
    return " since " + dt.datetime.fromtimestamp(mode["since"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _mode_text(m: dict[str, Any]) -> str:
    text = f"{m['mode']}{_since_text(m)}"
    if m["order"]:
        text += f" (order {m['order']})"
    if m["reason"]:
        text += f"\nreason: {m['reason']}"
    text += "".join(f"\nrecovery waits for {w}" for w in m.get("waiting_for") or [])
    register = m.get("register")
    if register and register.get("next") is not None:
        text += (f"\nincident register: numbers {register['first']}–{register['last']}, next {register['next']}, "
                 f"{register['left']} left" + (" — LOW, ask IT for a new range" if register["low"] else ""))
    tickets = m.get("tickets")
    if tickets:
        text += (f"\nqueue tickets: numbers {tickets['first']}–{tickets['last']}, next {tickets['next']}, "
                 f"{tickets['left']} left" + (" — LOW, ask IT for a new range" if tickets["low"] else ""))
    elif m["mode"] == "isolated":
        text += "\nqueue tickets: daily numbers of this terminal (no ticket range: other kiosks may print the same)"
    return text


def cmd_mode(args: argparse.Namespace) -> int:
    with open_terminal(args) as terminal:
        data = {"terminal": terminal.name, **terminal.mode().to_dict()}
        if data["mode"] == "recovery":
            from .resume import enrolment_exchange, last_report, waiting_for
            last = last_report(terminal)     # of this recovery only, not an earlier incident's
            exchanged = bool(last and last.get("until_hlc") == data["since_hlc"] and last.get("exchanged"))
            data["waiting_for"] = waiting_for(terminal, exchanged or enrolment_exchange(terminal) is None) or [
                "its next pass (`beffroi sync --watch` runs it, or `beffroi recovery` by hand)"]
    emit(args, data, _mode_text)
    return 0


# --- orders (admin side) ------------------------------------------------------

def _admin(folder: Path, city_name: str | None) -> tuple[Any, str, str]:
    """The admin signing key, the city's name and the key's fingerprint, from
    the admin key folder (or the SoR home holding it)."""
    from replication import keys
    from replication.keys import KeyPair
    folder = Path(folder)
    if (folder / "admin" / "admin-sign.key").exists():
        folder = folder / "admin"
    if not (folder / "admin-sign.key").exists():
        raise UsageError(f"--admin {folder}: no admin-sign.key there (give the admin folder `beffroi sor init` made)")
    pair = KeyPair.load(folder, "admin")
    city_file = folder.parent / "sor.json"
    if city_name is None and city_file.exists():
        city_name = json.loads(city_file.read_text("utf-8")).get("city")
    if not city_name:
        raise UsageError("--city is required when the admin folder is not inside its SoR home")
    return pair.sign, city_name, keys.fingerprint(keys.public_bytes(pair.sign))


def _issue(args: argparse.Namespace, kind: str) -> int:
    from .orders import Scope, parse_ranges, sign, verify
    if args.out is None and args.sor is None:
        raise UsageError("give --out FILE (a USB stick) and/or --sor URL (publish it)")
    if args.out is not None and Path(args.out).exists():
        raise UsageError(f"{args.out} already exists: an order file is never overwritten")
    if args.out is not None and not Path(args.out).parent.is_dir():
        raise UsageError(f"{Path(args.out).parent} is not a folder: mount the USB stick or give another --out")
    if not 1 <= args.valid_days <= 365:
        raise UsageError("--valid-days must be between 1 and 365")
    key, city, fingerprint = _admin(args.admin, args.city)
    raw = sign(key, kind=kind, city=city, admin_fingerprint=fingerprint, declared_by=args.by, reason=args.reason,
               scope=Scope.parse(args.scope), now=_now(), ranges=parse_ranges(getattr(args, "range", None)),
               tickets=parse_ranges(getattr(args, "tickets", None), "--tickets"), ends=getattr(args, "ends", None), validity=dt.timedelta(days=args.valid_days))
    from replication import keys
    order = verify(raw, {"city": city, "admin_fingerprint": fingerprint,
                         "admin_sign": keys.b64(keys.public_bytes(key))}, _now())
    published = None
    if args.sor is not None:
        from .publish import publish
        published = asyncio.run(publish(args.sor, raw))
    if args.out is not None:
        from hub.durable import write_private
        write_private(Path(args.out), raw)
    data = {"order": order.id, "kind": kind, "city": city, "scope": str(order.scope), "reason": args.reason,
            "issued": order.doc["issued"], "expires": order.doc["expires"], "fingerprint": order.fingerprint,
            "file": str(args.out) if args.out else None, "published": published}
    emit(args, data, lambda d: (
        f"incident order {d['order']} ({d['kind']}, scope {d['scope']}) signed for {d['city']}\n"
        f"fingerprint to read to the offices: {d['fingerprint']}\n"
        + (f"written to {d['file']}\n" if d["file"] else "") + (f"published to {args.sor}\n" if d["published"] else "")
        + f"valid until {d['expires']}"))
    return 0


def cmd_declare(args: argparse.Namespace) -> int:
    return _issue(args, "declare")


def cmd_end(args: argparse.Namespace) -> int:
    return _issue(args, "end")


# --- orders (terminal side) ----------------------------------------------------

def cmd_apply(args: argparse.Namespace) -> int:
    from .incident import apply, now_at
    from .orders import read_file
    raw = read_file(Path(args.file))
    with open_terminal(args) as terminal:
        data = apply(terminal, raw, now_at(terminal), cli_principal())
        if data["mode"] == "recovery":
            # Recovery starts by itself; `sync --watch` carries on if something is still down.
            from .resume import after_order
            done = after_order(terminal)
            data["recovery"] = {k: done[k] for k in ("mode", "waiting_for", "exchanged", "files")}
            data["mode"] = done["mode"]
    emit(args, data, lambda d: f"order {d['order']} ({d['kind']}) applied: terminal {d['terminal']} is now "
                               f"{d['mode']}\nfingerprint: {d['fingerprint']}" + (
                                   "".join(f"\nrecovery waits for {w}" for w in d["recovery"]["waiting_for"])
                                   + f"\nrecovery report: {d['recovery']['files'][1]}" if "recovery" in d else ""))
    return 0


def import_order_file(args: argparse.Namespace) -> int | None:
    """``beffroi bundle import FILE`` with an incident order on the stick: apply
    it (None when FILE is not an order, for the bundle reader to refuse)."""
    from .orders import FORMAT
    head = Path(args.file).read_bytes()[:200]
    if not head.startswith(b'{"doc":') or FORMAT.encode() not in Path(args.file).read_bytes()[:4096]:
        return None
    return cmd_apply(args)


def cmd_isolate_here(args: argparse.Namespace) -> int:
    from .incident import isolate_here, now_at
    if not args.card:
        raise UsageError("isolate-here needs --card: an ops agent's card and PIN")
    pin = sys.stdin.readline().strip() if args.pin == "-" else args.pin
    if not pin:
        raise UsageError("give the card's PIN with --pin PIN, or --pin - to read it from stdin")
    from card.login import login
    with open_terminal(args) as terminal:
        principal = login(terminal, pin, args.reader)
        data = isolate_here(terminal, principal, args.reason, now_at(terminal))
    emit(args, data, lambda d: f"terminal {d['terminal']} isolated by {data['by']} (local order {d['order']})")
    return 0


# --- the register -------------------------------------------------------------

def cmd_register_print(args: argparse.Namespace) -> int:
    from .register import print_register
    day = None
    if args.day is not None:
        try:
            day = dt.date.fromisoformat(args.day)
        except ValueError:
            raise UsageError(f"--day takes a date like 2026-11-30, got {args.day!r}")
    with open_terminal(args) as terminal:
        out = Path(args.out) if args.out else terminal.home / "registers" / f"register-{day or 'all'}.pdf"
        data = print_register(terminal, out, day)
        if args.to_printer:
            data["print_job"] = _to_printer(terminal, out, f"Registre d'incident {terminal.name} {day or ''}".strip())
    emit(args, data, lambda d: f"register of {d['acts']} act(s), {d['pages']} page(s), total {d['total']} "
                               f"written to {d['file']}\njournal head: {d['head']}" + (
                                   f"\nprint job {d['print_job']['id']} on {d['print_job']['queue']}: "
                                   f"{d['print_job']['state']}" if d.get("print_job") else ""))
    return 0


def _to_printer(terminal, pdf: Path, title: str) -> dict:
    """Queue the PDF for the terminal's register printer (`beffroi printer set
    register QUEUE`) and hand it to CUPS once; a stopped printer keeps it queued
    for the print queue to retry, the file stays where it was written."""
    from printing import submit
    from printing.spool import Spool
    job = submit(terminal, "register", pdf.read_bytes(), title, kind="register", ref=pdf.name)
    spool = Spool(terminal.home)
    spool.pump()
    job = spool.get(job["id"])
    return {"id": job["id"], "queue": job["queue"], "state": job["state"], "reason": job.get("reason")}


# --- the office relay ---------------------------------------------------------

def cmd_relay_init(args: argparse.Namespace) -> int:
    from hub.cli import home_of

    from .relay import init_relay
    data = init_relay(home_of(args), args.from_home)
    emit(args, data, lambda d: f"relay home for {d['city']} ready in {d['home']} ({d['devices']} terminal(s), "
                               f"{d['epochs']} key epoch(s)); serve it with `beffroi sor serve --home {d['home']}`")
    return 0


def cmd_relay_use(args: argparse.Namespace) -> int:
    from hub.cli import home_of

    from .relay import use_relay
    relays = use_relay(home_of(args), args.url, args.remove)
    emit(args, {"relays": relays}, lambda d: "relays: " + (", ".join(d["relays"]) or "none"))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    add = command_adder(common)

    add(sub, "mode", cmd_mode, "this terminal's mode (online, degraded, isolated, recovery), since when, which order")

    incident = sub.add_parser("incident", help="incident orders: declare, apply, end, isolate one terminal",
                              description="incident orders")
    isub = incident.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, func, help in (("declare", cmd_declare, "sign an order that isolates terminals (admin machine)"),
                             ("end", cmd_end, "sign an order that ends the incident: terminals go to recovery")):
        p = add(isub, name, func, help)
        p.add_argument("--admin", required=True, type=Path, metavar="DIR",
                       help="the admin key folder made by `beffroi sor init` (or its SoR home)")
        p.add_argument("--reason", required=True)
        p.add_argument("--scope", default="city", help="city (default), office:NAME[,NAME] or terminals:NAME[,NAME]")
        p.add_argument("--by", default="city admin", help="who declares (recorded in every terminal's journal)")
        p.add_argument("--city", help="the city's name, when the admin folder is not in its SoR home")
        p.add_argument("--out", metavar="FILE", help="write the order to FILE (e.g. on a USB stick)")
        p.add_argument("--sor", metavar="URL", help="publish the order to the SoR (or a relay)")
        p.add_argument("--valid-days", type=int, default=30, help="days the order stays valid (default 30)")
        if name == "declare":
            p.add_argument("--range", action="append", metavar="TERMINAL=FIRST-LAST",
                           help="incident-register numbers for a terminal (repeat per terminal)")
            p.add_argument("--tickets", action="append", metavar="TERMINAL=FIRST-LAST",
                           help="queue-ticket numbers for a terminal while isolated (repeat per terminal)")
        else:
            p.add_argument("--ends", metavar="ORDER_ID", help="the declare order this one ends")
    p = add(isub, "apply", cmd_apply, "verify an order file (USB stick) and apply it to this terminal")
    p.add_argument("file", metavar="FILE")
    p = add(isub, "isolate-here", cmd_isolate_here, "isolate this one terminal with an ops card + PIN")
    p.add_argument("--card", action="store_true", help="log in with the ops card in the reader")
    p.add_argument("--pin", default="-", help="the card's PIN, or - (default) to read it from stdin")
    p.add_argument("--reader", help="PC/SC reader name (default: the first holding a card)")
    p.add_argument("--reason", default="isolated by hand: no signed order can reach this terminal")

    relay = sub.add_parser("relay", help="office relays: the blind SoR program on the office LAN",
                           description="office relays")
    rel = relay.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(rel, "init", cmd_relay_init, "make a relay home (--home) from what an enrolled terminal knows")
    p.add_argument("--from", dest="from_home", required=True, type=Path, metavar="TERMINAL_HOME",
                   help="the home of a terminal of this city that has synced")
    p = add(rel, "use", cmd_relay_use, "sync this terminal with an office relay too (or --remove it)")
    p.add_argument("url", metavar="URL")
    p.add_argument("--remove", action="store_true")

    reg = sub.add_parser("register", help="the numbered incident register", description="the incident register")
    rsub = reg.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add(rsub, "print", cmd_register_print, "write the incident register as a PDF")
    p.add_argument("--day", metavar="YYYY-MM-DD", help="only the acts of that day (UTC)")
    p.add_argument("--out", metavar="FILE", help="default: <home>/registers/register-DAY.pdf")
    p.add_argument("--to-printer", action="store_true",
                   help="also print it on the terminal's register printer (`beffroi printer set register QUEUE`)")


def commands() -> Commands:
    return Commands(register)
