"""Paper where paper is needed: receipts, queue tickets and the register, sent
to the terminal's CUPS queues through a local print queue that never blocks
the desk.

The API other packages call (the counter, the kiosk, continuity's register)::

    from printing import submit
    job = submit(terminal_or_home, "register", pdf_bytes, "Registre 2026-03-02", kind="register")

``submit`` only records the job (and its PDF) in ``<home>/print.db``: it never
waits for CUPS. Whoever runs a :class:`printing.spool.Spool` pump (the counter
and the kiosk do, every second, off the UI thread; the CLI does once per
command) hands queued jobs to CUPS and follows them to ``done`` or ``failed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .printers import ROLES
from .spool import Spool

__all__ = ["ROLES", "Spool", "submit"]


def submit(terminal_or_home: Any, role: str, pdf: bytes, title: str, kind: str = "document",
           ref: str | None = None, printer: str | None = None) -> dict[str, Any]:
    """Queue ``pdf`` for the terminal's ``role`` printer (receipts, tickets or
    register) and return the job; a refusal (unknown role, no printer set, not a
    PDF) is a :class:`hub.errors.Invalid` with its French and English message."""
    home = Path(getattr(terminal_or_home, "home", terminal_or_home))
    return Spool(home).submit(role, pdf, title, kind=kind, ref=ref, printer=printer)
