"""Card login through the real pcscd, the vpcd driver and the virtual card."""

from __future__ import annotations

import json

import pytest

from card import ca, login
from card.errors import BadPin, BadSignature, Expired, NoCard, NoReader, NoTrust, PinBlocked, Revoked, WrongCA, WrongPin
from card.login import authenticate, challenge, verify_signature
from card.piv import PivCard
from card.reader import Pcsc
from hub.roles import Principal
from hub.terminal import Terminal


def tries_in_file(home, uid="claire"):
    return json.loads(ca.card_path(home, uid).read_text())["pin_tries"]


def test_right_pin_logs_the_agent_in(counter, reader):
    reader.insert(counter.home, "claire")
    done = authenticate(counter, "246810", reader.name)
    assert done.principal == Principal.agent("claire")
    assert (done.identity.uid, done.identity.name, done.identity.role) == ("claire", "Claire Moreau", "agent")
    assert done.reader == reader.name


def test_role_comes_from_the_certificate(counter, reader, issue):
    issue(counter.home, "julien", role="ops", pin="135790")
    reader.insert(counter.home, "julien")
    assert login.login(counter, "135790", reader.name) == Principal.ops("julien")


def test_citizen_card_at_a_kiosk_opens_only_that_citizen(tmp_path, reader, issue):
    with Terminal.init(tmp_path / "kiosk", "BORNE-01") as kiosk:
        issue(kiosk.home, "01HCITIZEN0000000000000000", role="citizen", pin="482016")
        reader.insert(kiosk.home, "01HCITIZEN0000000000000000")
        principal = login.login(kiosk, "482016", reader.name, audience="citizen")
        assert principal.role == "kiosk" and principal.scope_citizen == "01HCITIZEN0000000000000000"
        # A citizen card is no agent card.
        with pytest.raises(WrongCA):
            login.login(kiosk, "482016", reader.name)


def test_wrong_pin_says_tries_left_then_blocks(counter, reader):
    reader.insert(counter.home, "claire")
    with pytest.raises(WrongPin) as first:
        authenticate(counter, "000000", reader.name)
    assert first.value.tries_left == 2 and "2 essais" in first.value.fr and "2 tries left" in first.value.en
    with pytest.raises(WrongPin) as second:
        authenticate(counter, "000000", reader.name)
    assert second.value.tries_left == 1
    with pytest.raises(PinBlocked) as third:
        authenticate(counter, "000000", reader.name)
    assert "bloqué" in third.value.fr and "blocked" in third.value.en
    # Blocked is blocked: the right PIN no longer opens it, even after re-insertion.
    reader.insert(counter.home, "claire")
    with pytest.raises(PinBlocked):
        authenticate(counter, "246810", reader.name)
    assert tries_in_file(counter.home) == 0


def test_right_pin_resets_the_tries(counter, reader):
    reader.insert(counter.home, "claire")
    with pytest.raises(WrongPin):
        authenticate(counter, "000000", reader.name)
    authenticate(counter, "246810", reader.name)
    assert tries_in_file(counter.home) == 3


def test_malformed_pin_never_reaches_the_card(counter, reader):
    reader.insert(counter.home, "claire")
    for pin in ("12", "1234", "abcdef", "123456789", ""):
        with pytest.raises(BadPin):
            authenticate(counter, pin, reader.name)
    assert tries_in_file(counter.home) == 3


def test_revoked_card_is_refused_before_the_pin(counter, reader):
    ca.revoke(counter.home, "claire")
    reader.insert(counter.home, "claire")
    with pytest.raises(Revoked) as refused:
        authenticate(counter, "000000", reader.name)
    assert "révoquée" in refused.value.fr
    assert tries_in_file(counter.home) == 3  # checked before the PIN: no try burnt


def test_reissued_card_revokes_the_old_one(counter, reader, tmp_path):
    old = ca.card_path(counter.home, "claire").read_bytes()
    ca.issue(counter.home, "claire", "Claire Moreau", "agent", "567890")
    (tmp_path / "old.json").write_bytes(old)
    from card.virtual import Insertion, VirtualCard
    with Pcsc() as pcsc:
        with Insertion(VirtualCard(tmp_path / "old.json"), reader.slot.port):
            pcsc.wait(reader.name, present=True, timeout=5)
            with pytest.raises(Revoked):
                authenticate(counter, "246810", reader.name)
        pcsc.wait(reader.name, present=False, timeout=5)


