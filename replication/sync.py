"""The replicator: seal this terminal's new events, push them, pull the other
terminals' segments, verify, decrypt and merge. Trust (``trust.py``), the
HTTP client (``client.py``) and enrolment/restore (``enrolment.py``) are
apart; this module is the round itself."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.errors import Forbidden, Invalid, NotFound
from hub.journal import Event, JournalError
from hub.terminal import Terminal

from . import keys, segment, vault
from .client import FETCH_CONCURRENCY, Link, SoRRefused, Unreachable
from .local import Local, SegmentRow
from .segment import SegmentError
from .trust import Trust

__all__ = ["MAX_ROUND_EVENTS", "PUSH_BATCH", "Replicator", "Report", "SoRRefused", "Trust", "Unreachable"]

MAX_ROUND_EVENTS = 250_000   # accepted in one transaction; more waits for the next page
PUSH_BATCH = 4               # segments sealed before they are pushed


@dataclass
class Report:
    sealed: int = 0
    pushed: int = 0
    pulled_segments: int = 0
    pulled_events: int = 0
    refused: list[str] = field(default_factory=list)
    conflicts: int = 0
    documents_sent: int = 0
    documents_erased: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Replicator:
    """One terminal's side of replication."""

    def __init__(self, terminal: Terminal, *, sealed: bool = True) -> None:
        self.terminal = terminal
        self.local = Local(terminal.home)
        self.device = keys.device_keys(terminal.home)
        self.sealed = sealed  # False only for the benchmark's unsealed baseline
        self.on_fetched: Callable[[int], None] | None = None   # called with each segment's size as it arrives

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
            rows.append(SegmentRow.of(seg, raw))
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
                    if status == 201:   # the footprint: bytes the SoR now stores
                        self.terminal.count_footprint("", sent_bytes=len(data), origin=origin)
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
            rows.append(SegmentRow.of(seg, raw))
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
        rows: list[SegmentRow] = []
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
                    rows: list[SegmentRow], blocked: dict[str, str], report: Report) -> None:
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
            rows.append(SegmentRow.of(seg, raw))
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
            if self.on_fetched is not None:   # a restore's progress bar, from the real loop
                self.on_fetched(len(data))
            return data
        return list(await asyncio.gather(*(one(e) for e in entries)))

    def _merge_apart(self, events: list[Event], rows: list[SegmentRow], report: Report) -> list[SegmentRow]:
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
                    if row.origin == origin:
                        self.local.refuse(origin, row.first, row.hash, exc.en, time.time())
                continue
            kept += [row for row in rows if row.origin == origin]
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
            # documents first: a terminal that reads a deposit in a segment can fetch its content
            await vault.send(self, link, trust, report)
            # seal and push a few segments at a time, so that the others can
            # start pulling while a long backlog is still being sealed
            while True:
                sealed = self.seal_pending(trust, max_segments=PUSH_BATCH)
                report.sealed += sealed
                await self.push(link, report)
                if sealed < PUSH_BATCH:
                    break
            await self.pull(link, trust, report)
            await vault.send(self, link, trust, report)   # erasures pulled this round reach the SoR now

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
            rows.append(SegmentRow.of(seg, raw))
        if events:
            self._merge(events, report)
        if rows:
            self.local.add(rows)
        report.pulled_segments += len(rows)
