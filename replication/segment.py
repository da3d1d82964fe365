"""Sealed segments: a contiguous run of one terminal's events, made safe to
hand to anyone (the SoR, a relay, a USB stick).

Wire format (every length big-endian)::

    MAGIC | u32 header length | header (canonical JSON) | u32 body length | body | Ed25519 signature (64)

The header stays in clear so that the SoR can file the segment (origin,
first/last seq, previous segment hash, key epoch) without reading it; it is
the AES-GCM associated data, so changing any of it breaks decryption, and the
signature covers every byte before it. The body is the events as canonical
JSONL, zlib-compressed, then AES-256-GCM under the epoch's data key.

``cipher: "none"`` (compressed, neither encrypted nor signed) exists only so
that the benchmark can measure what sealing costs; :func:`parse` refuses it
unless asked explicitly.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from json.encoder import encode_basestring as _q
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub import canonical
from hub.errors import Invalid
from hub.journal import COLUMNS, GENESIS, Event, JournalError

MAGIC = b"BFSEG1\n"
VERSION = 1
SIGNATURE_SIZE = 64
NONCE_SIZE = 12
MAX_HEADER = 2048
MAX_SEGMENT = 8 * 1024 * 1024          # bytes on the wire
MAX_PLAIN = 64 * 1024 * 1024           # bytes once decompressed: refuses zip bombs
MAX_EVENTS = 20_000                    # events in one segment
SEGMENT_EVENTS = 2_000                 # what a terminal puts in one segment
HEADER_FIELDS = {"v", "origin", "first", "last", "count", "prev", "epoch", "nonce", "cipher", "zip"}
_U32 = struct.Struct(">I")


class SegmentError(Invalid):
    """A segment that must not be trusted; nothing from it was stored."""

    code = "segment_refused"

    def __init__(self, en: str, fr: str | None = None) -> None:
        super().__init__(f"segment refused: {en}", f"segment refusé : {fr or en}")


@dataclass(frozen=True)
class Header:
    origin: str
    first: int
    last: int
    prev: str
    epoch: int
    nonce: str
    cipher: str = "aes-256-gcm"

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def to_dict(self) -> dict[str, Any]:
        return {"v": VERSION, "origin": self.origin, "first": self.first, "last": self.last, "count": self.count,
                "prev": self.prev, "epoch": self.epoch, "nonce": self.nonce, "cipher": self.cipher, "zip": "zlib"}


@dataclass(frozen=True)
class Segment:
    header: Header
    header_bytes: bytes
    body: bytes
    signature: bytes
    raw: bytes

    @property
    def hash(self) -> str:
        """Identity of the segment: SHA-256 over every byte, signature included."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def signed_part(self) -> bytes:
        return self.raw[:-SIGNATURE_SIZE]

    def verify(self, public_key: Ed25519PublicKey) -> None:
        if self.header.cipher == "none":
            return
        try:
            public_key.verify(self.signature, self.signed_part)
        except InvalidSignature:
            raise SegmentError(f"signature of {self.label} does not match the device key of {self.header.origin}",
                               f"la signature de {self.label} ne correspond pas à la clé de {self.header.origin}")

    @property
    def label(self) -> str:
        return f"{self.header.origin}#{self.header.first}-{self.header.last}"

    def events(self, key: bytes | None) -> list[Event]:
        """Decrypt, decompress and parse the events; checks they are exactly the
        run the header announces. Call :meth:`verify` first."""
        if self.header.cipher == "none":
            packed = self.body
        else:
            if key is None or len(key) != 32:
                raise SegmentError(f"no data key for epoch {self.header.epoch}",
                                   f"aucune clé de données pour l'époque {self.header.epoch}")
            try:
                packed = AESGCM(key).decrypt(bytes.fromhex(self.header.nonce), self.body, self.header_bytes)
            except InvalidTag:
                raise SegmentError(f"{self.label} does not decrypt under the epoch {self.header.epoch} key",
                                   f"{self.label} ne se déchiffre pas avec la clé de l'époque {self.header.epoch}")
        plain = _inflate(packed)
        lines = plain.count(b"\n") + 1
        if lines != self.header.count:
            raise SegmentError(f"{self.label} holds {lines} events, its header says {self.header.count}")
        try:
            # one parse for the whole run; a newline inside a JSON string is
            # escaped, so records and lines correspond one to one
            records = json.loads(b"[" + plain.replace(b"\n", b",") + b"]")
        except ValueError as exc:
            raise SegmentError(f"the events of {self.label} are malformed ({exc})")
        if len(records) != self.header.count:
            raise SegmentError(f"{self.label} holds {len(records)} events, its header says {self.header.count}")
        origin, first = self.header.origin, self.header.first
        events = []
        for offset, record in enumerate(records):
            event = _event(record)
            if event is None:
                try:  # the slow, thorough check names what is wrong
                    Event.from_dict(record)
                except JournalError as exc:
                    raise SegmentError(f"event {offset + 1} of {self.label} is malformed ({exc})")
                raise SegmentError(f"event {offset + 1} of {self.label} is malformed")
            if event.origin != origin or event.seq != first + offset:
                raise SegmentError(f"{self.label} holds event {event.origin}#{event.seq} out of its range")
            events.append(event)
        return events