def test_card_from_another_city_is_refused(counter, reader, tmp_path, issue):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    issue(elsewhere, "claire", pin="246810")  # same name, same PIN, another CA
    reader.insert(elsewhere, "claire")
    with pytest.raises(WrongCA) as refused:
        authenticate(counter, "246810", reader.name)
    assert "n'a pas été émise par l'AC" in refused.value.fr
    assert tries_in_file(elsewhere) == 3


@pytest.mark.parametrize("days, said", [((-400, -1), "expired"), ((2, 30), "not valid before")])
def test_expired_or_not_yet_valid_card_is_refused(counter, reader, issue, days, said):
    issue(counter.home, "ancien", days=days)
    reader.insert(counter.home, "ancien")
    with pytest.raises(Expired, match=said):
        authenticate(counter, "246810", reader.name)


def test_missing_or_forged_revocation_list_refuses_every_login(counter, reader, tmp_path, issue):
    reader.insert(counter.home, "claire")
    crl = counter.home / "ca" / "agent-ca.crl"
    good = crl.read_bytes()
    crl.unlink()
    with pytest.raises(NoTrust, match="revocation list"):
        authenticate(counter, "246810", reader.name)
    # A list signed by another CA (one that would hide a revocation) is no list.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ca.ensure(elsewhere)
    crl.write_bytes((elsewhere / "ca" / "agent-ca.crl").read_bytes())
    with pytest.raises(NoTrust):
        authenticate(counter, "246810", reader.name)
    crl.write_bytes(good)
    assert authenticate(counter, "246810", reader.name).identity.uid == "claire"


def test_terminal_without_a_ca_refuses(tmp_path, reader, counter):
    reader.insert(counter.home, "claire")
    with Terminal.init(tmp_path / "bare", "MAIRIE-02") as bare:
        with pytest.raises(NoTrust, match="trusts no agent CA"):
            authenticate(bare, "246810", reader.name)


def test_replayed_signature_is_refused(counter, reader):
    """A card (or a relay in front of it) that answers with a signature it made
    before: the first login is genuine, the second gets yesterday's signature."""
    reader.insert(counter.home, "claire", behaviour="replay")
    authenticate(counter, "246810", reader.name)
    with pytest.raises(BadSignature) as refused:
        authenticate(counter, "246810", reader.name)
    assert "rejouée" in refused.value.fr


def test_signature_over_another_challenge_is_refused(counter, reader):
    reader.insert(counter.home, "claire", behaviour="other-challenge")
    with pytest.raises(BadSignature):
        authenticate(counter, "246810", reader.name)


def test_signature_is_bound_to_terminal_and_session(counter, reader):
    """A genuine signature made by the card over one login's challenge is worth
    nothing for another terminal, another session or another nonce."""
    reader.insert(counter.home, "claire")
    with Pcsc() as pcsc, pcsc.connect(reader.name) as link:
        piv = PivCard(link)
        piv.select()
        cert = piv.certificate()
        piv.verify_pin("246810")
        nonce = bytes(range(32))
        digest = challenge(counter.id, "SESSION-A", nonce)
        signature = piv.sign(digest)
    verify_signature(cert, digest, signature)
    for other in (challenge("OTHER-TERMINAL", "SESSION-A", nonce), challenge(counter.id, "SESSION-B", nonce),
                  challenge(counter.id, "SESSION-A", bytes(32))):
        with pytest.raises(BadSignature):
            verify_signature(cert, other, signature)


def test_empty_reader_and_unknown_reader_say_so(counter, reader):
    with pytest.raises(NoCard) as empty:
        authenticate(counter, "246810", reader.name)
    assert "insérez votre carte" in empty.value.fr
    with pytest.raises(NoReader) as unknown:
        authenticate(counter, "246810", "Lecteur inexistant 00 00")
    assert "n'est pas branché" in unknown.value.fr and "Virtual PCD" in unknown.value.en


