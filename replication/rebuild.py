"""The blob store is the truth of a shared SoR: every fact its index holds is
also an object in the city's prefix of the bucket, signed by the city admin or
sealed to a recipient, so that an index lost to the attack (a database
encrypted along with the rest) is rebuilt from the bucket alone.

Layout under ``cities/<id>/``::

    index/city.json               the city's public keys, signed by its admin key
    index/epochs/<n>.json         each key epoch's record (admin-signed)
    index/keys/<n>/<recipient>    the epoch's data key wrapped to one recipient (sealed)
    index/devices/<terminal>.json an approved terminal's certificate (admin-signed)
    index/revocations.json        the revocation list (admin-signed)
    index/orders/<id>             incident orders, the exact admin-signed bytes
    index/erased/<name>           a vault document erased at the citizen's request
    segments/<origin>/<first>-<hash>, vault/…   the sealed segments and documents

What is not rebuilt is what a refused or unfinished request left: pending
enrolments (the terminal asks again), open invitations (the admin makes
another), request nonces (their window is minutes), and the record of forks.
Each rebuilt fact is checked against the admin key of the city document, and
each segment against its terminal's certificate, so a bucket an attacker
wrote into yields nothing the city did not sign.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.errors import Invalid
from hub.journal import GENESIS

from . import keys, segment
from .blobs import BlobStore, S3Store
from .index import City

CITY_DOC = "index/city.json"


class Mirror:
    """Writes the index's facts to a city's blob store as they are made."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def _json(self, key: str, value: Any) -> None:
        self.store.put(key, json.dumps(value).encode())   # as the index keeps it

    def city(self, signed: dict[str, Any]) -> None:
        self._json(CITY_DOC, signed)

    def epoch(self, epoch: int, record: dict[str, Any], wrapped: dict[str, str]) -> None:
        self._json(f"index/epochs/{epoch:06d}.json", record)
        for recipient, blob in wrapped.items():
            self.store.put(f"index/keys/{epoch:06d}/{recipient}", blob.encode())

    def grant(self, certificate: dict[str, Any], wrapped: dict[int, str]) -> None:
        terminal = certificate["doc"]["terminal"]
        for epoch, blob in wrapped.items():
            self.store.put(f"index/keys/{epoch:06d}/{terminal}", blob.encode())
        self._json(f"index/devices/{terminal}.json", certificate)

    def revocations(self, signed: dict[str, Any]) -> None:
        self._json("index/revocations.json", signed)

    def order(self, order_id: str, raw: bytes) -> None:
        self.store.put(f"index/orders/{order_id}", raw)

    def erased(self, name: str, by: str) -> None:
        self._json(f"index/erased/{name}", {"by": by})


def sign_city(admin: Any, city: City) -> dict[str, Any]:
    return keys.sign_doc(admin.sign, {"kind": "city", **city.public()})


def city_ids(s3_url: str | None, folder: Path | None) -> list[str]:
    """The cities whose signed document is in the bucket (or the folder)."""
    pattern = re.compile(r"^cities/([0-9a-f]{16})/index/city\.json$")
    if s3_url:
        keys_ = S3Store.from_url(s3_url).keys("cities/")
    elif folder is not None:
        keys_ = (f"cities/{p.parent.parent.parent.name}/index/city.json"
                 for p in Path(folder).glob("cities/*/blobs/index/city.json"))
    else:
        raise Invalid("reindex needs --s3 URL (or --home, the folder of the blobs)",
                      "la reconstruction demande --s3 URL (ou --home, le dossier des blobs)")
    return sorted({m.group(1) for k in keys_ if (m := pattern.match(k))})


def _load(store: BlobStore, key: str) -> Any:
    raw = store.get(key)
    return None if raw is None else json.loads(raw)


