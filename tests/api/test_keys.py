"""`beffroi apikey` and the key store: secrets shown once, stored only as salted
hashes, refused once revoked; bad input exits 2 with one line and writes nothing."""

from __future__ import annotations

import json

import pytest

from api import keys
from hub.errors import Forbidden
from hub.terminal import Terminal

from ..conftest import run_cli


def test_create_list_revoke_through_the_cli(home):
    made = run_cli("apikey", "create", "--name", "fixmystreet", "--json", home=home)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["name"] == "fixmystreet" and key["role"] == "kiosk" and key["api_key"].startswith("bfk_")
    agent = json.loads(run_cli("apikey", "create", "--name", "desk-2", "--role", "agent", "--json", home=home).stdout)
    assert agent["role"] == "agent"
    listed = json.loads(run_cli("apikey", "list", "--json", home=home).stdout)
    assert [k["name"] for k in listed] == ["fixmystreet", "desk-2"]
    assert "api_key" not in json.dumps(listed) and key["api_key"] not in json.dumps(listed)
    with Terminal.open(home) as t:
        assert keys.check(t.conn, key["api_key"]).principal().actor == "kiosk:api:fixmystreet"
    revoked = run_cli("apikey", "revoke", "fixmystreet", home=home)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with Terminal.open(home) as t, pytest.raises(Forbidden):
        keys.check(t.conn, key["api_key"])
    # the name is free again once revoked, with a new secret
    again = json.loads(run_cli("apikey", "create", "--name", "fixmystreet", "--json", home=home).stdout)
    assert again["api_key"] != key["api_key"]


def test_secrets_are_never_stored(home):
    made = json.loads(run_cli("apikey", "create", "--name", "secret-check", "--json", home=home).stdout)
    secret = made["api_key"].split("_", 2)[2]    # bfk_<key id>_<secret>: the secret's own alphabet has "_"
    assert len(secret) >= 40
    with Terminal.open(home) as t:
        t.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("journal.db"))
    assert secret.encode() not in raw and made["api_key"].encode() not in raw
    with Terminal.open(home) as t:
        # local to the terminal: not an event, not in the state hash
        assert t.journal.count() == 0
        row = t.conn.execute("SELECT salt, digest FROM api_keys WHERE name='secret-check'").fetchone()
        assert len(row[0]) == 16 and len(row[1]) == 32


@pytest.mark.parametrize("args, words", [
    (("create", "--name", "bad name"), "key name"),
    (("create", "--name", ""), "key name"),
    (("create", "--name", "ok", "--role", "mayor"), "invalid choice"),
    (("revoke", "nobody"), "no active API key"),
])
def test_bad_input_exits_2_and_writes_nothing(home, args, words):
    def table():
        with Terminal.open(home) as t:
            keys.ensure(t.conn)
            return t.conn.execute("SELECT * FROM api_keys").fetchall()
    before = table()
    result = run_cli("apikey", *args, home=home)
    assert result.returncode == 2
    assert result.stderr.startswith("beffroi: error:") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert table() == before


def test_duplicate_active_name_is_refused(home):
    assert run_cli("apikey", "create", "--name", "twice", home=home).returncode == 0
    second = run_cli("apikey", "create", "--name", "twice", home=home)
    assert second.returncode == 2 and "revoke it first" in second.stderr


@pytest.mark.parametrize("presented", [None, "", "bfk_", "Bearer x", "bfk_0123456789ABCDEF_" + "x" * 43,
                                       "bfk_0123456789ABCDEF_" + "x" * 44])
def test_forged_keys_are_refused(home, presented):
    with Terminal.open(home) as t:
        real = keys.create(t.conn, "real", "ops")["api_key"]
        with pytest.raises(Forbidden):
            keys.check(t.conn, presented)
        # right id, wrong secret
        tampered = real[:-1] + ("A" if real[-1] != "A" else "B")
        with pytest.raises(Forbidden):
            keys.check(t.conn, tampered)


def test_serve_refuses_bad_options(home, tmp_path):
    remote = run_cli("serve", "--host", "0.0.0.0", "--port", "0", home=home)
    assert remote.returncode == 2 and "loopback" in remote.stderr
    nohome = run_cli("serve", "--port", "0", home=tmp_path / "nowhere")
    assert nohome.returncode == 2 and "not a Beffroi home" in nohome.stderr
    assert not (tmp_path / "nowhere").exists()


