"""What the kiosk app and its supervisor agree on, without Textual: the
supervisor must keep working when the app (or Textual itself) cannot start."""

from __future__ import annotations

import signal

# The kiosk's exit status once IT staff took it out of service: the
# supervisor stops on it, and on nothing else.
MAINTENANCE_EXIT = 10
# Signals a terminal or a stray process could send to stop or suspend the
# kiosk; with the keyboard in raw mode no key sends them, these are the rest.
IGNORED_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def ignore_stop_signals() -> None:
    for signum in IGNORED_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def name_process(name: str) -> None:
    """What ``ps`` (and IT staff) see: the kiosk on screen, ``beffroi-kiosk``,
    or the supervisor's spare waiting to replace it, ``beffroi-spare``."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name[:15])
    except OSError:   # not Linux: only the name is lost
        pass
