"""Sealed segments: round trip, and every malformed input is a SegmentError."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub import canonical
from hub.journal import GENESIS
from hub.roles import Principal
from replication import segment
from replication.keys import new_data_key
from replication.segment import SegmentError


@pytest.fixture
def events(terminal):
    desk = terminal.session(Principal.system())
    desk.agents.enroll("agent", "Claire Moreau", "246810", "agent")
    s = terminal.session(Principal.agent("agent"))
    for n in range(5):
        s.citizens.register(first_name="Hélène", last_name=f"Dupont{n}", birth_date="1985-03-12", postcode="49000")
    return list(terminal.journal.events(terminal.id))


@pytest.fixture
def sealed(events):
    key, signer = new_data_key(), Ed25519PrivateKey.generate()
    raw = segment.seal(events, prev=GENESIS, epoch=1, key=key, signer=signer)
    return raw, key, signer


def open_all(raw, key, signer):
    seg = segment.parse(raw)
    seg.verify(signer.public_key())
    return seg.events(key)


def test_round_trip_gives_back_the_same_events(events, sealed):
    raw, key, signer = sealed
    assert open_all(raw, key, signer) == events
    seg = segment.parse(raw)
    assert (seg.header.first, seg.header.last, seg.header.epoch) == (1, len(events), 1)
    assert b"Dupont" not in raw and b"49000" not in raw


def test_every_flipped_byte_is_refused(sealed):
    raw, key, signer = sealed
    for at in range(len(raw)):
        damaged = bytearray(raw)
        damaged[at] ^= 0x01
        with pytest.raises(SegmentError):
            open_all(bytes(damaged), key, signer)


def test_every_truncation_is_refused(sealed):
    raw, key, signer = sealed
    for size in range(len(raw)):
        with pytest.raises(SegmentError):
            open_all(raw[:size], key, signer)
    with pytest.raises(SegmentError):
        open_all(raw + b"\0", key, signer)


def test_wrong_key_or_signer_is_refused(sealed):
    raw, key, signer = sealed
    with pytest.raises(SegmentError, match="signature"):
        open_all(raw, key, Ed25519PrivateKey.generate())
    with pytest.raises(SegmentError, match="decrypt"):
        open_all(raw, new_data_key(), signer)
    with pytest.raises(SegmentError, match="no data key"):
        open_all(raw, None, signer)


def test_unsealed_segments_only_when_asked(events):
    raw = segment.seal(events, prev=GENESIS, epoch=1, key=None, signer=None)
    with pytest.raises(SegmentError, match="cipher"):
        segment.parse(raw)
    assert segment.parse(raw, allow_plain=True).events(None) == events


def forge(header: dict, body: bytes, signer) -> bytes:
    hb = canonical.encode(header)
    signed = segment.MAGIC + struct.pack(">I", len(hb)) + hb + struct.pack(">I", len(body)) + body
    return signed + signer.sign(signed)


def test_a_signed_but_lying_header_is_refused(events):
    """The signer is honest about the bytes but the header lies about the run:
    the events inside must be exactly the announced range."""
    signer = Ed25519PrivateKey.generate()
    plain = b"\n".join(canonical.encode(e.to_dict()) for e in events)
    header = {"v": 1, "origin": events[0].origin, "first": 2, "last": len(events) + 1, "count": len(events), "prev": "a" * 64, "epoch": 1,
              "nonce": "00" * 12, "cipher": "none", "zip": "zlib"}
    seg = segment.parse(forge(header, zlib.compress(plain), signer), allow_plain=True)
    with pytest.raises(SegmentError, match="out of its range"):
        seg.events(None)


def test_zip_bomb_and_garbage_are_refused(events):
    signer = Ed25519PrivateKey.generate()
    header = {"v": 1, "origin": events[0].origin, "first": 1, "last": 1, "count": 1, "prev": GENESIS, "epoch": 1,
              "nonce": "00" * 12, "cipher": "none", "zip": "zlib"}
    bomb = zlib.compress(b"\0" * (segment.MAX_PLAIN + 1), 9)
    with pytest.raises(SegmentError, match="too large"):
        segment.parse(forge(header, bomb, signer), allow_plain=True).events(None)
    with pytest.raises(SegmentError, match="compressed"):
        segment.parse(forge(header, os.urandom(200), signer), allow_plain=True).events(None)
    with pytest.raises(SegmentError, match="malformed"):
        segment.parse(forge(header, zlib.compress(b"{not json"), signer), allow_plain=True).events(None)


@pytest.mark.parametrize("change", [
    {"v": 2}, {"first": 0}, {"last": 0}, {"count": 9}, {"prev": "x" * 64}, {"nonce": "zz"},
    {"origin": "../../etc"}, {"epoch": -1}, {"cipher": "rot13"}, {"extra": 1},
])
def test_malformed_headers_are_refused(events, change):
    signer = Ed25519PrivateKey.generate()
    header = {"v": 1, "origin": events[0].origin, "first": 1, "last": 1, "count": 1, "prev": GENESIS, "epoch": 1,
              "nonce": "00" * 12, "cipher": "aes-256-gcm", "zip": "zlib", **change}
    with pytest.raises(SegmentError):
        segment.parse(forge(header, b"x" * 32, signer))


def test_oversize_is_refused_before_parsing():
    with pytest.raises(SegmentError, match="larger"):
        segment.parse(segment.MAGIC + b"\0" * segment.MAX_SEGMENT)


def test_fast_event_lines_are_exactly_canonical_json(terminal):
    """seal_pending builds lines from journal rows without parsing them; they
    must be byte for byte what canonical.dumps gives, or hashes would differ."""
    s = terminal.session(Principal.system())
    s.agents.enroll("agent", "Claire Moreau", "246810", "agent")
    texts = ["Dupont", 'Quo"te', "Back\\slash", "Ligne\nneuve", "Émile ☃ 𝄞", "\u0001ctl\t", "</script>", "\u2028"]
    with terminal.writing() as w:
        for n, text in enumerate(texts):
            w.record(Principal.system(), "test.note", f"test:{text}", {"text": text, "n": n, "nested": {"b": [text], "a": None}})
    rows = terminal.conn.execute("SELECT origin, seq, hlc, actor, type, aggregate, data, prev, hash FROM events"
                                 " ORDER BY seq").fetchall()
    events = list(terminal.journal.events(terminal.id))
    assert len(rows) == len(events) > 5
    for row, event in zip(rows, events):
        assert segment.event_line(row) == canonical.dumps(event.to_dict())
