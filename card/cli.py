"""``beffroi card …``: issue virtual cards, run one against pcscd, log in, show
the readers. Refused logins exit 1 with the reason; bad input exits 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from hub.cli import UsageError, emit, home_of, open_terminal
from hub.errors import HubError
from hub.plugins import Commands

from . import ca
from .errors import CardError

WARNING = ("beffroi card serve: the virtual card is for development and tests only; its reader driver (vpcd) "
           "listens on every network interface. / La carte virtuelle sert au développement et aux tests "
           "uniquement ; son pilote (vpcd) écoute sur toutes les interfaces réseau.")


def cmd_provision(args: argparse.Namespace) -> int:
    if bool(args.agent) == bool(args.citizen):
        raise UsageError("give either --agent NAME or --citizen ID")
    with open_terminal(args) as t:  # cards are issued into a Beffroi home only
        city = t.city
    if args.citizen and args.role not in (None, "citizen"):
        raise UsageError("a citizen card has no --role")
    uid = args.agent or args.citizen
    role = "citizen" if args.citizen else (args.role or "agent")
    card = ca.issue(home_of(args), uid, args.name or uid, role, args.pin, city=city)
    emit(args, card, lambda c: f"virtual {c['role']} card issued for {c['name']} ({c['uid']}): {c['subject']}; "
                               f"run `beffroi card serve --card {c['uid']}` to insert it")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    open_terminal(args).close()
    card = ca.revoke(home_of(args), args.uid)
    emit(args, card, lambda c: f"card of {c['name']} ({c['uid']}, serial {c['serial']}) revoked")
    return 0


def _pick_card(home, uid: str | None) -> str:
    if uid:
        return uid
    known = sorted(p.stem for p in ca.cards_dir(home).glob("*.json"))
    if len(known) == 1:
        return known[0]
    if not known:
        raise UsageError(f"no virtual card in {ca.cards_dir(home)}; issue one with `beffroi card provision`")
    raise UsageError(f"several virtual cards ({', '.join(known)}); choose one with --card")


def cmd_serve(args: argparse.Namespace) -> int:
    from . import slots
    from .virtual import VPCD_PORTS, Insertion, VirtualCard
    print(WARNING, file=sys.stderr, flush=True)
    with open_terminal(args) as t:
        if t.config.get("production") is True:
            raise HubError("this terminal is configured for production: the virtual card will not run here",
                           "ce terminal est configuré pour la production : la carte virtuelle n'y tourne pas",
                           "production")
    home = home_of(args)
    card = VirtualCard.of(home, _pick_card(home, args.card))
    slots.ensure_pcscd()
    slot = None
    if args.port is None:
        if args.slot is not None and args.slot not in range(len(VPCD_PORTS)):
            raise UsageError(f"--slot is 0 to {len(VPCD_PORTS) - 1}")
        slot = slots.claim(timeout=0 if args.slot is None else 0.5, index=args.slot)
        port = slot.port
    else:
        port = args.port
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    insertion = Insertion(card, port).insert()
    try:
        where = f"port {port}"
        if slot is not None:
            from .reader import Pcsc
            with Pcsc() as pcsc:  # say "inserted" once pcscd sees it, so scripts can go on
                pcsc.wait(slot.reader, present=True, timeout=5)
            where = slot.reader
        print(f"card {card.uid} inserted in {where}; Ctrl-C removes it", flush=True)
        while not stop.wait(0.2) and insertion.thread.is_alive():
            pass
    except KeyboardInterrupt:
        pass
    finally:
        insertion.remove()
        if slot is not None:
            slot.release()
    return 0


def _refused(args: argparse.Namespace, exc: HubError, what: str = "login refused") -> int:
    if args.json:
        emit(args, {"ok": False, "code": exc.code, "en": exc.en, "fr": exc.fr,
                    **({"tries_left": exc.tries_left} if hasattr(exc, "tries_left") else {})})
    print(f"beffroi: {what}: {exc.en} / {exc.fr}", file=sys.stderr)
    return 1


def cmd_login(args: argparse.Namespace) -> int:
    from .login import authenticate
    pin = sys.stdin.readline().strip() if args.pin == "-" else args.pin  # "-" keeps the PIN out of `ps`
    with open_terminal(args) as t:
        try:
            done = authenticate(t, pin, args.reader, "citizen" if args.citizen else "agent")
        except CardError as exc:
            return _refused(args, exc)
    data = {"ok": True, **done.to_dict()}
    emit(args, data, lambda d: f"logged in: {d['name']} ({d['role']} {d['uid']}) with the card in {d['reader']}")
    return 0


def _secrets(args: argparse.Namespace, *names: str) -> list[str]:
    """The values of ``names``; each given as - is read from standard input, one
    line each in the order of ``names``, which keeps PINs out of `ps` and shell history."""
    values = []
    for name in names:
        value = getattr(args, name)
        if value == "-":
            value = sys.stdin.readline().rstrip("\r\n")
        values.append(value)
    return values


def cmd_blank(args: argparse.Namespace) -> int:
    open_terminal(args).close()
    card = ca.blank(home_of(args), args.card)
    emit(args, card, lambda c: f"factory-fresh virtual card {c['card']} (PIN 123456, PUK 12345678, default management "
                               f"key); insert it with `beffroi card serve --card {c['card']}` and enrol it with "
                               "`beffroi card enrol`")
    return 0


def cmd_enrol(args: argparse.Namespace) -> int:
    from . import management
    from .enrolment import enrol
    from .piv import pin_block, puk_block
    if bool(args.agent) == bool(args.citizen):
        raise UsageError("give either --agent ID or --citizen ID")
    if args.citizen and args.role not in (None, "citizen"):
        raise UsageError("a citizen card has no --role")
    pin, key, current_pin, current_puk = _secrets(args, "pin", "management_key", "current_pin", "current_puk")
    pin_block(pin), pin_block(current_pin), puk_block(current_puk)
    algorithm = management.BY_NAME[args.management_algorithm] if args.management_algorithm else None
    key = management.parse_key(key, algorithm or management.ALG_3DES) if key is not None else management.DEFAULT_KEY
    uid = args.agent or args.citizen
    role = "citizen" if args.citizen else (args.role or "agent")
    from hub.cli import cli_principal
    with open_terminal(args) as t:
        done = enrol(t, args.reader, uid, args.name or uid, role, pin, management_key=key, algorithm=algorithm,
                     current_pin=current_pin, current_puk=current_puk, by=cli_principal())
    emit(args, {"ok": True, **done.to_dict()}, lambda d: (
        f"card in {d['reader']} enrolled for {d['name']} ({d['role']} {d['uid']}), certificate serial {d['serial']}, "
        f"card GUID {d['guid']}.\n"
        f"  PUK (give it to the agent, sealed; it unblocks the PIN): {d['puk']}\n"
        + (f"  management key (keep it in the city's card register; needed to enrol this card again): "
           f"{d['management_key']}\n" if d["management_key"] else
           "  management key unchanged: this card has no command to change it (SP 800-73-4 leaves it to card "
           "makers); it keeps the key it had\n") +
        "  These two are shown once and stored nowhere on this terminal."))
    return 0


def cmd_change_pin(args: argparse.Namespace) -> int:
    from .errors import FactoryPin
    from .pins import FACTORY_PIN, change_pin
    from .piv import pin_block
    old, new = _secrets(args, "pin", "new_pin")
    pin_block(old), pin_block(new)
    if new == FACTORY_PIN:
        raise FactoryPin()
    try:
        reader = change_pin(old, new, args.reader)
    except CardError as exc:
        return _refused(args, exc, "PIN change refused")
    emit(args, {"ok": True, "reader": reader}, lambda d: f"PIN changed on the card in {d['reader']}")
    return 0


def cmd_unblock(args: argparse.Namespace) -> int:
    from .errors import FactoryPin
    from .pins import FACTORY_PIN, unblock
    from .piv import pin_block, puk_block
    puk, new = _secrets(args, "puk", "new_pin")
    puk_block(puk), pin_block(new)
    if new == FACTORY_PIN:
        raise FactoryPin()
    try:
        reader = unblock(puk, new, args.reader)
    except CardError as exc:
        return _refused(args, exc, "unblock refused")
    emit(args, {"ok": True, "reader": reader}, lambda d: f"PIN unblocked and replaced on the card in {d['reader']}")
    return 0


def _status() -> dict[str, Any]:
    from .piv import PivCard
    from .reader import Pcsc
    readers = []
    with Pcsc() as pcsc:
        for state in pcsc.states():
            entry: dict[str, Any] = {"reader": state.reader, "card": state.present}
            if state.present:
                entry["atr"] = state.atr.hex()
                try:
                    with pcsc.connect(state.reader) as link:
                        piv = PivCard(link)
                        piv.select()
                        entry["applet"] = "PIV"
                        cert = piv.certificate()
                        entry["subject"] = cert.subject.rfc4514_string()
                        entry["not_after"] = cert.not_valid_after_utc.isoformat()
                        entry["pin_tries"] = piv.pin_tries()
                except CardError as exc:
                    entry.setdefault("applet", None)
                    entry["problem"] = exc.en
            readers.append(entry)
    return {"pcscd": True, "readers": readers}


def _status_text(data: dict[str, Any]) -> str:
    if not data["readers"]:
        return "pcscd is running; no card reader is connected"
    lines = []
    for r in data["readers"]:
        if not r["card"]:
            lines.append(f"{r['reader']}: no card")
            continue
        line = f"{r['reader']}: card present, applet {r.get('applet') or 'none'}"
        if "subject" in r:
            line += f", {r['subject']}, PIN tries left {r['pin_tries']}"
        if "problem" in r:
            line += f" ({r['problem']})"
        lines.append(line)
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    try:
        data = _status()
    except CardError as exc:
        data = {"pcscd": False, "code": exc.code, "en": exc.en, "fr": exc.fr, "readers": []}
        if args.json:
            emit(args, data)
        print(f"beffroi: {exc.en} / {exc.fr}", file=sys.stderr)
        return 1
    emit(args, data, _status_text)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("card", help="smart-card login (PIV over PC/SC) and the virtual card",
                            description="smart-card login (PIV over PC/SC) and the virtual card")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def add(name, func, help):
        p = actions.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("provision", cmd_provision, "issue a virtual agent (or citizen) card from the home's demo city CA")
    p.add_argument("--agent", metavar="NAME", help="agent id, e.g. claire")
    p.add_argument("--citizen", metavar="ID", help="citizen id, for a kiosk vault card")
    p.add_argument("--pin", required=True, help="6 to 8 digits")
    p.add_argument("--role", choices=["agent", "ops"])
    p.add_argument("--name", help="holder's full name (default: the id)")
    p = add("revoke", cmd_revoke, "revoke a virtual card (adds it to the CA's revocation list)")
    p.add_argument("uid")
    p = add("serve", cmd_serve, "insert a virtual card into pcscd's vpcd reader until stopped "
                                "(development and tests only)")
    p.add_argument("--card", metavar="UID", help="which provisioned card (default: the only one)")
    p.add_argument("--slot", type=int, help="vpcd reader slot, 0 or 1 (default: the first free one)")
    p.add_argument("--port", type=int, help="vpcd port, for a caller that already owns the slot")
    p = add("login", cmd_login, "log in with the card and its PIN; exit 0 with the identity, 1 with the reason")
    p.add_argument("--pin", required=True, help="the PIN, or - to read it from standard input")
    p.add_argument("--reader", help="reader name (default: the first reader holding a card)")
    p.add_argument("--citizen", action="store_true", help="check against the citizen CA, as a kiosk does")
    add("status", cmd_status, "readers, card present, applet, certificate subject")
    p = add("enrol", cmd_enrol, "enrol any PIV card (YubiKey, PIV card, virtual card) with the standard commands: "
                                "new PIN, PUK and management key, key generated on the card, certificate from the "
                                "city CA, CHUID and CCC, recorded in the journal")
    p.add_argument("--agent", metavar="ID", help="agent id, e.g. claire")
    p.add_argument("--citizen", metavar="ID", help="citizen id, for a kiosk vault card")
    p.add_argument("--role", choices=["agent", "ops"])
    p.add_argument("--name", help="holder's full name (default: the id)")
    p.add_argument("--reader", required=True, help="the reader holding the card to enrol (see `beffroi card status`)")
    p.add_argument("--pin", required=True, help="the PIN the agent chooses (6 to 8 digits), or - to read it from "
                                                "standard input")
    p.add_argument("--management-key", metavar="HEX", help="the card's current management key, 48 hex digits, or - "
                                                           "(default: the factory key 0102…08)")
    p.add_argument("--management-algorithm", choices=sorted(management_names()),
                   help="the management key's algorithm (default: 3DES, then AES-192 as YubiKeys 5.7+ ship)")
    p.add_argument("--current-pin", default="123456", help="the card's current PIN (default: factory 123456), or -")
    p.add_argument("--current-puk", default="12345678", help="the card's current PUK (default: factory 12345678), "
                                                            "or -")
    p = add("change-pin", cmd_change_pin, "change the PIN of the card in the reader")
    p.add_argument("--pin", required=True, help="the current PIN, or - to read it from standard input")
    p.add_argument("--new-pin", required=True, help="the new PIN (6 to 8 digits), or - (read after --pin)")
    p.add_argument("--reader", help="reader name (default: the first reader holding a card)")
    p = add("unblock", cmd_unblock, "unblock a blocked PIN with the PUK given with the card, choosing a new PIN")
    p.add_argument("--puk", required=True, help="the PUK, or - to read it from standard input")
    p.add_argument("--new-pin", required=True, help="the new PIN (6 to 8 digits), or - (read after --puk)")
    p.add_argument("--reader", help="reader name (default: the first reader holding a card)")
    p = add("blank", cmd_blank, "create a factory-fresh virtual card (PIN 123456, PUK 12345678, default management "
                                "key) to enrol like a new YubiKey (development and tests)")
    p.add_argument("--card", required=True, metavar="LABEL", help="the card file's name, e.g. spare1")


def management_names() -> list[str]:
    from .management import BY_NAME
    return list(BY_NAME)


def prepare_demo(home: Path):
    """For `beffroi demo`: insert the demo agent's virtual card so a new user
    logs in with card + PIN 246810. Returns the cleanup, or None when PC/SC is not
    available here (the PIN login still works)."""
    from .demo import insert_demo_card
    try:
        inserted = insert_demo_card(Path(home))
    except (HubError, OSError) as exc:
        print(f"beffroi: no virtual card for the demo ({getattr(exc, 'en', exc)}); log in with agent id and PIN",
              file=sys.stderr)
        return None
    # The counter logs in with this reader, not whatever card sits in another one.
    os.environ["BEFFROI_CARD_READER"] = inserted.reader

    def undo() -> None:
        os.environ.pop("BEFFROI_CARD_READER", None)
        inserted.remove()
    return undo


def commands() -> Commands:
    return Commands(register, prepare_demo=prepare_demo)