def test_certificate_copied_onto_another_card_is_refused(counter, reader, tmp_path):
    """A genuine certificate on a card holding another key: the trust checks
    pass, the signature cannot."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    forged = json.loads(ca.card_path(counter.home, "claire").read_text())
    forged["keys"]["9A"]["pem"] = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    (counter.home / "cards" / "forged.json").write_text(json.dumps(forged))
    reader.insert(counter.home, "forged")
    with pytest.raises(BadSignature):
        authenticate(counter, "246810", reader.name)


def test_demo_cards_log_in_the_demo_agents(tmp_path, pcscd):
    from card.demo import insert_demo_card
    with Terminal.init(tmp_path / "demo", "DEMO-01") as t:
        inserted = insert_demo_card(t.home)
        try:
            assert login.login(t, "246810", inserted.reader) == Principal.agent("agent")
        finally:
            inserted.remove()
        inserted = insert_demo_card(t.home, "ops")
        try:
            assert login.login(t, "135790", inserted.reader) == Principal.ops("ops")
        finally:
            inserted.remove()
        with Pcsc() as pcsc:
            pcsc.wait(inserted.reader, present=False, timeout=5)


def events(terminal, prefix: str = "card.") -> list[tuple[str, str, dict]]:
    rows = terminal.conn.execute("SELECT type, actor, data FROM events WHERE type LIKE ? ORDER BY seq", (prefix + "%",))
    return [(t, a, json.loads(d)) for t, a, d in rows]


def test_sign_ins_failed_pins_and_lockouts_are_in_the_journal(counter, reader):
    reader.insert(counter.home, "claire")
    authenticate(counter, "246810", reader.name)
    for _ in range(3):
        with pytest.raises((WrongPin, PinBlocked)):
            authenticate(counter, "000000", reader.name)
    recorded = events(counter)
    assert [(t, a) for t, a, _ in recorded] == [("card.signed_in", "agent:claire"), ("card.pin_failed", "system:beffroi"),
                                                ("card.pin_failed", "system:beffroi"),
                                                ("card.pin_blocked", "system:beffroi")]
    assert [d.get("tries_left") for _, _, d in recorded] == [None, 2, 1, None]
    for _, _, data in recorded:
        assert (data["uid"], data["terminal"], data["reader"]) == ("claire", "MAIRIE-01", reader.name)
        assert "pin" not in json.dumps(data).lower() or set(data) >= {"tries_left"}
        assert "246810" not in json.dumps(data) and "000000" not in json.dumps(data)
    assert counter.verify() is None  # the journal's chain holds


def test_card_removal_is_in_the_journal(counter, reader):
    from card.login import open_session
    from hub.terminal import Terminal
    from tests.waiting import wait_until
    reader.insert(counter.home, "claire")
    session = open_session(counter, "246810", reader=reader.name)
    try:
        reader.remove()
        wait_until(lambda: session.locked, what="the lock")

        def removed():
            with Terminal.open(counter.home) as t:
                return [d for ty, _, d in events(t) if ty == "card.removed"]
        found = wait_until(removed, what="the removal event")
        assert found[0]["uid"] == "claire" and found[0]["reason"] == "card_removed"
        assert found[0]["terminal"] == "MAIRIE-01"
    finally:
        session.close()


def test_login_holds_the_card_between_pin_and_signature(counter, reader):
    """Another program on the same reader keeps resetting the PIN's security
    status (VERIFY P1=FF); inside one PC/SC transaction no reset lands between
    our VERIFY and our signature, so every login succeeds."""
    import threading

    from card.apdu import Command
    reader.insert(counter.home, "claire")
    stop = threading.Event()
    sent = []

    def meddle() -> None:
        from card.errors import CardRemoved
        with Pcsc() as pcsc:
            while not stop.is_set():
                try:  # each login ends with a card reset, after which this connection must be made again
                    with pcsc.connect(reader.name) as link:
                        link.transmit(Command(0, 0xA4, 4, 0, bytes.fromhex("A000000308")).to_bytes())
                        while not stop.is_set():
                            sent.append(link.transmit(Command(0, 0x20, 0xFF, 0x80).to_bytes()))
                except CardRemoved:
                    continue

    meddler = threading.Thread(target=meddle)
    meddler.start()
    try:
        from tests.waiting import wait_until
        wait_until(lambda: len(sent) > 3, what="the other program")
        for _ in range(8):
            assert authenticate(counter, "246810", reader.name).identity.uid == "claire"
    finally:
        stop.set()
        meddler.join(10)
    assert b"\x90\x00" in sent


def test_a_transaction_begins_after_another_program_reset_the_card(counter, reader):
    """pcsc-lite tells each other connection once that the card was reset: the
    transaction reconnects and goes on instead of calling the card removed."""
    from card.apdu import OK, Command, Response
    reader.insert(counter.home, "claire")
    with Pcsc() as pcsc, pcsc.connect(reader.name) as ours:
        pcsc.connect(reader.name).close()  # another program's disconnect resets the card
        with ours.transaction():
            answer = Response.parse(ours.transmit(Command(0, 0xA4, 4, 0, bytes.fromhex("A000000308")).to_bytes()))
            assert answer.sw == OK
    assert authenticate(counter, "246810", reader.name).identity.uid == "claire"
