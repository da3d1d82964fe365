"""What IT staff do during an incident, as calls the ops console (and a test)
makes: read every terminal's state at the SoR, approve, revoke, rotate the
epoch, sign and carry incident orders, restore a wiped terminal.

The console never touches replication itself (an import contract says so):
this module is its one door, and each function is what the matching CLI
command does, so the screen and the command line cannot drift apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.durable import write_private
from hub.errors import Invalid, NotFound

from . import orders

# What the overview depends on, cheap to read: segments and forks only grow
# (their largest rowid), devices change by row or by status.
_INDEX_VERSION = ("SELECT (SELECT max(pos) FROM segments), (SELECT count(*) FROM segments), (SELECT max(id) FROM forks),"
                  " (SELECT group_concat(id || status || coalesce(office, ''), ',') FROM devices)")


class CityAdmin:
    """The city admin's side: the SoR home that holds ``index.db`` and, on the
    admin's machine, the ``admin/`` key folder made by ``beffroi sor init``."""

    def __init__(self, home: Path | str) -> None:
        from replication.index import Index, load_city
        self.home = Path(home)
        self.city = load_city(self.home)   # refuses a folder that is no SoR home, in fr/en
        self.index = Index(self.home)
        self._version: tuple | None = None
        self._rows: list[dict[str, Any]] = []

    def close(self) -> None:
        self.index.close()

    def terminals(self, now: float, silent_after: float = 900.0) -> list[dict[str, Any]]:
        """The overview (one SQL statement over every segment), read again only
        when the index changed: a new segment, fork or device, or a status.
        The console refreshes every few seconds; most of the time nothing came."""
        from replication.terminals import overview
        version = self.index.conn.execute(_INDEX_VERSION).fetchone()
        if version != self._version:
            self._rows, self._version = overview(self.index, now, silent_after), version
        return [{**r, "silent": r["status"] == "active" and (r["last_seen"] is None or now - r["last_seen"] > silent_after)}
                for r in self._rows]

    def counts(self) -> dict[str, int]:
        return self.index.counts()

    def check_shares(self, texts: list[str]) -> dict[str, Any]:
        return check_shares(self.city.recovery_kx, texts)

    def approve(self, terminal: str, fingerprint: str) -> dict[str, Any]:
        """``fingerprint``: the one the terminal showed, as the admin compared it."""
        from replication.index import admin_keys
        return self.index.approve(admin_keys(self.home), terminal, fingerprint)

    def revoke(self, terminal: str) -> dict[str, Any]:
        from replication.index import admin_keys
        return self.index.revoke(admin_keys(self.home), self.city, terminal)

    def rotate(self, reason: str) -> int:
        from replication.terminals import rotate_epoch
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("rotating the key epoch needs a reason", "changer d'époque de clé demande un motif")
        return rotate_epoch(self.home, reason)

    # --- incident orders ---------------------------------------------------------

    def issue(self, kind: str, *, reason: str, scope: str | None, by: str, now: dt.datetime,
              out_dir: Path, ends: str | None = None, new_id: Callable[[], str] | None = None) -> dict[str, Any]:
        """Sign an order, write it to ``out_dir`` (for a USB stick) and keep it
        at the SoR's index, where terminals take it from the feed."""
        from replication import keys
        from replication.index import admin_keys
        admin = admin_keys(self.home)
        fingerprint = keys.fingerprint(keys.public_bytes(admin.sign))
        extra = {"new_id": new_id} if new_id is not None else {}
        raw = orders.sign(admin.sign, kind=kind, city=self.city.name, admin_fingerprint=fingerprint,
                          declared_by=by, reason=reason, scope=orders.Scope.parse(scope), now=now, ends=ends,
                          **extra)
        order = orders.verify(raw, {"city": self.city.name, "admin_fingerprint": fingerprint,
                                    "admin_sign": keys.b64(keys.public_bytes(admin.sign))}, now)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        path = Path(out_dir) / f"order-{order.id}.json"
        write_private(path, raw)
        with self.index.transaction():
            self.index.add_order(order.id, raw)
        return {"order": order.id, "kind": kind, "scope": str(order.scope), "reason": order.doc["reason"],
                "issued": order.doc["issued"], "expires": order.doc["expires"], "fingerprint": order.fingerprint,
                "file": str(path), "raw": raw}

    def open_incident(self) -> dict[str, Any] | None:
        """The newest declare order not yet ended, from the SoR's orders."""
        seen: dict[str, dict[str, Any]] = {}
        ended: set[str] = set()
        for raw in self.index.orders():
            doc = json.loads(raw)["doc"]
            if doc["kind"] == "declare":
                seen[doc["id"]] = doc
            elif doc.get("ends"):
                ended.add(doc["ends"])
            else:
                ended.update(seen)
        live = [d for i, d in seen.items() if i not in ended]
        return max(live, key=lambda d: d["issued"]) if live else None


