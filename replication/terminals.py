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
), per AS (
    SELECT origin, count(*) AS segments, sum(size) AS bytes, max(last) AS last_seq, max(stored_at) AS last_seen,
           sum(CASE WHEN before_hash IS NULL THEN first != 1
                    ELSE prev != before_hash OR first != before_last + 1 END) AS breaks
    FROM chained GROUP BY origin
), forked AS (SELECT origin, count(*) AS forks FROM forks GROUP BY origin)
SELECT d.id, d.name, d.office, d.status, d.sign_pub, d.requested_at, coalesce(p.segments, 0), coalesce(p.bytes, 0),
       coalesce(p.last_seq, 0), p.last_seen, coalesce(p.breaks, 0), coalesce(f.forks, 0)
FROM devices d LEFT JOIN per p ON p.origin = d.id LEFT JOIN forked f ON f.origin = d.id
ORDER BY d.name, d.id
"""


def overview(index: Index, now: float, silent_after: float = 900.0) -> list[dict[str, Any]]:
    """One row per terminal that asked to enrol, in name order (one query)."""
    rows = []
    for (tid, name, office, status, sign_pub, requested_at, segments, size, last, seen, breaks,
         forks) in index.conn.execute(_OVERVIEW):
        rows.append({
            "terminal": tid, "name": name, "office": office, "status": status, "fingerprint": fingerprint(unb64(sign_pub)),
            "requested_at": requested_at, "segments": segments, "bytes": size, "last_seq": last, "last_seen": seen,
            "chain_ok": not breaks and not forks, "forks": forks,
            "silent": status == "active" and (seen is None or now - seen > silent_after),
        })
    return rows


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
