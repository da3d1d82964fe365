"""`beffroi counter`, `beffroi kiosk` (and `kiosk install`), plugged into the hub's CLI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from hub.cli import home_of
from hub.plugins import Commands
from hub.terminal import TERMINAL_NAME, Terminal

from .i18n import LANGS


def _lang(value: str) -> str:
    if value not in LANGS:
        raise argparse.ArgumentTypeError(f"language must be one of {', '.join(LANGS)}")
    return value


def _idle(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("idle delay must be a number of seconds") from None
    if not 5 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("idle delay must be between 5 and 3600 seconds")
    return seconds


def _kiosk_id(value: str) -> str:
    if not TERMINAL_NAME.match(value):
        raise argparse.ArgumentTypeError("kiosk id: 1 to 32 letters, digits, - or _, starting with a letter or digit")
    return value


def _home(args: argparse.Namespace) -> Path:
    home = home_of(args)
    Terminal.open(home).close()   # a missing home is refused here, with the hub's message
    return home


def run_counter(home: Path, lang: str = "fr", login: str = "auto") -> int:
    """Open the counter. ``login`` is pin, card, or auto: the card login when a
    reader holds a card (as in `beffroi demo`), else agent id + PIN."""
    from .counter.app import CounterApp
    from .login import CardLogin, PinLogin, card_present
    use_card = login == "card" or (login == "auto" and card_present())
    CounterApp(home, lang, login_method=CardLogin() if use_card else PinLogin()).run()
    return 0


def cmd_counter(args: argparse.Namespace) -> int:
    return run_counter(_home(args), args.lang, args.login)


def _count(low: int, high: int, what: str):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}")
        return number
    return parse


def _kiosk_args(args: argparse.Namespace, home: Path) -> list[str]:
    """The same kiosk, for the supervisor to start again and again."""
    command = ["--home", str(home), "--lang", args.lang, "--idle", str(args.idle),
               "--maintenance-login", args.maintenance_login]
    return command + (["--kiosk-id", args.kiosk_id] if args.kiosk_id else [])


def cmd_kiosk(args: argparse.Namespace) -> int:
    # Textual's environment switches (TEXTUAL_ALLOW_SIGNALS gives ctrl+c its
    # signal back) have no say at a kiosk.
    for name in [n for n in os.environ if n.startswith("TEXTUAL")]:
        del os.environ[name]
    if args.out_of_service:
        from .kiosk.appliance import ignore_stop_signals
        from .kiosk.out_of_service import OutOfServiceApp
        ignore_stop_signals()
        OutOfServiceApp(args.lang, own_process=True).run()
        return 1
    home = _home(args)
    if args.supervised:
        from .kiosk.supervisor import Supervisor
        beffroi = [sys.executable, "-m", "hub.cli", "kiosk"]
        return Supervisor(kiosk=[*beffroi, *_kiosk_args(args, home)],
                          out_of_service=[*beffroi, "--out-of-service", "--lang", args.lang],
                          lang=args.lang, max_crashes=args.max_crashes, window=args.crash_window).run()
    from .kiosk.appliance import ignore_stop_signals, name_process
    ignore_stop_signals()   # until the app's raw keyboard mode takes over, and after
    from .kiosk.app import KioskApp
    if args.standby is not None:
        # The supervisor's spare: everything imported, the terminal untouched,
        # until the supervisor says go (or goes away: end of file).
        name_process("beffroi-spare")
        with os.fdopen(args.standby, "rb", buffering=0) as go:
            if not go.read(1):
                return 0
    name_process("beffroi-kiosk")
    app = KioskApp(home, args.lang, idle_seconds=args.idle, kiosk_id=args.kiosk_id,
                   maintenance_login=args.maintenance_login, own_process=True)
    app.run()
    return app.return_code if app.return_code is not None else 1


def cmd_kiosk_install(args: argparse.Namespace) -> int:
    from .kiosk.deployment import Install
    written = Install(root=args.root, user=args.user, home=args.home, program=args.program, tty=args.tty,
                      display=args.display, lang=args.lang, kiosk_id=args.kiosk_id, terminal=args.terminal,
                      city=args.city).apply()
    if args.json:
        print(json.dumps({"written": written, "root": str(args.root)}))
    else:
        print("\n".join(written))
        if args.root == Path("/"):
            print("next: systemctl daemon-reload && systemctl restart systemd-logind && reboot")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from .ops.app import OpsApp
    home = _home(args)
    if args.sor_home is not None:
        from continuity.ops import CityAdmin
        CityAdmin(args.sor_home).close()   # not a SoR home: refused here, before the screen
    OpsApp(home, args.lang, sor_home=args.sor_home, silent_after=args.silent_after).run()
    return 0


def _silent(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("silence limit must be a number of seconds") from None
    if not 10 <= seconds <= 7 * 86400:
        raise argparse.ArgumentTypeError("silence limit must be between 10 seconds and 7 days")
    return seconds


def register(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("counter", parents=[common], help="open the counter app (agents)")
    p.add_argument("--lang", type=_lang, default="fr", help="fr (default) or en")
    p.add_argument("--login", choices=["auto", "pin", "card"], default="auto",
                   help="card + PIN, agent id + PIN, or auto (card when a reader holds one)")
    p.set_defaults(func=cmd_counter)
    p = subparsers.add_parser("kiosk", parents=[common], help="open the kiosk app (citizens), full screen")
    p.add_argument("--lang", type=_lang, default="fr", help="fr (default) or en")
    p.add_argument("--idle", type=_idle, default=90.0, help="seconds without input before the kiosk resets (90)")
    p.add_argument("--kiosk-id", type=_kiosk_id, default=None, help="name of this kiosk in the journal (default: the terminal name)")
    p.add_argument("--maintenance-login", choices=["auto", "card", "pin"], default="auto",
                   help="how IT staff prove they may leave the kiosk: ops card + PIN, ops id + PIN, or auto "
                        "(the card when a reader holds one)")
    p.add_argument("--supervised", action="store_true",
                   help="restart the kiosk at once whenever it ends; after repeated crashes show out of service")
    p.add_argument("--max-crashes", type=_count(2, 100, "--max-crashes"), default=5,
                   help="crashes within --crash-window that make a supervised kiosk give up (5)")
    p.add_argument("--crash-window", type=_count(1, 86400, "--crash-window"), default=60,
                   help="seconds over which crashes are counted (60)")
    p.add_argument("--standby", type=_count(3, 1023, "--standby"), default=None, metavar="FD",
                   help="(used by --supervised) load everything, then wait for a byte on FD before showing the kiosk")
    p.add_argument("--out-of-service", action="store_true",
                   help="show only the fixed out-of-service screen (what --supervised falls back to)")
    p.set_defaults(func=cmd_kiosk)
    kiosk = p.add_subparsers(dest="kiosk_command", metavar="install", required=False)
    i = kiosk.add_parser("install", parents=[common],
                         help="write the systemd files that boot this machine into the supervised kiosk")
    i.add_argument("--user", required=True, help="the unprivileged user the kiosk runs as (e.g. kiosk)")
    i.add_argument("--root", type=Path, default=Path("/"), help="write under this directory instead of / (an image)")
    i.add_argument("--program", type=Path, default=None, help="path of the beffroi program (default: this one)")
    i.add_argument("--tty", default="tty1", help="the virtual console the kiosk owns (tty1)")
    i.add_argument("--display", choices=["console", "cage"], default="console",
                   help="console: the text console; cage: a full-screen terminal in the cage Wayland kiosk")
    i.add_argument("--lang", type=_lang, default="fr", help="fr (default) or en")
    i.add_argument("--kiosk-id", type=_kiosk_id, default=None, help="name of this kiosk in the journal")
    i.add_argument("--terminal", type=_kiosk_id, default=None,
                   help="create the terminal home with this name when it does not exist yet")
    i.add_argument("--city", default="Ville de Beffroi", help="the city's name, for a new terminal home")
    i.set_defaults(func=cmd_kiosk_install)


def _register_all(subparsers, common: argparse.ArgumentParser) -> None:
    from .print_cli import register as register_print
    register(subparsers, common)
    register_print(subparsers, common)

    p = subparsers.add_parser("ops", parents=[common], help="open the ops console (IT staff, during an incident)")
    p.add_argument("--lang", type=_lang, default="fr", help="fr (default) or en")
    p.add_argument("--sor-home", type=Path, metavar="DIR",
                   help="the SoR home holding index.db and the admin key folder (terminals, keys, orders)")
    p.add_argument("--silent-after", type=_silent, default=900.0,
                   help="seconds without a segment before a terminal stands out (900)")
    p.set_defaults(func=cmd_ops)


def commands() -> Commands:
    return Commands(_register_all, app=run_counter)