def rebuild_city(url: str, city_id: str, store: BlobStore, now: Callable[[], float] = time.time,
                 blobs: str | None = None) -> dict[str, Any]:
    """One city's schema and rows from its prefix; returns what was rebuilt."""
    from .cities import register_city
    from .index_pg import PgIndex
    signed = _load(store, CITY_DOC)
    public = signed["doc"] if isinstance(signed, dict) and isinstance(signed.get("doc"), dict) else {}
    admin = keys.sign_public(public.get("admin_sign", ""))
    keys.verify_doc(admin, signed, "the city document")
    city = City.from_public(public)
    index = PgIndex.create(url, city_id)
    counts: dict[str, int] = defaultdict(int)
    try:
        with index.transaction():
            conn = index.conn
            for key in sorted(store.keys("index/epochs/")):
                record = _load(store, key)
                if (doc := _signed(admin, record, counts)) is None:
                    continue
                conn.execute("INSERT INTO epochs VALUES (?,?)", (doc["epoch"], json.dumps(record)))
                counts["epochs"] += 1
            epochs = {r[0] for r in conn.execute("SELECT epoch FROM epochs").fetchall()}
            devices: dict[str, Any] = {}
            for key in sorted(store.keys("index/devices/")):
                cert = _load(store, key)
                if (doc := _signed(admin, cert, counts)) is None or doc.get("kind") != "enrolment":
                    continue
                conn.execute("INSERT INTO devices (id, name, sign_pub, kx_pub, status, requested_at, certificate,"
                             " office) VALUES (?,?,?,?,'active',?,?,?)",
                             (doc["terminal"], doc["name"], doc["sign_pub"], doc["kx_pub"],
                              float(doc.get("approved_at", 0)), json.dumps(cert), doc.get("office")))
                devices[doc["terminal"]] = keys.sign_public(doc["sign_pub"])
                counts["devices"] += 1
            for key in store.keys("index/keys/"):
                epoch, recipient = key.split("/")[2:4]
                if int(epoch) in epochs and (recipient in devices or recipient in ("admin", "recovery")):
                    conn.execute("INSERT INTO wrapped VALUES (?,?,?)",
                                 (int(epoch), recipient, store.get(key).decode()))
                    counts["grants"] += 1
            revocations = _load(store, "index/revocations.json")
            if revocations is not None:
                doc = keys.verify_doc(admin, revocations, "the revocation list")
                index.learn_revocations(revocations, doc)
                counts["revoked"] = len(doc.get("revoked", {}))
            _segments(index, store, devices, epochs, counts, now)
            for key in store.keys("vault/"):
                raw = store.get(key)
                from .vault import epoch_of
                conn.execute("INSERT INTO documents VALUES (?,?,?,?,?,?)",
                             (key.rsplit("/", 1)[1], len(raw), epoch_of(raw), hashlib.sha256(raw).hexdigest(),
                              "rebuilt", now()))
                counts["documents"] += 1
            for key in store.keys("index/erased/"):
                conn.execute("INSERT INTO erased_documents VALUES (?,?,?) ON CONFLICT (name) DO NOTHING",
                             (key.rsplit("/", 1)[1], (_load(store, key) or {}).get("by", ""), now()))
            for key in sorted(store.keys("index/orders/")):
                raw = store.get(key)
                if _signed(admin, json.loads(raw), counts) is None:
                    continue
                index.add_order(key.rsplit("/", 1)[1], raw)
                counts["orders"] += 1
            # cursors given before the rebuild are from another numbering: they start again
            index._set_meta("generation", str(int(now() * 1000)))
            register_city(index.conn, city_id, city, now(), blobs)
    finally:
        index.close()
    return {"city": city.name, "id": city_id, **counts}


def _signed(admin: Any, signed: Any, counts: dict[str, int]) -> dict[str, Any] | None:
    """The document if the city admin signed it; counted as refused otherwise."""
    try:
        return keys.verify_doc(admin, signed, "a fact of the bucket")
    except keys.KeyRefused:
        counts["refused"] += 1
        return None


def _segments(index: Any, store: BlobStore, devices: dict[str, Any], epochs: set[int], counts: dict[str, int],
              now: Callable[[], float]) -> None:
    """Each terminal's chain from GENESIS, its segments checked against its
    certificate. A blob whose upload never committed (a node killed between
    the two) is taken only where it continues the chain."""
    found: dict[str, dict[int, list[tuple[str, Any, int]]]] = defaultdict(lambda: defaultdict(list))
    for key in sorted(store.keys("segments/")):
        raw = store.get(key)
        try:
            seg = segment.parse(raw)
            seg.verify(devices[seg.header.origin])
        except (segment.SegmentError, KeyError, ValueError):
            counts["refused"] += 1
            continue
        if seg.header.epoch in epochs and key.split("/")[1] == seg.header.origin:
            found[seg.header.origin][seg.header.first].append((key, seg, len(raw)))
    for origin in sorted(found):
        at, expect_first, expect_prev = found[origin], 1, GENESIS
        after = {c[1].header.prev for there in at.values() for c in there}
        while candidates := [c for c in at.get(expect_first, []) if c[1].header.prev == expect_prev]:
            # the one the next segment chains to, else the first by name (the others were never acknowledged)
            key, seg, size = next((c for c in candidates if c[1].hash in after), candidates[0])
            index.add_segment(origin, seg.header.first, seg.header.last, seg.header.epoch, seg.hash, seg.header.prev,
                              size, key)
            counts["segments"] += 1
            expect_first, expect_prev = seg.header.last + 1, seg.hash


def reindex(url: str, s3_url: str | None, folder: Path | None,
            now: Callable[[], float] = time.time) -> dict[str, Any]:
    """Rebuild every city of the bucket missing from the database."""
    from .cities import _register, stores
    store_for = stores(s3_url, folder)
    with _register(url) as conn:
        present = {r[0] for r in conn.execute("SELECT id FROM cities").fetchall()}
    rebuilt, kept, started = [], [], time.perf_counter()
    for city_id in city_ids(s3_url, folder):
        if city_id in present:
            kept.append(city_id)
            continue
        rebuilt.append(rebuild_city(url, city_id, store_for(city_id), now, s3_url or (str(folder) if folder else None)))
    return {"rebuilt": rebuilt, "kept": kept, "seconds": round(time.perf_counter() - started, 3)}

