"""Every enrolled terminal as IT staff see it during an incident, from the SoR's
index: its status, the last segment the SoR holds of it and when it came,
whether its chain of segments holds, its forks; and the epoch rotation.

The ops console and the SoR's ``/metrics`` read this; it reads the index only
(what the SoR knows without reading a segment), so it is cheap at any size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .index import Index, admin_keys, load_city
from .keys import fingerprint, unb64

# One pass over the segments per origin: the chain holds when each segment's
# prev is the hash of the one before it (GENESIS-linked first), seqs follow.
_OVERVIEW = """
WITH chained AS (
    SELECT origin, first, last, hash, prev, size, stored_at,
           lag(hash) OVER w AS before_hash, lag(last) OVER w AS before_last
    FROM segments WINDOW w AS (PARTITION BY origin ORDER BY first)
)
SELECT origin, count(*), sum(size), max(last), max(stored_at),
       sum(CASE WHEN before_hash IS NULL THEN first != 1
                ELSE prev != before_hash OR first != before_last + 1 END)
FROM chained GROUP BY origin
"""


def overview(index: Index, now: float, silent_after: float = 900.0) -> list[dict[str, Any]]:
    """One row per terminal that asked to enrol, in name order."""
    stats = {row[0]: row[1:] for row in index.conn.execute(_OVERVIEW)}
    forks = dict(index.conn.execute("SELECT origin, count(*) FROM forks GROUP BY origin").fetchall())
    rows = []
    for device in index.devices():
        segments, size, last, seen, breaks = stats.get(device["id"], (0, 0, 0, None, 0))
        rows.append({
            "terminal": device["id"], "name": device["name"], "status": device["status"],
            "fingerprint": fingerprint(unb64(device["sign_pub"])), "requested_at": device["requested_at"],
            "segments": segments, "bytes": size or 0, "last_seq": last or 0, "last_seen": seen,
            "chain_ok": not breaks and not forks.get(device["id"]), "forks": forks.get(device["id"], 0),
            "silent": device["status"] == "active" and (seen is None or now - seen > silent_after),
        })
    return sorted(rows, key=lambda r: (r["name"], r["terminal"]))


def rotate_epoch(home: Path, reason: str) -> int:
    """A fresh data key for every active terminal (e.g. after a key may have
    leaked); returns the new epoch."""
    city = load_city(home)
    index = Index(home)
    try:
        with index.transaction():
            return index.new_epoch(admin_keys(home), city, reason)
    finally:
        index.close()
