"""Enrolment of a factory-fresh card with the standard PIV commands, through
`beffroi card enrol`, pcscd and the virtual card: the path a YubiKey takes.
Then the agent's own commands: change the PIN, unblock it with the PUK."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from card import ca
from card.errors import Revoked
from card.login import authenticate
from hub.terminal import Terminal
from tests.conftest import run_cli

BEFFROI = str(Path(sys.executable).with_name("beffroi"))


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    assert run_cli("init", "--terminal", "MAIRIE-01", home=home).returncode == 0
    ca.ensure(home)
    return home


def beffroi(home: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([BEFFROI, *args, "--home", str(home)], input=input, capture_output=True, text=True,
                          timeout=120)


def journal(home: Path, type: str) -> list[dict]:
    with sqlite3.connect(home / "journal.db") as db:
        return [json.loads(d) for (d,) in db.execute("SELECT data FROM events WHERE type=? ORDER BY seq", (type,))]


def card_bytes(home: Path, label: str) -> bytes:
    return ca.card_path(home, label).read_bytes()


def enrol(home: Path, reader: str, *extra: str, pin: str = "246810") -> subprocess.CompletedProcess:
    return beffroi(home, "card", "enrol", "--agent", "claire", "--name", "Claire Moreau", "--reader", reader,
                   "--pin", "-", "--json", *extra, input=pin + "\n")


def test_a_factory_card_is_enrolled_then_logs_in_with_the_chosen_pin(home, reader):
    assert beffroi(home, "card", "blank", "--card", "spare1").returncode == 0
    reader.insert(home, "spare1")
    done = enrol(home, reader.name)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] == "claire" and out["role"] == "agent" and len(out["puk"]) == 8 and len(out["management_key"]) == 48
    card = ca.read_card(home, "spare1")
    assert card["management"]["key"] == out["management_key"] != "010203040506070801020304050607080102030405060708"
    assert set(card["keys"]) == {"9A"} and {"5FC102", "5FC106", "5FC107", "5FC105"} <= set(card["objects"])
    assert out["guid"] in card["objects"]["5FC102"].lower()
    with Terminal.open(home) as t:
        login = authenticate(t, "246810", reader.name)
    assert (login.identity.uid, login.identity.name, login.identity.fingerprint) == ("claire", "Claire Moreau",
                                                                                     out["fingerprint"])
    enrolled = journal(home, "card.enrolled")
    assert [e["uid"] for e in enrolled] == ["claire"] and enrolled[0]["guid"] == out["guid"]
    raw = (home / "journal.db").read_bytes()
    for secret in ("246810", out["puk"], out["management_key"]):
        assert secret.encode() not in raw  # never a PIN, PUK or management key in the journal
    # The factory PUK no longer works; the one shown at enrolment does.
    refused = beffroi(home, "card", "unblock", "--puk", "-", "--new-pin", "-", "--reader", reader.name,
                      input="12345678\n135790\n")
    assert refused.returncode == 1 and "wrong PUK: 2 tries left" in refused.stderr
    assert beffroi(home, "card", "unblock", "--puk", "-", "--new-pin", "-", "--reader", reader.name,
                   input=f"{out['puk']}\n135790\n").returncode == 0
    # Revoking the agent's card puts the enrolled certificate on the revocation list.
    assert beffroi(home, "card", "revoke", "claire").returncode == 0
    with Terminal.open(home) as t, pytest.raises(Revoked):
        authenticate(t, "135790", reader.name)


def test_a_wrong_management_key_changes_nothing(home, reader):
    beffroi(home, "card", "blank", "--card", "spare1")
    reader.insert(home, "spare1")
    before = card_bytes(home, "spare1")
    done = enrol(home, reader.name, "--management-key", "00" * 24)
    assert done.returncode == 2 and done.stderr.startswith("beffroi: error: the card refused the management key")
    assert len(done.stderr.strip().splitlines()) == 1
    assert card_bytes(home, "spare1") == before and journal(home, "card.enrolled") == []


BAD_INPUT = [
    ("1234", (), "a PIN is 6 to 8 digits"),
    ("123456", (), "other than the factory PIN"),
    ("246810", ("--management-key", "0102"), "48 hexadecimal digits"),
    ("246810", ("--management-algorithm", "aes256"), "64 hexadecimal digits"),
    ("246810", ("--current-puk", "12"), "a PUK is 6 to 8 digits"),
]


def test_bad_input_is_refused_before_the_card_is_touched(home, reader, capsys, monkeypatch):
    """The same `main` the console script runs, in this process (one CLI start
    per case would cost seconds on a loaded machine)."""
    from hub.cli import main
    ca.blank(home, "spare1")
    reader.insert(home, "spare1")
    before = card_bytes(home, "spare1")
    for pin, extra, said in BAD_INPUT:
        extra = (*extra, "--management-key", "01" * 24) if "--management-algorithm" in extra else extra
        monkeypatch.setattr(sys, "stdin", io.StringIO(pin + "\n"))
        code = main(["card", "enrol", "--agent", "claire", "--reader", reader.name, "--pin", "-", *extra,
                     "--home", str(home)])
        err = capsys.readouterr().err
        assert code == 2 and said in err and err.startswith("beffroi: error: "), (pin, extra, err)
        assert len(err.strip().splitlines()) == 1
    assert card_bytes(home, "spare1") == before


def test_a_yubikey_whose_factory_key_is_aes192_is_enrolled_too(home, reader):
    """YubiKeys from firmware 5.7 ship the same default key value as AES-192:
    enrolment finds out from the card's 6A86 and goes on with AES."""
    ca.blank(home, "yk57")
    card = json.loads(ca.card_path(home, "yk57").read_text())
    card["management"]["alg"] = 0x0A
    ca.card_path(home, "yk57").write_text(json.dumps(card))
    reader.insert(home, "yk57")
    done = enrol(home, reader.name)
    assert done.returncode == 0, done.stderr
    assert ca.read_card(home, "yk57")["management"] == {"alg": 0x0A, "key": json.loads(done.stdout)["management_key"]}
    stated = enrol(home, reader.name, "--management-algorithm", "3des", "--management-key",
                   json.loads(done.stdout)["management_key"], "--current-pin", "246810", pin="135790")
    assert stated.returncode == 2 and "is not 3DES" in stated.stderr


