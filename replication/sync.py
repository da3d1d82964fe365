"""The sync client: seal this terminal's new events, push them, pull the
other terminals' segments, verify, decrypt and merge.

Trust comes from the city admin key only: a device key counts once the admin
has signed its certificate, an epoch key once its check value is admin-signed,
a revocation once the admin-signed list says so. Nothing the SoR says on its
own can make a terminal accept an event or seal with a key the SoR knows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import Forbidden, HubError, Invalid, NotFound
from hub.journal import Event, JournalError
from hub.terminal import Terminal

from . import auth, keys, segment
from .local import Local
from .segment import Segment, SegmentError

FETCH_CONCURRENCY = 8
MAX_ROUND_EVENTS = 250_000   # accepted in one transaction; more waits for the next page
PUSH_BATCH = 4               # segments sealed before they are pushed


class Unreachable(HubError):
    code = "sor_unreachable"


class SoRRefused(HubError):
    code = "sor_refused"

    def __init__(self, status: int, payload: Any, what: str) -> None:
        if isinstance(payload, dict) and "en" in payload:
            en, fr, code = payload["en"], payload.get("fr", payload["en"]), payload.get("error", "refused")
        else:
            en, fr, code = f"HTTP {status}", f"HTTP {status}", "refused"
        super().__init__(f"the SoR refused {what}: {en}", f"le SoR a refusé {what} : {fr}", code)
        self.status = status
        self.reason = code


# --- what a terminal trusts ----------------------------------------------------

@dataclass
class Trust:
    admin: Ed25519PublicKey
    devices: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    revoked: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, bytes] = field(default_factory=dict)
    allow_plain: bool = False  # the benchmark's unsealed baseline only

    @classmethod
    def from_local(cls, local: Local, recipient: str | None, kx: X25519PrivateKey | None) -> "Trust":
        city = local.get("city")
        if not city:
            raise NotFound("this terminal knows no SoR yet: run `beffroi enroll --sor URL` first",
                           "ce terminal ne connaît encore aucun SoR : lancez d'abord `beffroi enroll --sor URL`",
                           "not_enrolled")
        trust = cls(keys.sign_public(city["admin_sign"]))
        trust.load_devices(local.get("devices") or {"devices": [], "revocations": None})
        if recipient and kx:
            trust.load_keys(local.wrapped_keys(recipient), recipient, kx)
        return trust

    def load_devices(self, listing: dict[str, Any]) -> None:
        for entry in listing.get("devices", []):
            cert = keys.verify_doc(self.admin, entry.get("certificate"), f"certificate of {entry.get('id')}")
            if cert.get("kind") != "enrolment":
                raise keys.KeyRefused("a device certificate is not an enrolment", "certificat d'appareil invalide")
            self.devices[cert["terminal"]] = keys.sign_public(cert["sign_pub"])
            self.names[cert["terminal"]] = cert["name"]
        if listing.get("revocations"):
            doc = keys.verify_doc(self.admin, listing["revocations"], "revocation list")
            if doc.get("kind") != "revocations":
                raise keys.KeyRefused("the revocation list is not one", "liste de révocation invalide")
            self.revoked = doc["revoked"]

    def load_keys(self, epochs: list[dict[str, Any]], recipient: str, kx: X25519PrivateKey) -> None:
        for entry in epochs:
            record = keys.verify_doc(self.admin, entry["record"], f"epoch {entry.get('epoch')} record")
            if record.get("kind") != "epoch" or record.get("epoch") != entry["epoch"]:
                raise keys.KeyRefused("an epoch record does not match its epoch", "enregistrement d'époque incohérent")
            data_key = keys.unwrap(entry["wrapped"], kx, keys.wrap_context(entry["epoch"], recipient))
            if keys.key_check(data_key) != record["check"]:
                raise keys.KeyRefused(f"the epoch {entry['epoch']} key is not the one the admin signed",
                                     f"la clé de l'époque {entry['epoch']} n'est pas celle signée par l'administrateur")
            self.keys[entry["epoch"]] = data_key

    def open(self, raw: bytes) -> tuple[Segment, list[Event]]:
        """Parse, check signature and revocation, decrypt: the segment's events,
        or a :class:`SegmentError` saying why not."""
        seg = segment.parse(raw, allow_plain=self.allow_plain)
        origin = seg.header.origin
        public = self.devices.get(origin)
        if public is None:
            raise SegmentError(f"unknown key: {origin} has no admin-signed certificate",
                               f"clé inconnue : {origin} n'a pas de certificat signé par l'administrateur")
        revoked = self.revoked.get(origin)
        if revoked and seg.header.last > revoked["last"]:
            raise SegmentError(f"{seg.label} comes from revoked terminal {self.names.get(origin, origin)}"
                               f" after its revocation (#{revoked['last']})",
                               f"{seg.label} vient du terminal révoqué {self.names.get(origin, origin)}"
                               f" après sa révocation (n°{revoked['last']})")
        seg.verify(public)
        return seg, seg.events(self.keys.get(seg.header.epoch))


# --- HTTP -------------------------------------------------------------------------

class Link:
    """Signed requests to one SoR, retried on network faults (each retry is a
    new request with a new nonce; uploads are idempotent)."""

    def __init__(self, url: str, key_id: str, signer: Ed25519PrivateKey, attempts: int = 6,
                 timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.key_id, self.signer = key_id, signer
        self.attempts = attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5, sock_read=timeout)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Link":
        self.session = aiohttp.ClientSession(timeout=self.timeout,
                                             connector=aiohttp.TCPConnector(limit=FETCH_CONCURRENCY))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: bytes = b"", signed: bool = True,
                      what: str = "the request") -> tuple[int, bytes]:
        delay, last_error = 0.05, None
        for _ in range(self.attempts):
            headers = auth.sign_headers(self.key_id, self.signer, method, path, body) if signed else {}
            if body:
                headers["Content-Type"] = "application/octet-stream"
            try:
                async with self.session.request(method, self.url + path, data=body or None, headers=headers) as resp:
                    data = await resp.read()
                    if resp.status >= 500:
                        last_error = f"HTTP {resp.status}"
                    elif resp.status == 401 and b'"replayed"' in data:
                        # someone on the path played our request first; ours was never reused
                        last_error = "request replayed on the way"
                    else:
                        return resp.status, data
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise Unreachable(f"the SoR at {self.url} is unreachable ({last_error})",
                          f"le SoR à {self.url} est injoignable ({last_error})")

    async def json(self, method: str, path: str, body: bytes = b"", signed: bool = True,
                   what: str = "the request", ok: Iterable[int] = (200,)) -> Any:
        status, data = await self.request(method, path, body, signed, what)
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        if status not in tuple(ok):
            raise SoRRefused(status, payload, what)
        if payload is None:
            raise SoRRefused(status, None, what)
        return payload


# --- the replicator -----------------------------------------------------------------

@dataclass
class Report:
    sealed: int = 0
    pushed: int = 0
    pulled_segments: int = 0
    pulled_events: int = 0
    refused: list[str] = field(default_factory=list)
    conflicts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Replicator:
    """One terminal's side of replication."""

    def __init__(self, terminal: Terminal, *, sealed: bool = True) -> None:
        self.terminal = terminal
        self.local = Local(terminal.home)
        self.device = keys.device_keys(terminal.home)
        self.sealed = sealed  # False only for the benchmark's unsealed baseline

    def close(self) -> None:
        self.local.close()

    def trust(self) -> Trust:
        trust = Trust.from_local(self.local, self.terminal.id, self.device.kx if self.device else None)
        trust.allow_plain = not self.sealed
        return trust

    def link(self, url: str | None = None) -> Link:
        url = url or self.local.get("sor")
        if not url:
            raise Invalid("no SoR given: use --sor URL", "aucun SoR indiqué : utilisez --sor URL")
        if self.device is None:
            raise NotFound("this terminal has no device keys: run `beffroi enroll --sor URL` first",
                           "ce terminal n'a pas de clés d'appareil : lancez d'abord `beffroi enroll --sor URL`",
                           "not_enrolled")
        return Link(url, self.terminal.id, self.device.sign)

    # sealing works offline: the segments wait in replication.db
    def seal_pending(self, trust: Trust | None = None, per_segment: int = segment.SEGMENT_EVENTS,
                     max_segments: int | None = None) -> int:
        if self.sealed:
            trust = trust or self.trust()
            if not trust.keys:
                return 0
            epoch = max(trust.keys)
            key, signer = trust.keys[epoch], self.device.sign
        else:
            epoch, key, signer = 1, None, None
        with self.local.transaction():
            return self._seal(epoch, key, signer, per_segment, max_segments)

    def _seal(self, epoch: int, key: bytes | None, signer, per_segment: int, max_segments: int | None) -> int:
        origin = self.terminal.id
        last, prev = self.local.head(origin)
        rows = []
        cursor = self.terminal.conn.execute(
            "SELECT origin, seq, hlc, actor, type, aggregate, data, prev, hash FROM events"
            " WHERE origin=? AND seq>? ORDER BY seq LIMIT ?",
            (origin, last, -1 if max_segments is None else max_segments * per_segment))
        while batch := cursor.fetchmany(per_segment):
            if batch[-1][1] - batch[0][1] + 1 != len(batch) or batch[0][1] != last + 1:
                raise Invalid("the journal has a gap; run `beffroi verify`", "le journal a un trou ; lancez `beffroi verify`")
            last = batch[-1][1]
            raw = segment.seal_lines(origin, batch[0][1], [segment.event_line(r) for r in batch],
                                     prev=prev, epoch=epoch, key=key, signer=signer)
            seg = segment.parse(raw, allow_plain=not self.sealed)
            rows.append((origin, seg.header.first, seg.header.last, epoch, seg.hash, prev, raw))
            prev = seg.hash
        if rows:
            self.local.add(rows)
        return len(rows)

    async def refresh(self, link: Link) -> Trust:
        """Fetch the admin-signed registry and our wrapped keys; keep them."""
        listing = await link.json("GET", "/v1/devices", what="the device list")
        epochs = (await link.json("GET", "/v1/keys", what="the key request"))["epochs"]
        # an office relay holds only the keys wrapped to the terminal that set it
        # up: the ones we already hold still count (each is admin-signed)
        known = {e["epoch"]: e for e in self.local.wrapped_keys(link.key_id)}
        epochs = list({**known, **{e["epoch"]: e for e in epochs}}.values())
        trust = Trust.from_local(self.local, None, None)
        trust.load_devices(listing)
        trust.load_keys(epochs, link.key_id, self.device.kx)
        trust.allow_plain = not self.sealed
        self.local.set("devices", listing)
        self.local.store_keys(link.key_id, epochs)
        return trust

    async def push(self, link: Link, report: Report) -> None:
        heads = (await link.json("GET", "/v1/heads", what="the heads request"))["heads"]
        mine = heads.get(self.terminal.id)
        if mine and self.local.segment_hash_ending(self.terminal.id, mine["last"]) != mine["hash"]:
            # the SoR holds a history of this terminal that is not ours: a clone
            # (VM snapshot, copied home) wrote under the same identity
            raise SoRRefused(409, {"error": "fork", "en": f"fork: the SoR holds another history of this terminal up to "
                                   f"#{mine['last']} (a copy of this home ran elsewhere?); nothing was pushed",
                                   "fr": f"bifurcation : le SoR détient une autre histoire de ce terminal jusqu'au "
                                   f"n°{mine['last']} (une copie de ce répertoire a tourné ailleurs ?) ; rien n'a été envoyé"},
                             "this terminal's segments")
        for origin in self.local.origins():
            sor_last = heads.get(origin, {}).get("last", 0)
            for first, data in self.local.after(origin, sor_last):
                status, body = await link.request("PUT", f"/v1/segments/{origin}/{first}", data)
                if status in (200, 201):
                    report.pushed += status == 201
                    continue
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = None
                error = SoRRefused(status, payload, f"segment {origin}#{first}")
                if origin == self.terminal.id:
                    raise error
                report.refused.append(error.en)
                break

    async def adopt(self, link: Link) -> int:
        """Take back this terminal's own segments from the SoR, after its
        replication.db was lost, if and only if every event in them is the one
        our journal holds; otherwise they are another history (a fork)."""
        trust = self.trust()
        own, cursor, more = [], "", True
        while more:
            page = await link.json("GET", f"/v1/feed?cursor={cursor}&limit=500", what="the feed request")
            own += [e for e in page["segments"] if e["origin"] == self.terminal.id]
            cursor, more = page["cursor"], page["more"]
        rows = []
        for _entry, raw in zip(own, await self._fetch(link, own), strict=True):
            seg, events = trust.open(raw)
            for event in events:
                stored = self.terminal.conn.execute("SELECT hash FROM events WHERE origin=? AND seq=?",
                                                    (event.origin, event.seq)).fetchone()
                if stored is None or stored[0] != event.hash:
                    return 0
            rows.append((seg.header.origin, seg.header.first, seg.header.last, seg.header.epoch, seg.hash,
                         seg.header.prev, raw))
        self.local.add(rows)
        return len(rows)

    def cursor_key(self, url: str) -> str:
        """Each upstream (the SoR, office relays) has its own feed cursor."""
        return "cursor" if url.rstrip("/") == (self.local.get("sor") or "").rstrip("/") else f"cursor {url}"

    async def pull(self, link: Link, trust: Trust, report: Report) -> None:
        key = self.cursor_key(link.url)
        cursor = self.local.get(key, "")
        while True:
            events, rows, cursor, more = await self._page_run(link, trust, cursor, report)
            if events:
                rows = self._merge_apart(events, rows, report)
            if rows:
                self.local.add(rows)
            self.local.set(key, cursor)
            report.pulled_segments += len(rows)
            if not more:
                return

    async def _page_run(self, link: Link, trust: Trust, cursor: str, report: Report):
        """Retry what was refused before, then read feed pages until enough
        events are waiting; fetch and open them."""
        events: list[Event] = []
        rows: list[tuple] = []
        blocked: dict[str, str] = {}
        retry = self.local.refused()
        if retry:
            await self._take(link, trust, retry, events, rows, blocked, report)
        more = True
        while more and len(events) < MAX_ROUND_EVENTS:
            page = await link.json("GET", f"/v1/feed?cursor={cursor}&limit=500", what="the feed request")
            wanted = []
            for entry in page["segments"]:
                held = self.local.held(entry["origin"], entry["first"])
                if held == entry["hash"] or entry["origin"] == self.terminal.id:
                    continue
                if held is not None:
                    report.refused.append(f"fork at the SoR: {entry['origin']}#{entry['first']} differs from ours")
                    continue
                wanted.append(entry)
            await self._take(link, trust, wanted, events, rows, blocked, report)
            cursor, more = page["cursor"], page["more"]
        return events, rows, cursor, more

    async def _take(self, link: Link, trust: Trust, entries: list[dict[str, Any]], events: list[Event],
                    rows: list[tuple], blocked: dict[str, str], report: Report) -> None:
        """Fetch and open segments in order; one that cannot be taken is kept
        aside with its reason, and so are the later ones of its origin (they
        would leave a gap), to be retried next round."""
        taken = []
        todo = []
        for entry in entries:
            if self.local.held(entry["origin"], entry["first"]) == entry["hash"]:
                taken.append((entry["origin"], entry["first"]))   # arrived meanwhile (a bundle)
            else:
                todo.append(entry)
        wanted = [e for e in todo if e["origin"] not in blocked]
        fetched = dict(zip(((e["origin"], e["first"]) for e in wanted), await self._fetch(link, wanted)))
        for entry in todo:
            origin, first = entry["origin"], entry["first"]
            if origin in blocked:
                self.local.refuse(origin, first, entry["hash"], f"waits for {blocked[origin]}", time.time())
                continue
            raw = fetched[(origin, first)]
            try:
                seg, opened = trust.open(raw)
                if seg.hash != entry["hash"]:
                    raise SegmentError("the SoR served other bytes than its feed announced")
            except SegmentError as exc:
                self.local.refuse(origin, first, entry["hash"], exc.en, time.time())
                report.refused.append(exc.en)
                blocked[origin] = f"{origin}#{first}"
                continue
            events.extend(opened)
            rows.append((origin, first, seg.header.last, seg.header.epoch, seg.hash, seg.header.prev, raw))
            taken.append((origin, first))
        if taken:
            self.local.unrefuse(taken)

    async def _fetch(self, link: Link, entries: list[dict[str, Any]]) -> list[bytes]:
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(entry: dict[str, Any]) -> bytes:
            async with gate:
                status, data = await link.request("GET", f"/v1/segments/{entry['origin']}/{entry['first']}")
            if status != 200:
                raise SoRRefused(status, None, f"segment {entry['origin']}#{entry['first']}")
            return data
        return list(await asyncio.gather(*(one(e) for e in entries)))

    def _merge_apart(self, events: list[Event], rows: list[tuple], report: Report) -> list[tuple]:
        """Merge everything at once; if the journal refuses (a fork: say a
        terminal cloned from a snapshot), merge origin by origin so that one
        bad origin is kept aside and the others still get through. Returns
        the segment rows that were merged."""
        try:
            self._merge(events, report)
            return rows
        except Invalid:
            pass
        kept = []
        for origin in sorted({e.origin for e in events}):
            try:
                self._merge([e for e in events if e.origin == origin], report)
            except Invalid as exc:
                report.refused.append(exc.en)
                for row in rows:
                    if row[0] == origin:
                        self.local.refuse(origin, row[1], row[4], exc.en, time.time())
                continue
            kept += [row for row in rows if row[0] == origin]
        return kept

    def _merge(self, events: list[Event], report: Report) -> None:
        try:
            added = self.terminal.accept(events)
        except JournalError as exc:
            raise Invalid(f"the pulled events do not fit the journal ({exc}); nothing was merged",
                          f"les événements reçus ne s'accordent pas au journal ({exc}) ; rien n'a été fusionné")
        report.pulled_events += len(added)

    async def sync(self, url: str | None = None) -> Report:
        """One round: seal, push, pull."""
        report = Report()
        try:
            await self._round(url, report)
        except (KeyError, TypeError, AttributeError) as exc:
            raise SoRRefused(502, {"error": "bad_answer", "en": f"malformed answer ({type(exc).__name__}: {exc})",
                                   "fr": f"réponse malformée ({type(exc).__name__} : {exc})"}, "the sync")
        report.conflicts = self.terminal.conn.execute(
            "SELECT count(*) FROM conflicts WHERE resolved_by IS NULL").fetchone()[0]
        return report

    async def _round(self, url: str | None, report: Report) -> None:
        async with self.link(url) as link:
            trust = await self.refresh(link)
            if not trust.keys:
                raise Forbidden("this terminal has no epoch key yet: is it approved (`beffroi sor approve`)?",
                                "ce terminal n'a pas encore de clé d'époque : est-il approuvé (`beffroi sor approve`) ?",
                                "not_approved")
            if self.local.head(self.terminal.id)[0] == 0:
                heads = (await link.json("GET", "/v1/heads", what="the heads request"))["heads"]
                if self.terminal.id in heads:   # replication.db was lost: take our segments back first
                    await self.adopt(link)
            # seal and push a few segments at a time, so that the others can
            # start pulling while a long backlog is still being sealed
            while True:
                sealed = self.seal_pending(trust, max_segments=PUSH_BATCH)
                report.sealed += sealed
                await self.push(link, report)
                if sealed < PUSH_BATCH:
                    break
            await self.pull(link, trust, report)

    def import_segments(self, raws: list[bytes], report: Report) -> None:
        """Verify every segment, then merge them all or none (bundles)."""
        trust = self.trust()
        events, rows = [], []
        for raw in raws:
            seg = segment.parse(raw, allow_plain=trust.allow_plain)
            held = self.local.held(seg.header.origin, seg.header.first)
            if held == seg.hash:
                continue
            if held is not None:
                raise SegmentError(f"{seg.label} differs from the segment this terminal holds (fork)",
                                   f"{seg.label} diffère du segment détenu par ce terminal (bifurcation)")
            if seg.header.origin == self.terminal.id:
                raise SegmentError(f"{seg.label} claims to come from this terminal but it did not seal it",
                                   f"{seg.label} prétend venir de ce terminal qui ne l'a pas scellé")
            _, opened = trust.open(raw)
            events.extend(opened)
            rows.append((seg.header.origin, seg.header.first, seg.header.last, seg.header.epoch, seg.hash,
                         seg.header.prev, raw))
        if events:
            self._merge(events, report)
        if rows:
            self.local.add(rows)
        report.pulled_segments += len(rows)


