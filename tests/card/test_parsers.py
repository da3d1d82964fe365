"""The APDU and TLV parsers are strict: malformed input is refused with a
CardProtocolError, never half-read, never another exception. Fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from card import tlv
from card.apdu import Command, Response, meaning
from card.errors import CardProtocolError

# Well-formed BER tags: one byte (low 5 bits not all set), or 0x?F then 1-2 more bytes.
one_byte_tags = st.integers(0, 0xFF).filter(lambda b: b & 0x1F != 0x1F)
two_byte_tags = st.tuples(st.integers(0, 0xFF).map(lambda b: b | 0x1F), st.integers(0, 0x7F)).map(
    lambda t: (t[0] << 8) | t[1])
three_byte_tags = st.tuples(st.integers(0, 0xFF).map(lambda b: b | 0x1F), st.integers(0x80, 0xFF),
                            st.integers(0, 0x7F)).map(lambda t: (t[0] << 16) | (t[1] << 8) | t[2])
tags = st.one_of(one_byte_tags, two_byte_tags, three_byte_tags)
items = st.lists(st.tuples(tags, st.binary(max_size=600)), max_size=5)


@given(items)
@settings(deadline=None)
def test_tlv_round_trip(pairs):
    encoded = b"".join(tlv.encode(t, v) for t, v in pairs)
    assert tlv.parse(encoded) == pairs


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_tlv_parse_refuses_or_round_trips_random_bytes(data):
    try:
        parsed = tlv.parse(data)
    except CardProtocolError as exc:
        assert exc.code == "card_protocol" and exc.fr
        return
    # Whatever parses is canonical: encoding it again gives the same bytes.
    assert b"".join(tlv.encode(t, v) for t, v in parsed) == data


@given(items, st.integers(1, 50))
@settings(deadline=None)
def test_truncated_tlv_is_refused(pairs, cut):
    encoded = b"".join(tlv.encode(t, v) for t, v in pairs)
    if not encoded:
        return
    truncated = encoded[:max(0, len(encoded) - cut)]
    try:
        parsed = tlv.parse(truncated)
    except CardProtocolError:
        return
    assert parsed != pairs  # a cut at an item boundary parses, but never as the whole


@pytest.mark.parametrize("data, why", [
    (bytes.fromhex("5380"), "indefinite length"),
    (bytes.fromhex("53817F") + bytes(0x7F), "not in its shortest form"),
    (bytes.fromhex("5382007F") + bytes(0x7F), "not in its shortest form"),
    (bytes.fromhex("538400000001") + b"\0", "more than 3 bytes"),
    (bytes.fromhex("5303AABB"), "runs past the end"),
    (bytes.fromhex("5F"), "truncated tag"),
    (bytes.fromhex("5FC1C1C10100"), "tag longer than 3 bytes"),
    (bytes.fromhex("53"), "missing length"),
    (bytes.fromhex("5381"), "truncated length"),
])
def test_malformed_tlv_says_why(data, why):
    with pytest.raises(CardProtocolError, match=why):
        tlv.parse(data)


def test_one_and_find_insist_on_exact_structure():
    body = tlv.encode(0x70, b"cert") + tlv.encode(0x71, b"\0")
    assert tlv.find(body, 0x70) == b"cert"
    assert tlv.find(body, 0xFE, required=False) is None
    with pytest.raises(CardProtocolError, match="FE is missing"):
        tlv.find(body, 0xFE)
    with pytest.raises(CardProtocolError, match="appears twice"):
        tlv.find(body + tlv.encode(0x70, b"x"), 0x70)
    with pytest.raises(CardProtocolError, match="expected only tag 53"):
        tlv.one(tlv.encode(0x53, body) + b"\x00\x00", 0x53)


commands = st.builds(Command, st.integers(0, 0xFF), st.integers(0, 0xFF), st.integers(0, 0xFF),
                     st.integers(0, 0xFF), st.binary(max_size=255), st.one_of(st.none(), st.integers(1, 256)))


@given(commands)
@settings(deadline=None)
def test_command_round_trip(cmd):
    assert Command.parse(cmd.to_bytes()) == cmd


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_command_parse_refuses_or_round_trips(raw):
    try:
        cmd = Command.parse(raw)
    except CardProtocolError:
        return
    assert cmd.to_bytes() == raw


@given(st.binary(max_size=300))
@settings(deadline=None)
def test_response_parse(raw):
    if len(raw) < 2 or len(raw) > 258:
        with pytest.raises(CardProtocolError):
            Response.parse(raw)
    else:
        answer = Response.parse(raw)
        assert answer.to_bytes() == raw and answer.sw == int.from_bytes(raw[-2:], "big")


@given(st.integers(0, 0xFFFF))
@settings(deadline=None)
def test_every_status_word_has_words_in_both_languages(sw):
    en, fr = meaning(sw)
    assert en and fr


def test_status_word_families():
    assert meaning(0x63C2)[1] == "code PIN erroné, 2 essais restants"
    assert meaning(0x6983)[0] == "PIN blocked"
    assert meaning(0x6110)[0] == "16 more bytes to fetch"
    assert meaning(0x6C00)[0] == "wrong Le, the card has 256 bytes"


def test_extended_and_inconsistent_apdus_are_refused():
    with pytest.raises(CardProtocolError, match="extended-length"):
        Command.parse(bytes.fromhex("00A40400000005A000000308"))
    with pytest.raises(CardProtocolError, match="says 5 but 3"):
        Command.parse(bytes.fromhex("00A4040005A00000"))
    with pytest.raises(CardProtocolError, match="4-byte header"):
        Command.parse(b"\x00\xa4")
