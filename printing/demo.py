"""The demo's printers: a private cupsd with two PDF queues, one for the
counter's receipts and one for the kiosk's tickets, whose "paper" is a folder
of PDFs in the demo home (``printed/receipts``, ``printed/tickets``).

`beffroi demo` starts them for as long as the counter is open; `beffroi
printer demo` keeps them up until Ctrl-C (for a kiosk beside the counter).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import cups as cupsio
from . import printers
from .cupsd import PrivateCups, available


def demo_queues(home: Path) -> tuple[Path, dict[str, str]]:
    """The private cupsd's folder and the queue names, both derived from the
    home, so two demo homes on one machine never print into each other
    (cups-pdf's per-queue settings live in /etc/cups, by queue name)."""
    home = Path(home).resolve()
    tag = hashlib.sha256(str(home).encode()).hexdigest()[:8].upper()
    # cupsd's filters run as lp: its folder must be reachable by lp, which a home under /root is not.
    folder = Path(tempfile.gettempdir()) / f"beffroi-cups-{os.getuid()}-{tag}"
    return folder, {"receipts": f"BEFFROI-RECUS-{tag}", "tickets": f"BEFFROI-TICKETS-{tag}"}


def start_demo_printers(home: Path) -> Callable[[], None] | None:
    """Start the demo printers and set them on the home; the callable stops
    them (None when they were already up, or cannot run here)."""
    why = available()
    if why:
        print(f"beffroi: demo printers not started: {why}", file=sys.stderr)
        return None
    home = Path(home).resolve()
    folder, queues = demo_queues(home)
    cupsd = PrivateCups(folder)
    try:
        running = {p.queue for p in cupsio.printers(cupsd.socket)}
    except cupsio.Unreachable:
        running = set()
    stop: Callable[[], None] | None = None
    if not set(queues.values()) <= running:
        cupsd.start()
        for role, queue in queues.items():
            cupsd.add_pdf_queue(queue, home / "printed" / role)

        def stop() -> None:
            cupsd.stop()
            shutil.rmtree(folder, ignore_errors=True)   # its spool and logs: the paper is in the home
    for role, queue in queues.items():
        printers.set_printer(home, role, queue, cupsd.socket)
    return stop