def test_enrolment_needs_the_city_ca(tmp_path, reader):
    bare = tmp_path / "bare"
    assert run_cli("init", "--terminal", "MAIRIE-02", home=bare).returncode == 0
    ca.blank(bare, "spare1")
    reader.insert(bare, "spare1")
    before = card_bytes(bare, "spare1")
    done = enrol(bare, reader.name)
    assert done.returncode == 2 and "no agent CA key" in done.stderr
    assert card_bytes(bare, "spare1") == before


def test_an_enrolled_card_cannot_be_enrolled_again_with_the_factory_key(home, reader):
    beffroi(home, "card", "blank", "--card", "spare1")
    reader.insert(home, "spare1")
    first = json.loads(enrol(home, reader.name).stdout)
    again = enrol(home, reader.name, pin="135790")
    assert again.returncode == 2 and "not this card's key" in again.stderr
    # With the key from the first enrolment and the agent's PIN, IT can enrol it again; the old certificate is revoked.
    second = enrol(home, reader.name, "--management-key", first["management_key"], "--current-pin", "246810",
                   "--current-puk", first["puk"], pin="135790")
    assert second.returncode == 0, second.stderr
    crl = (home / "ca" / "agent-ca.crl").read_bytes()
    from cryptography import x509
    revoked = {r.serial_number for r in x509.load_pem_x509_crl(crl)}
    assert int(first["serial"], 16) in revoked and int(json.loads(second.stdout)["serial"], 16) not in revoked


