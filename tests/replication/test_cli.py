"""The CLI contract of the issue, through the real `beffroi` console script."""

from __future__ import annotations

import json

from tests.conftest import run_cli

from .conftest import start_process_sor, stop_process


def ok(*args, home):
    result = run_cli(*args, "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(*args, home) -> str:
    result = run_cli(*args, home=home)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("beffroi: error:"), result.stderr
    return lines[0]


def test_the_whole_cycle_from_the_command_line(tmp_path):
    sor, t1, t2, bundle = tmp_path / "sor", tmp_path / "t1", tmp_path / "t2", tmp_path / "usb.bundle"
    info = ok("sor", "init", "--shares", "3", "--threshold", "2", "--city", "Angers", home=sor)
    assert len(info["shares"]) == 3
    assert "already" in refused("sor", "init", "--shares", "3", "--threshold", "2", home=sor)
    proc, url = start_process_sor(sor, "--no-litestream")
    try:
        shown = {}
        for home, name in ((t1, "MAIRIE-01"), (t2, "MAIRIE-02")):
            ok("init", "--terminal", name, home=home)
            assert "invitation" in refused("enroll", "--sor", url, home=home)   # a stranger is not stored
            code = ok("sor", "invite", name, home=sor)["code"]
            enrolled = ok("enroll", "--sor", url, "--invite", code, home=home)
            assert enrolled["status"] == "pending"
            shown[name] = enrolled["device_fingerprint"]
            ok("init", "--terminal", name, home=tmp_path / "copy" / name)   # the code was used: a second device is refused
            assert "invitation" in refused("enroll", "--sor", url, "--invite", code, home=tmp_path / "copy" / name)
        assert "approve" in refused("sync", home=t1)
        listing = ok("sor", "devices", home=sor)
        pending = listing["devices"]
        assert [d["status"] for d in pending] == ["pending", "pending"] and listing["invitations"] == []
        assert "no terminal" in refused("sor", "approve", "NOBODY", "--fingerprint", shown["MAIRIE-01"], home=sor)
        assert "fingerprint" in refused("sor", "approve", "MAIRIE-01", "--fingerprint", shown["MAIRIE-02"], home=sor)
        ok("sor", "approve", "MAIRIE-01", "--fingerprint", shown["MAIRIE-01"], home=sor)
        ok("sor", "approve", pending[1]["terminal"], "--fingerprint", shown["MAIRIE-02"].lower(), home=sor)
        citizen = ok("citizen", "add", "--first-name", "Hélène", "--last-name", "Dupont", "--birth-date",
                     "1985-03-12", home=t1)
        assert ok("sync", home=t1)["pushed"] == 1
        assert ok("sync", "--sor", url, home=t2)["pulled_events"] >= 1
        assert ok("citizen", "show", citizen["id"], home=t2)["last_name"] == "Dupont"
        ok("citizen", "edit", citizen["id"], "--postcode", "49000", home=t2)
        assert ok("bundle", "export", str(bundle), home=t2)["segments"] == 2
        assert ok("bundle", "import", str(bundle), home=t1)["pulled_events"] == 1
        assert ok("bundle", "import", str(bundle), home=t1)["pulled_events"] == 0
        assert run_cli("state-hash", home=t1).stdout == run_cli("state-hash", home=t2).stdout
        assert ok("sync", home=t1)["pushed"] == 1          # T1 relays T2's segment from the stick
        revoked = ok("revoke", "MAIRIE-02", home=sor)
        assert revoked["epoch"] == 2
        assert "revoked" in refused("sync", home=t2)
        assert "already revoked" in refused("revoke", "MAIRIE-02", home=sor)
        assert "revoked" in refused("sor", "approve", revoked["terminal"], "--fingerprint", shown["MAIRIE-02"],
                                    home=sor)
        shares = info["shares"]
        restored = ok("restore", "--sor", url, "--share", shares[0], "--share", shares[1], home=tmp_path / "new")
        assert restored["state_hash"] == run_cli("state-hash", home=t1).stdout.strip()
        assert "not empty" in refused("restore", "--sor", url, "--share", shares[0], "--share", shares[1],
                                      home=tmp_path / "new")
    finally:
        stop_process(proc)
    assert "unreachable" in refused("sync", home=t1)
    assert "--port" in refused("sor", "serve", "--port", "70000", home=sor)
