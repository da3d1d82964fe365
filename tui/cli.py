"""`beffroi counter` and `beffroi kiosk`, plugged into the hub's CLI."""

from __future__ import annotations

import argparse
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


def cmd_kiosk(args: argparse.Namespace) -> int:
    from .kiosk.app import KioskApp
    home = _home(args)
    KioskApp(home, args.lang, idle_seconds=args.idle, kiosk_id=args.kiosk_id).run()
    return 0


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
    p.set_defaults(func=cmd_kiosk)


def _register_all(subparsers, common: argparse.ArgumentParser) -> None:
    from .print_cli import register as register_print
    register(subparsers, common)
    register_print(subparsers, common)


def commands() -> Commands:
    return Commands(_register_all, app=run_counter)