_FIELDS = frozenset(COLUMNS)


def _event(record: object) -> Event | None:
    """``Event.from_dict``'s checks, inlined for the merge's hot path (a segment
    holds thousands of events); None when anything is off."""
    if type(record) is not dict or record.keys() != _FIELDS:
        return None
    seq, hlc, data = record["seq"], record["hlc"], record["data"]
    if type(seq) is not int or type(hlc) is not int or seq < 0 or hlc < 0 or type(data) is not dict:
        return None
    for name in ("origin", "actor", "type", "aggregate", "prev", "hash"):
        value = record[name]
        if type(value) is not str or not value:
            return None
    return Event(record["origin"], seq, hlc, record["actor"], record["type"], record["aggregate"], data,
                 record["prev"], record["hash"])


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(packed, MAX_PLAIN)
    except zlib.error:
        raise SegmentError("body is not valid compressed data", "le contenu compressé est invalide")
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise SegmentError("body is too large once decompressed, or truncated",
                           "contenu trop volumineux une fois décompressé, ou tronqué")
    return plain


def event_line(row: tuple) -> str:
    """Canonical JSON of a journal row (origin, seq, hlc, actor, type, aggregate,
    data, prev, hash) without parsing ``data``: the journal stores it in
    canonical form already, so the line is exactly ``canonical.dumps(event)``
    (a test checks it) at a fraction of the cost."""
    origin, seq, hlc, actor, type_, aggregate, data, prev, hash_ = row
    return (f'{{"actor":{_q(actor)},"aggregate":{_q(aggregate)},"data":{data},"hash":{_q(hash_)},"hlc":{hlc:d},'
            f'"origin":{_q(origin)},"prev":{_q(prev)},"seq":{seq:d},"type":{_q(type_)}}}')


def seal(events: Iterable[Event], *, prev: str, epoch: int, key: bytes | None,
         signer: Ed25519PrivateKey | None) -> bytes:
    """Seal one origin's contiguous events. ``key``/``signer`` None makes an
    unsealed segment (benchmark baseline only)."""
    events = list(events)
    if not events:
        raise ValueError("a segment holds at least one event")
    for offset, event in enumerate(events):
        if event.origin != events[0].origin or event.seq != events[0].seq + offset:
            raise ValueError("a segment holds one origin's contiguous events")
    return seal_lines(events[0].origin, events[0].seq, [canonical.dumps(e.to_dict()) for e in events],
                      prev=prev, epoch=epoch, key=key, signer=signer)


def seal_lines(origin: str, first: int, lines: list[str], *, prev: str, epoch: int, key: bytes | None,
               signer: Ed25519PrivateKey | None) -> bytes:
    """Seal canonical event lines ``first``, ``first + 1``… of one origin."""
    if not lines or len(lines) > MAX_EVENTS:
        raise ValueError(f"a segment holds 1 to {MAX_EVENTS} events")
    packed = zlib.compress("\n".join(lines).encode("utf-8"), 1)  # level 1: 3x faster than 6, 15 % larger
    sealed = key is not None
    nonce = os.urandom(NONCE_SIZE) if sealed else bytes(NONCE_SIZE)
    header = Header(origin, first, first + len(lines) - 1, prev, epoch, nonce.hex(),
                    "aes-256-gcm" if sealed else "none")
    header_bytes = canonical.encode(header.to_dict())
    body = AESGCM(key).encrypt(nonce, packed, header_bytes) if sealed else packed
    if len(body) + len(header_bytes) + 100 > MAX_SEGMENT:
        raise ValueError("segment too large: seal fewer events")
    signed = MAGIC + _U32.pack(len(header_bytes)) + header_bytes + _U32.pack(len(body)) + body
    signature = signer.sign(signed) if signer is not None else bytes(SIGNATURE_SIZE)
    return signed + signature


