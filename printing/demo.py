"""The demo's printers: a private cupsd with two PDF queues, one for the
counter's receipts and one for the kiosk's tickets, whose "paper" is a folder
of PDFs in the demo home (``printed/receipts``, ``printed/tickets``)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import printers
from .cupsd import PrivateCups, available

QUEUES = {"receipts": "BEFFROI-RECUS", "tickets": "BEFFROI-TICKETS"}


def start_demo_printers(home: Path) -> Callable[[], None] | None:
    why = available()
    if why:
        print(f"beffroi: demo printers not started: {why}", file=sys.stderr)
        return None
    home = Path(home).resolve()
    # cupsd's filters run as lp: its folder must be reachable by lp, which a home under /root is not.
    tag = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"beffroi-cups-{os.getuid()}-{tag}"
    cupsd = PrivateCups(folder).start()
    for role, queue in QUEUES.items():
        cupsd.add_pdf_queue(queue, home / "printed" / role)
        printers.set_printer(home, role, queue, cupsd.socket)
    return cupsd.stop
