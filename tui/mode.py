"""The terminal's operating mode, as the banner shows it.

Continuity (modes, incident orders) is another package; until it writes the
mode, this reads an optional ``mode`` entry of ``<home>/terminal.json`` —
either a name or ``{"name": ..., "since": ISO-8601}`` — and defaults to online.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

MODES = ("online", "degraded", "isolated", "recovery")


@dataclass(frozen=True)
class Mode:
    name: str
    since: dt.datetime | None = None


def read_mode(home: Path) -> Mode:
    try:
        entry = json.loads((Path(home) / "terminal.json").read_text("utf-8")).get("mode")
    except (OSError, ValueError):
        return Mode("online")
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or entry.get("name") not in MODES:
        return Mode("online")
    since = None
    try:
        since = dt.datetime.fromisoformat(entry["since"]) if entry.get("since") else None
    except (TypeError, ValueError):
        since = None
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return Mode(entry["name"], since)