def parse(raw: bytes, *, allow_plain: bool = False) -> Segment:
    """Strictly parse a segment's structure and header (no key needed)."""
    if not isinstance(raw, (bytes, bytearray)):
        raise SegmentError("not bytes")
    raw = bytes(raw)
    if len(raw) > MAX_SEGMENT:
        raise SegmentError(f"larger than {MAX_SEGMENT} bytes", f"plus de {MAX_SEGMENT} octets")
    if not raw.startswith(MAGIC):
        raise SegmentError("not a Beffroi segment (bad magic)", "pas un segment Beffroi (signature de format absente)")
    at = len(MAGIC)
    header_bytes, at = _chunk(raw, at, MAX_HEADER, "header")
    body, at = _chunk(raw, at, MAX_SEGMENT, "body")
    if len(raw) - at != SIGNATURE_SIZE:
        raise SegmentError("truncated or trailing bytes after the body", "tronqué ou octets en trop après le contenu")
    header = _header(header_bytes, allow_plain)
    return Segment(header, header_bytes, body, raw[at:], raw)


def _chunk(raw: bytes, at: int, limit: int, what: str) -> tuple[bytes, int]:
    if len(raw) < at + 4:
        raise SegmentError(f"truncated before the {what}", f"tronqué avant {what}")
    (size,) = _U32.unpack_from(raw, at)
    if size > limit or len(raw) < at + 4 + size:
        raise SegmentError(f"{what} length {size} is out of bounds (truncated segment?)",
                           f"longueur de {what} {size} hors limites (segment tronqué ?)")
    return raw[at + 4:at + 4 + size], at + 4 + size


def _header(header_bytes: bytes, allow_plain: bool) -> Header:
    try:
        raw = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SegmentError("header is not JSON", "l'en-tête n'est pas du JSON")
    if not isinstance(raw, dict) or set(raw) != HEADER_FIELDS:
        raise SegmentError("header has missing or unexpected fields", "champs manquants ou inattendus dans l'en-tête")
    if canonical.encode(raw) != header_bytes:
        raise SegmentError("header is not in canonical form", "l'en-tête n'est pas sous forme canonique")
    if raw["v"] != VERSION or raw["zip"] != "zlib":
        raise SegmentError(f"unknown segment format {raw['v']!r}", f"format de segment inconnu {raw['v']!r}")
    for name in ("first", "last", "count", "epoch"):
        if type(raw[name]) is not int or raw[name] < 1:
            raise SegmentError(f"header field {name} must be a positive integer")
    origin, prev, nonce = raw["origin"], raw["prev"], raw["nonce"]
    if not isinstance(origin, str) or not 1 <= len(origin) <= 64 or not origin.isalnum():
        raise SegmentError("header origin is not a terminal id")
    if raw["last"] < raw["first"] or raw["count"] != raw["last"] - raw["first"] + 1 or raw["count"] > MAX_EVENTS:
        raise SegmentError("header range is inconsistent", "plage de l'en-tête incohérente")
    if not _is_hex(prev, 64) or (raw["first"] == 1) != (prev == GENESIS):
        raise SegmentError("header prev is not a segment hash (or does not fit the first seq)")
    if not _is_hex(nonce, NONCE_SIZE * 2):
        raise SegmentError("header nonce is malformed")
    if raw["cipher"] not in ("aes-256-gcm", "none") or (raw["cipher"] == "none" and not allow_plain):
        raise SegmentError(f"cipher {raw['cipher']!r} is not accepted", f"chiffrement {raw['cipher']!r} refusé")
    return Header(origin, raw["first"], raw["last"], prev, raw["epoch"], nonce, raw["cipher"])


def _is_hex(value: Any, size: int) -> bool:
    return isinstance(value, str) and len(value) == size and all(c in "0123456789abcdef" for c in value)
