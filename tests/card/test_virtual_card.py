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


def sw(card: VirtualCard, command: Command) -> int:
    return Response.parse(card.process(command.to_bytes())).sw


def test_a_failed_select_of_another_applet_keeps_piv_and_its_pin(applet):
    """SP 800-73-4 Part 2 §3.1.1: an AID the card lacks (yubico-piv-tool probes
    the YubiKey OTP applet) answers 6A82 and PIV stays selected; selecting PIV
    again leaves the verified PIN as it is (OpenSC re-selects at each transaction)."""
    piv = PivCard(Direct(applet))
    piv.select()
    piv.verify_pin("246810")
    assert sw(applet, Command(0, 0xA4, 4, 0, bytes.fromhex("A0000005272001"))) == 0x6A82  # YubiKey OTP
    assert piv.pin_tries() is None and piv.certificate() is not None
    piv.select()
    assert piv.pin_tries() is None and len(piv.sign(bytes(32))) > 60
    assert sw(applet, Command(0, 0x20, 0xFF, 0x80)) == 0x9000  # P1 = FF resets the PIN's status
    assert piv.pin_tries() == 3


def test_mandatory_objects_are_there(applet):
    from card import objects
    piv = PivCard(Direct(applet))
    piv.select()
    guid = tlv.find(piv.get_data(objects.CHUID), 0x34)
    assert len(guid) == 16 and guid != bytes(16)
    assert tlv.find(piv.get_data(objects.CCC), 0xF0)[:5] == bytes.fromhex("A000000116")
    discovery = Response.parse(applet.process(Command(0, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, b"\x7e"), le=256).to_bytes()))
    assert tlv.find(tlv.one(discovery.data, 0x7E), 0x4F) == objects.PIV_AID
    assert tlv.find(piv.get_data(objects.SECURITY), 0xBA) == bytes.fromhex("013000")  # signs the CHUID
    assert piv.get_data(objects.CERT_9C) is None  # absent objects answer 6A82


def test_atr_check_byte_and_compact_tlv_history():
    from card.virtual import ATR
    check = 0
    for byte in ATR[1:]:
        check ^= byte
    assert check == 0  # TCK makes the XOR of T0..TCK zero
    historical = ATR[4:4 + (ATR[1] & 0x0F)]
    assert historical[0] == 0x80
    pos, tags = 1, []
    while pos < len(historical):
        tag, size = historical[pos] >> 4, historical[pos] & 0x0F
        tags.append(tag)
        pos += 1 + size
    assert pos == len(historical) and tags == [5, 7]


def test_provisioning_needs_the_management_key(tmp_path):
    from card import management, objects
    from card.errors import CardError
    ca.blank(tmp_path, "spare1")
    card = VirtualCard.of(tmp_path, "spare1")
    piv = PivCard(Direct(card))
    piv.select()
    generate = Command(0, 0x47, 0, 0x9A, tlv.encode(0xAC, tlv.encode(0x80, b"\x11")), le=256)
    assert sw(card, generate) == 0x6982
    assert sw(card, Command(0, 0xDB, 0x3F, 0xFF, tlv.encode(0x5C, objects.CHUID) + tlv.encode(0x53, b"\x00"))) == 0x6982
    with pytest.raises(CardError, match="not this card's key"):
        piv.authenticate_management(bytes(24))
    assert sw(card, generate) == 0x6982
    piv.authenticate_management(management.DEFAULT_KEY)
    public = piv.generate()
    assert "9A" in json.loads(ca.card_path(tmp_path, "spare1").read_text())["keys"]
    piv.put_data(objects.CERT_9C, bytes(700))  # chained: three APDUs
    assert piv.get_data(objects.CERT_9C) == bytes(700)
    assert public.curve.name == "secp256r1"
    card.power()  # a reset forgets the management key's authentication too
    piv.select()
    assert sw(card, generate) == 0x6982


