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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.durable import write_private
from hub.errors import Invalid, NotFound

from . import orders


class CityAdmin:
    """The city admin's side: the SoR home that holds ``index.db`` and, on the
    admin's machine, the ``admin/`` key folder made by ``beffroi sor init``."""

    def __init__(self, home: Path | str) -> None:
        from replication.index import Index, load_city
        self.home = Path(home)
        self.city = load_city(self.home)   # refuses a folder that is no SoR home, in fr/en
        self.index = Index(self.home)

    def close(self) -> None:
        self.index.close()

    def terminals(self, now: float, silent_after: float = 900.0) -> list[dict[str, Any]]:
        from replication.terminals import overview
        return overview(self.index, now, silent_after)

    def counts(self) -> dict[str, int]:
        return self.index.counts()

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
    from replication.enrolment import restore as rebuild
    texts = []
    for path in share_files:
        try:
            texts.append(Path(path).read_text("utf-8"))
        except OSError:
            raise NotFound(f"share file {path} is not readable", f"le fichier de part {path} est illisible") from None
    return asyncio.run(rebuild(url, texts, Path(home), name))