# --- enrolment and restore -----------------------------------------------------------

async def fetch_city(url: str) -> dict[str, Any]:
    async with Link(url, "", Ed25519PrivateKey.generate(), attempts=3) as link:
        return await link.json("GET", "/v1/city", signed=False, what="the city request")


async def enroll(terminal: Terminal, url: str) -> dict[str, Any]:
    city = await fetch_city(url)
    local = Local(terminal.home)
    try:
        known = local.get("city")
        if known and known["admin_sign"] != city["admin_sign"]:
            raise Forbidden("this terminal is enrolled with another city's SoR (admin key differs)",
                            "ce terminal est inscrit auprès du SoR d'une autre ville (clé d'administration différente)")
        device = keys.device_keys(terminal.home, create=True)
        body = json.dumps({"terminal": terminal.id, "name": terminal.name, "sign_pub": device.sign_pub,
                           "kx_pub": device.kx_pub}).encode()
        async with Link(url, terminal.id, device.sign) as link:
            answer = await link.json("POST", "/v1/enrol", body, what="the enrolment", ok=(200, 202))
        local.set("city", city)
        local.set("sor", url)
    finally:
        local.close()
    return {"terminal": terminal.id, "name": terminal.name, "status": answer["status"], "city": city["city"],
            "device_fingerprint": keys.fingerprint(keys.unb64(device.sign_pub)),
            "admin_fingerprint": city["admin_fingerprint"]}