def test_change_pin_then_a_wrong_old_pin_costs_a_try(home, reader):
    ca.issue(home, "claire", "Claire Moreau", "agent", "246810")
    reader.insert(home, "claire")
    ok = beffroi(home, "card", "change-pin", "--pin", "-", "--new-pin", "-", "--reader", reader.name,
                 input="246810\n771177\n")
    assert ok.returncode == 0, ok.stderr
    with Terminal.open(home) as t:
        assert authenticate(t, "771177", reader.name).identity.uid == "claire"
    wrong = beffroi(home, "card", "change-pin", "--pin", "-", "--new-pin", "-", "--reader", reader.name, "--json",
                    input="246810\n999999\n")
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["code"] == "wrong_pin"
    assert ca.read_card(home, "claire")["pin_tries"] == 2
    short = beffroi(home, "card", "change-pin", "--pin", "771177", "--new-pin", "1234", "--reader", reader.name)
    assert short.returncode == 2 and short.stderr == "beffroi: error: a PIN is 6 to 8 digits\n"
    assert ca.read_card(home, "claire")["pin_tries"] == 2  # refused before the card


def test_a_citizen_vault_card_is_enrolled_and_opens_only_at_a_kiosk_audience(tmp_path, reader):
    from card.enrolment import enrol as enrol_card
    from card.errors import Untrusted
    from card.login import login
    from hub.roles import Principal
    with Terminal.init(tmp_path / "kiosk", "BORNE-01") as kiosk:
        ca.ensure(kiosk.home)
        ca.blank(kiosk.home, "spare1")
        reader.insert(kiosk.home, "spare1")
        done = enrol_card(kiosk, reader.name, "01HCITIZEN0000000000000000", "Hélène Dupont", "citizen", "482016",
                          random=lambda n: bytes(range(n)))  # injected randomness: the PUK and GUID follow from it
        assert done.guid == bytes(range(16)).hex() and done.puk.isdigit() and len(done.puk) == 8
        principal = login(kiosk, "482016", reader.name, audience="citizen")
        assert principal == Principal.kiosk("BORNE-01").narrowed(citizen_id="01HCITIZEN0000000000000000")
        with pytest.raises(Untrusted):
            login(kiosk, "482016", reader.name)  # a citizen card is no agent card
        assert [e["uid"] for e in journal(kiosk.home, "card.enrolled")] == ["01HCITIZEN0000000000000000"]


def test_a_plain_piv_card_keeps_its_management_key_and_says_so(home, reader):
    """SP 800-73-4 has no command to change the management key (YubiKeys have
    their own): a card without it is still enrolled, and the output says the key
    is unchanged rather than print a key the card does not have."""
    beffroi(home, "card", "blank", "--card", "plain")
    reader.insert(home, "plain", behaviour="piv-only")
    done = enrol(home, reader.name)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["management_key"] is None
    assert ca.read_card(home, "plain")["management"]["key"] == "010203040506070801020304050607080102030405060708"
    text = beffroi(home, "card", "enrol", "--agent", "bruno", "--reader", reader.name, "--pin", "-",
                   "--current-pin", "246810", "--current-puk", json.loads(done.stdout)["puk"], input="135790\n")
    assert text.returncode == 0 and "management key unchanged" in text.stdout, text.stderr
    with Terminal.open(home) as t:
        assert authenticate(t, "135790", reader.name).identity.uid == "bruno"


def test_a_wrong_current_pin_stops_before_anything_changes(home, reader):
    beffroi(home, "card", "blank", "--card", "spare1")
    reader.insert(home, "spare1")
    before = ca.read_card(home, "spare1")
    done = enrol(home, reader.name, "--current-pin", "654321")
    assert done.returncode == 2 and "wrong PIN: 2 tries left" in done.stderr
    after = ca.read_card(home, "spare1")
    assert after["pin_tries"] == 2 and {**after, "pin_tries": 3} == before  # only the try it cost