def test_external_authentication_with_the_management_key(tmp_path):
    from card import management
    ca.blank(tmp_path, "spare1")
    card = VirtualCard.of(tmp_path, "spare1")
    PivCard(Direct(card)).select()
    asked = Response.parse(card.process(Command(0, 0x87, 3, 0x9B, tlv.encode(0x7C, tlv.encode(0x81, b"")), le=256)
                                        .to_bytes()))
    challenge = tlv.find(tlv.one(asked.data, 0x7C), 0x81)
    wrong = tlv.encode(0x7C, tlv.encode(0x82, management.encrypt(3, bytes(range(24)), challenge)))
    assert sw(card, Command(0, 0x87, 3, 0x9B, wrong)) == 0x6982 and not card.managed
    card.process(Command(0, 0x87, 3, 0x9B, tlv.encode(0x7C, tlv.encode(0x81, b"")), le=256).to_bytes())
    replayed = tlv.encode(0x7C, tlv.encode(0x82, management.encrypt(3, management.DEFAULT_KEY, challenge)))
    assert sw(card, Command(0, 0x87, 3, 0x9B, replayed)) == 0x6982  # an answer to an old challenge
    asked = Response.parse(card.process(Command(0, 0x87, 3, 0x9B, tlv.encode(0x7C, tlv.encode(0x81, b"")), le=256)
                                        .to_bytes()))
    challenge = tlv.find(tlv.one(asked.data, 0x7C), 0x81)
    right = tlv.encode(0x7C, tlv.encode(0x82, management.encrypt(3, management.DEFAULT_KEY, challenge)))
    assert sw(card, Command(0, 0x87, 3, 0x9B, right)) == 0x9000 and card.managed


def test_pin_change_puk_and_unblock(applet, tmp_path):
    from card.errors import PinBlocked, PukBlocked, WrongPin, WrongPuk
    piv = PivCard(Direct(applet))
    piv.select()
    with pytest.raises(WrongPin):
        piv.change_pin("111111", "222222")
    piv.change_pin("246810", "222222")
    for _ in range(2):
        with pytest.raises(WrongPin):
            piv.verify_pin("333333")
    with pytest.raises(PinBlocked):
        piv.verify_pin("333333")
    with pytest.raises(PinBlocked):
        piv.verify_pin("222222")  # the right PIN, too late
    with pytest.raises(WrongPuk) as wrong:
        piv.unblock_pin("87654321", "444444")
    assert wrong.value.tries_left == 2
    piv.unblock_pin("12345678", "444444")
    piv.verify_pin("444444")
    for _ in range(3):
        with pytest.raises((WrongPuk, PukBlocked)):
            piv.change_puk("00000000", "11111111")
    with pytest.raises(PukBlocked):
        piv.unblock_pin("12345678", "555555")
    stored = json.loads(ca.card_path(tmp_path, "claire").read_text())
    assert (stored["pin_tries"], stored["puk_tries"]) == (3, 0)


@pytest.mark.parametrize("block", [b"1234\xff\xff\xff\xff", b"12a456\xff\xff", b"1234567", b"12\xff3456\xff"])
def test_malformed_pin_blocks_are_refused_without_costing_a_try(applet, block):
    applet.process(Command(0, 0xA4, 4, 0, AID).to_bytes())
    assert sw(applet, Command(0, 0x20, 0, 0x80, block)) == 0x6A80
    assert applet.file["pin_tries"] == 3


def test_an_old_card_answering_630x_is_understood(tmp_path):
    from card.errors import PinBlocked, WrongPin
    ca.issue(tmp_path, "claire", "Claire Moreau", "agent", "246810")
    old = VirtualCard.of(tmp_path, "claire", behaviour="legacy")
    piv = PivCard(Direct(old))
    piv.select()
    assert sw(old, Command(0, 0x20, 0, 0x80, pin_block("999999"))) == 0x6302
    assert piv.pin_tries() == 2
    with pytest.raises(WrongPin) as wrong:
        piv.verify_pin("999999")
    assert wrong.value.tries_left == 1
    with pytest.raises(PinBlocked):
        piv.verify_pin("999999")


@given(st.lists(st.tuples(st.sampled_from([0x20, 0x24, 0x2C, 0x47, 0x87, 0xCB, 0xDB, 0xFF, 0xA4]),
                          st.binary(max_size=40)), max_size=10))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_piv_instructions_neither_verify_nor_manage(applet, commands):
    applet.process(Command(0, 0xA4, 4, 0, AID).to_bytes())
    for ins, data in commands:
        p2 = {0x87: 0x9B, 0x47: 0x9A, 0xCB: 0xFF, 0xDB: 0xFF, 0xFF: 0xFF, 0xA4: 0x00}.get(ins, 0x80)
        p1 = {0x87: 0x03, 0xCB: 0x3F, 0xDB: 0x3F, 0xFF: 0xFF, 0xA4: 0x04}.get(ins, 0x00)
        answer = applet.process(Command(0, ins, p1, p2, data, le=256 if data else None).to_bytes())
        assert 2 <= len(answer) <= 258
    assert not applet.verified and not applet.managed
