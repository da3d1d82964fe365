"""Which CUPS queue prints what, for this terminal: ``<home>/printers.json``.

Each role names a queue and, optionally, the CUPS server that holds it (a
``host[:port]`` on the office LAN or a local socket path); without one, the
machine's own CUPS. Nothing here needs the data centre: a counter prints on
the office's network even when the city's systems are down.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hub.errors import Invalid
from hub.terminal import write_private

# receipts: the counter's payment receipts; tickets: the kiosk's queue
# tickets (80 mm roll); register: continuity's numbered register (A4), which
# goes to the receipts printer when no register printer is set.
ROLES = ("receipts", "tickets", "register")
FALLBACK = {"register": "receipts"}
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,126}$")
SERVER = re.compile(r"^(/[^\0]{1,200}|[A-Za-z0-9.-]{1,253}(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?)$")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(f"unknown printer role {role!r}: one of {', '.join(ROLES)}",
                      f"rôle d'imprimante inconnu {role!r} : l'un de {', '.join(ROLES)}")
    return role


def check_queue(queue: str) -> str:
    if not isinstance(queue, str) or not QUEUE_NAME.match(queue):
        raise Invalid(f"{queue!r} is not a CUPS queue name (letters, digits, _ . -); see `beffroi printer list`",
                      f"{queue!r} n'est pas un nom de file CUPS (lettres, chiffres, _ . -) ; voir `beffroi printer list`")
    return queue


def check_server(server: str | None) -> str | None:
    if server is None:
        return None
    if not SERVER.match(server):
        raise Invalid(f"{server!r} is not a CUPS server: host, host:port or the path of a local socket",
                      f"{server!r} n'est pas un serveur CUPS : hôte, hôte:port ou chemin d'une socket locale")
    return server


def _path(home: Path) -> Path:
    return Path(home) / "printers.json"


def read(home: Path) -> dict[str, dict[str, Any]]:
    """The roles set on this terminal; a damaged file reads as none set (the
    desk keeps working, the banner says no printer is set)."""
    try:
        data = json.loads(_path(home).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {role: entry for role, entry in data.items()
            if role in ROLES and isinstance(entry, dict) and isinstance(entry.get("queue"), str)}


def printer_for(home: Path, role: str) -> dict[str, Any] | None:
    """The queue that prints ``role``'s documents (with its fallback), or None."""
    check_role(role)
    printers = read(home)
    return printers.get(role) or printers.get(FALLBACK.get(role, ""))


def require(home: Path, role: str) -> dict[str, Any]:
    """The role's printer, or the refusal that tells the agent how to set one."""
    target = printer_for(home, role)
    if target is None:
        raise Invalid(f"no printer set for {role}: run `beffroi printer set {role} QUEUE` (see `beffroi printer list`)",
                      f"aucune imprimante pour « {role} » : lancez `beffroi printer set {role} NOM_DE_FILE` "
                      "(voir `beffroi printer list`)", "no_printer")
    return target


def set_printer(home: Path, role: str, queue: str, server: str | None = None) -> dict[str, Any]:
    check_role(role)
    entry = {"queue": check_queue(queue), "server": check_server(server)}
    printers = read(home)
    printers[role] = entry
    write_private(_path(home), json.dumps(printers, indent=2, sort_keys=True).encode())
    return entry