def restore(url: str, share_files: list[Path], home: Path, name: str) -> dict[str, Any]:
    """Rebuild a wiped terminal in ``home`` from the SoR with k recovery shares."""
    texts = []
    for path in share_files:
        try:
            texts.append(Path(path).read_text("utf-8"))
        except OSError:
            raise NotFound(f"share file {path} is not readable", f"le fichier de part {path} est illisible") from None
    return restore_from(url, texts, home, name)


# --- the restore wizard's steps --------------------------------------------------

SHARE_HEADER = re.compile(r"recovery share (\d+) of (\d+) \((\d+) needed\)")


def share_texts(pasted: str) -> list[str]:
    """Shares pasted one after the other (or file paths, one a line) → one text
    per share, as ``beffroi restore --share`` reads them."""
    texts, words = [], []
    for line in pasted.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line).expanduser()
        if "/" in line and " " not in line:
            try:
                texts.append(path.read_text("utf-8"))
            except OSError:
                raise NotFound(f"share file {path} is not readable", f"le fichier de part {path} est illisible") from None
        else:
            words.append(line)
    return texts + [w + "\n" for w in words]


def check_shares(recovery_kx: str, texts: list[str]) -> dict[str, Any]:
    """Do these shares reach the threshold and open *this* city's recovery key?
    Checked before anything is fetched or written."""
    from replication import keys
    if not texts:
        raise Invalid("load or paste the recovery shares first", "chargez ou collez d'abord les parts de récupération")
    recovery = keys.combine_shares(texts)   # too few, mixed or mistyped shares are refused here, in fr/en
    if keys.b64(keys.public_bytes(recovery)) != recovery_kx:
        raise Invalid("these shares do not hold this SoR's recovery key (another city, or a wrong share)",
                      "ces parts ne contiennent pas la clé de récupération de ce SoR (autre ville, ou part erronée)")
    needed = [int(m.group(3)) for t in texts if (m := SHARE_HEADER.search(t))]
    return {"shares": len(texts), "threshold": max(needed) if needed else len(texts),
            "fingerprint": keys.fingerprint(keys.public_bytes(recovery))}


def sor_url(home: Path) -> str | None:
    """The SoR this terminal syncs with (set at enrolment), if any."""
    from replication.local import Local
    if not (Path(home) / "replication.db").exists():
        return None
    local = Local(Path(home))
    try:
        return local.get("sor")
    finally:
        local.close()


def set_old_home_aside(home: Path, stamp: str) -> Path | None:
    """Restore builds a new home: a wiped terminal's leftovers are moved aside
    (never deleted: they may be evidence of the attack)."""
    home = Path(home)
    if not home.exists() or not any(home.iterdir()):
        return None
    aside = home.with_name(f"{home.name}.before-restore-{stamp}")
    home.rename(aside)
    return aside


def restore_from(url: str, texts: list[str], home: Path, name: str,
                 on_fetched: Callable[[int], None] | None = None) -> dict[str, Any]:
    from replication.enrolment import restore as rebuild
    return asyncio.run(rebuild(url, texts, Path(home), name, on_fetched))