async def restore(url: str, share_texts: list[str], home: Path, name: str) -> dict[str, Any]:
    """Rebuild the whole city's state in a new home from the SoR and k shares."""
    home = Path(home)
    if home.exists() and any(home.iterdir()):
        raise Invalid(f"{home} is not empty: restore builds a new home", f"{home} n'est pas vide : la restauration crée un nouveau répertoire")
    recovery = keys.combine_shares(share_texts)
    city = await fetch_city(url)
    if keys.b64(keys.public_bytes(recovery)) != city["recovery_kx"]:
        raise Forbidden("these shares do not hold this SoR's recovery key (another city, or a wrong share)",
                        "ces parts ne contiennent pas la clé de récupération de ce SoR (autre ville, ou part erronée)")
    terminal = Terminal.init(home, name)   # refuses an existing home: what follows is ours to remove
    replicator = Replicator(terminal)
    complete = False
    try:
        replicator.local.set("city", city)
        replicator.local.set("sor", url)
        report = Report()
        async with Link(url, "recovery", keys.recovery_signer(recovery)) as link:
            listing = await link.json("GET", "/v1/devices", what="the device list")
            epochs = (await link.json("GET", "/v1/keys", what="the key request"))["epochs"]
            trust = Trust(keys.sign_public(city["admin_sign"]))
            trust.load_devices(listing)
            trust.load_keys(epochs, "recovery", recovery)
            replicator.local.set("devices", listing)
            await replicator.pull(link, trust, report)
        complete = True
        return {"home": str(terminal.home), "terminal": terminal.id, "segments": report.pulled_segments,
                "events": report.pulled_events, "refused": report.refused, "state_hash": terminal.state_hash()}
    finally:
        replicator.close()
        terminal.close()
        if not complete:  # no half-restored home left behind
            import shutil
            shutil.rmtree(home, ignore_errors=True)
