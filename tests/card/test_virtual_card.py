"""The virtual card's applet, APDU by APDU (no reader needed): it follows PIV
for what the login uses and refuses every malformed command. Fuzzed."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card import ca, tlv
from card.apdu import Command, Response
from card.piv import AID, PivCard, pin_block
from card.virtual import VirtualCard


class Direct:
    """A link straight to the applet: the PIV client's logic without PC/SC."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return self.card.process(apdu)


@pytest.fixture
def applet(tmp_path):
    ca.issue(tmp_path, "claire", "Claire Moreau", "agent", "246810")
    return VirtualCard.of(tmp_path, "claire")


def test_certificate_comes_back_through_chained_answers(applet):
    link = Direct(applet)
    piv = PivCard(link)
    piv.select()
    cert = piv.certificate()
    assert cert.subject.rfc4514_string() == "CN=Claire Moreau,UID=claire,OU=agent,O=Ville de Beffroi"
    assert any(apdu[:2] == b"\x00\xc0" for apdu in link.sent), "a certificate over 256 bytes needs GET RESPONSE"


def test_small_le_gets_the_rest_by_61xx(applet):
    applet.process(Command(0, 0xA4, 4, 0, AID).to_bytes())
    get = Command(0, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, bytes.fromhex("5FC105")), le=16)
    first = Response.parse(applet.process(get.to_bytes()))
    assert len(first.data) == 16 and first.sw1 == 0x61


def test_nothing_but_select_before_select(applet):
    assert applet.process(Command(0, 0x20, 0, 0x80, pin_block("246810")).to_bytes()) == b"\x69\x85"
    assert Response.parse(applet.process(Command(0, 0xA4, 4, 0, b"\xa0\x00\x00\x00\x99").to_bytes())).sw == 0x6A82


def test_signing_needs_the_pin_and_power_off_forgets_it(applet):
    piv = PivCard(Direct(applet))
    piv.select()
    sign = Command(0, 0x87, 0x11, 0x9A, tlv.encode(0x7C, tlv.encode(0x82, b"") + tlv.encode(0x81, bytes(32))), le=256)
    assert Response.parse(applet.process(sign.to_bytes())).sw == 0x6982
    piv.verify_pin("246810")
    assert piv.pin_tries() is None
    assert len(piv.sign(bytes(32))) > 60
    applet.power()
    piv.select()
    assert Response.parse(applet.process(sign.to_bytes())).sw == 0x6982


def test_tries_counter_is_kept_in_the_card_file(applet, tmp_path):
    piv = PivCard(Direct(applet))
    piv.select()
    assert Response.parse(applet.process(Command(0, 0x20, 0, 0x80, pin_block("999999")).to_bytes())).sw == 0x63C2
    assert json.loads(ca.card_path(tmp_path, "claire").read_text())["pin_tries"] == 2
    again = VirtualCard.of(tmp_path, "claire")
    PivCard(Direct(again)).select()
    assert PivCard(Direct(again)).pin_tries() == 2


@given(st.lists(st.binary(min_size=0, max_size=270), max_size=12))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_commands_never_crash_the_card_nor_unlock_it(applet, commands):
    applet.process(Command(0, 0xA4, 4, 0, AID).to_bytes())
    for raw in commands:
        answer = applet.process(raw)
        assert 2 <= len(answer) <= 258
    assert not applet.verified  # no random command verifies a PIN it does not know


class Hostile:
    """A card that answers anything at all: the client refuses with a CardError
    (fr/en) and never fails another way."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)

    def transmit(self, apdu: bytes) -> bytes:
        return self.answers.pop(0) if self.answers else b"\x90\x00"


answers = st.lists(st.one_of(
    st.binary(max_size=260),
    st.tuples(st.binary(max_size=256), st.sampled_from([0x9000, 0x6100, 0x6110, 0x6C08, 0x63C1, 0x63C0, 0x6983,
                                                         0x6982, 0x6A82, 0x6F00])).map(
        lambda t: t[0] + t[1].to_bytes(2, "big"))), max_size=8)


@given(answers, st.sampled_from(["select", "certificate", "verify_pin", "pin_tries", "sign"]))
@settings(max_examples=400, deadline=None)
def test_client_refuses_any_hostile_answer_cleanly(replies, step):
    from card.errors import CardError
    piv = PivCard(Hostile(replies))
    call = {"select": piv.select, "certificate": piv.certificate, "verify_pin": lambda: piv.verify_pin("246810"),
            "pin_tries": piv.pin_tries, "sign": lambda: piv.sign(bytes(32))}[step]
    try:
        call()
    except CardError as exc:
        assert exc.en and exc.fr and exc.code


def test_a_card_without_the_piv_applet_says_so():
    from card.errors import NotPiv
    with pytest.raises(NotPiv) as refused:
        PivCard(Hostile([b"\x6a\x82"])).select()
    assert "pas d'application PIV" in refused.value.fr and "6A82" in refused.value.en
