"""``beffroi card …`` through the real console script, pcscd and vpcd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from card.reader import Pcsc
from tests.conftest import run_cli

BEFFROI = str(Path(sys.executable).with_name("beffroi"))


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    assert run_cli("init", "--terminal", "MAIRIE-01", home=home).returncode == 0
    return home


def provision(home, *args):
    return run_cli("card", "provision", *args, "--json", home=home)


def test_provision_issues_a_card_and_refuses_bad_input(home, tmp_path):
    done = provision(home, "--agent", "claire", "--name", "Claire Moreau", "--pin", "246810")
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["subject"] == "CN=Claire Moreau,UID=claire,OU=agent,O=Ville de Beffroi" and card["tries"] == 3
    assert (home / "cards" / "claire.json").stat().st_mode & 0o777 == 0o600
    assert (home / "ca" / "agent-ca.key").stat().st_mode & 0o777 == 0o600
    ops = provision(home, "--agent", "julien", "--role", "ops", "--pin", "135790")
    assert json.loads(ops.stdout)["role"] == "ops"
    before = sorted(p.name for p in (home / "cards").iterdir())
    for bad, said in [(("--agent", "bob", "--pin", "12"), "PIN is 6 to 8 digits"),
                      (("--agent", "Bob Dylan", "--pin", "246810"), "agent id"),
                      (("--pin", "246810"), "either --agent NAME or --citizen ID"),
                      (("--agent", "bob", "--role", "root", "--pin", "246810"), "invalid choice")]:
        refused = provision(home, *bad)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1
    assert sorted(p.name for p in (home / "cards").iterdir()) == before
    nowhere = run_cli("card", "provision", "--agent", "bob", "--pin", "246810", home=tmp_path / "nowhere")
    assert nowhere.returncode == 2 and "not a Beffroi home" in nowhere.stderr
    assert not (tmp_path / "nowhere").exists()


def test_serve_login_status_and_revoke(home, slot):
    provision(home, "--agent", "claire", "--name", "Claire Moreau", "--pin", "246810")
    env = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
    serve = subprocess.Popen([BEFFROI, "card", "serve", "--home", str(home), "--port", str(slot.port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with Pcsc() as pcsc:
            pcsc.wait(slot.reader, present=True, timeout=10)
        ok = run_cli("card", "login", "--pin", "246810", "--reader", slot.reader, "--json", home=home)
        assert ok.returncode == 0, ok.stderr
        who = json.loads(ok.stdout)
        assert (who["ok"], who["uid"], who["name"], who["role"]) == (True, "claire", "Claire Moreau", "agent")
        assert who["principal"] == {"role": "agent", "id": "claire", "scope_citizen": None}

        env_ = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
        piped = subprocess.run([BEFFROI, "card", "login", "--pin", "-", "--reader", slot.reader, "--home", str(home)],
                               input="246810\n", capture_output=True, text=True, env=env_, timeout=60)
        assert piped.returncode == 0 and "logged in: Claire Moreau (agent claire)" in piped.stdout, piped.stderr

        wrong = run_cli("card", "login", "--pin", "000000", "--reader", slot.reader, "--json", home=home)
        assert wrong.returncode == 1
        assert json.loads(wrong.stdout) | {"en": "", "fr": ""} == {"ok": False, "code": "wrong_pin", "tries_left": 2,
                                                                  "en": "", "fr": ""}
        assert "2 tries left" in wrong.stderr and "2 essais" in wrong.stderr

        status = run_cli("card", "status", "--json", home=home)
        assert status.returncode == 0, status.stderr
        mine = next(r for r in json.loads(status.stdout)["readers"] if r["reader"] == slot.reader)
        assert mine["card"] and mine["applet"] == "PIV" and mine["pin_tries"] == 2
        assert mine["subject"] == "CN=Claire Moreau,UID=claire,OU=agent,O=Ville de Beffroi"

        assert run_cli("card", "revoke", "claire", home=home).returncode == 0
        revoked = run_cli("card", "login", "--pin", "246810", "--reader", slot.reader, "--json", home=home)
        assert revoked.returncode == 1 and json.loads(revoked.stdout)["code"] == "revoked"
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=10)
    assert serve.returncode == 0, err
    assert "development and tests only" in err
    with Pcsc() as pcsc:
        pcsc.wait(slot.reader, present=False, timeout=5)
    gone = run_cli("card", "login", "--pin", "246810", "--reader", slot.reader, home=home)
    assert gone.returncode == 1 and "no card" in gone.stderr


def test_serve_refuses_a_production_terminal(home):
    provision(home, "--agent", "claire", "--pin", "246810")
    config = json.loads((home / "terminal.json").read_text())
    (home / "terminal.json").write_text(json.dumps(config | {"production": True}))
    refused = run_cli("card", "serve", home=home)
    assert refused.returncode == 2
    assert "development and tests only" in refused.stderr
    assert "configured for production" in refused.stderr


def test_serve_needs_a_card(home):
    refused = run_cli("card", "serve", home=home)
    assert refused.returncode == 2 and "card provision" in refused.stderr


def test_pcscd_down_gives_a_clear_message_and_the_cli_still_works(home, tmp_path, monkeypatch):
    """libpcsclite finds pcscd through $PCSCLITE_CSOCK_NAME: pointing it at a
    socket nobody serves is pcscd being down, for this process only."""
    provision(home, "--agent", "claire", "--pin", "246810")
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(tmp_path / "no-pcscd.comm"))
    login = run_cli("card", "login", "--pin", "246810", "--json", home=home)
    assert login.returncode == 1
    said = json.loads(login.stdout)
    assert said["code"] == "pcscd_down" and "pcscd" in said["fr"] and "pcscd" in said["en"]
    status = run_cli("card", "status", home=home)
    assert status.returncode == 1 and "smart-card service (pcscd) is not running" in status.stderr
    assert run_cli("services", home=home).returncode == 0


def test_missing_pcsc_library_is_a_clear_refusal_not_a_crash(tmp_path):
    """Where libpcsclite1 (or pyscard) is missing, importing the login still
    works and a login says what to install."""
    code = ("import sys; sys.modules['smartcard'] = None\n"
            "from card.login import login\n"
            "from card.errors import PcscUnavailable\n"
            "from hub.terminal import Terminal\n"
            f"t = Terminal.init({str(tmp_path / 'h')!r}, 'M1')\n"
            "try:\n    login(t, '246810')\nexcept PcscUnavailable as e:\n    print(e.en)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "install libpcsclite1" in done.stdout
