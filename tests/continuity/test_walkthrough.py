"""The README's continuity walk-through, command by command, as a person runs
it: declare an incident on a USB file, apply it at two terminals, serve
citizens in isolated mode, converge through an office relay while the SoR is
down, print the numbered register, end the incident. Bad input on the way:
one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from pypdf import PdfReader

from hub.terminal import Terminal
from tests.conftest import run_cli
from tests.replication.conftest import start_process_sor, stop_process


def ok(*args: str, home: Path | None = None) -> dict | str:
    done = run_cli(*args, home=home)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    try:
        return json.loads(done.stdout)
    except ValueError:
        return done.stdout


def refused(*args: str, home: Path | None = None, contains: str = "") -> str:
    done = run_cli(*args, home=home)
    assert done.returncode == 2 and done.stdout == "", (args, done.stdout, done.stderr)
    assert done.stderr.startswith("beffroi: error: ") and done.stderr.count("\n") == 1
    assert contains in done.stderr, done.stderr
    return done.stderr


def stored(home: Path) -> tuple[int, str, str]:
    with Terminal.open(home) as t:
        return t.journal.count(), t.state_hash(), t.mode().name


def test_the_incident_walkthrough(tmp_path):
    sor = tmp_path / "sor"
    ok("sor", "init", "--shares", "3", "--threshold", "2", "--city", "Ville d'Angers", home=sor)
    proc, url = start_process_sor(sor, "--no-litestream")
    homes = {name: tmp_path / name for name in ("MAIRIE-01", "MAIRIE-02")}
    relay_proc = None
    try:
        for name, home in homes.items():
            ok("init", "--terminal", name, home=home)
            code = ok("sor", "invite", name, "--json", home=sor)["code"]
            enrolled = ok("enroll", "--sor", url, "--invite", code, "--json", home=home)
            ok("sor", "approve", name, "--fingerprint", enrolled["device_fingerprint"], home=sor)
        for home in homes.values():   # (`sync --watch` runs all the time; here, one round each)
            ok("sync", home=home)
        # 1. the admin declares the incident on a USB stick
        usb = tmp_path / "usb"
        usb.mkdir()
        order = ok("incident", "declare", "--admin", str(sor / "admin"), "--reason", "rançongiciel au centre de données",
                   "--by", "DSI", "--range", "MAIRIE-01=1-5000", "--range", "MAIRIE-02=5001-10000",
                   "--tickets", "MAIRIE-01=100-499", "--tickets", "MAIRIE-02=500-899",
                   "--out", str(usb / "incident.json"), "--json")
        assert order["fingerprint"] and (usb / "incident.json").exists()
        refused("incident", "declare", "--admin", str(sor), "--reason", "x", "--out", str(usb / "incident.json"),
                contains="never overwritten")
        refused("incident", "declare", "--admin", str(sor), "--reason", "x", "--out", str(usb / "b.json"),
                "--range", "MAIRIE-01=1-10", "--range", "MAIRIE-02=5-20", contains="overlap")
        refused("incident", "declare", "--admin", str(tmp_path), "--reason", "x", "--out", str(usb / "b.json"),
                contains="admin-sign.key")
        assert not (usb / "b.json").exists()
        # 2. applied at both terminals (the second through `bundle import`)
        tampered = usb / "tampered.json"
        tampered.write_bytes((usb / "incident.json").read_bytes().replace(b"5001-10000", b"1").replace(
            b"DSI", b"DSJ"))
        before = stored(homes["MAIRIE-01"])
        refused("incident", "apply", str(tampered), home=homes["MAIRIE-01"], contains="refused")
        assert stored(homes["MAIRIE-01"]) == before
        applied = ok("incident", "apply", str(usb / "incident.json"), "--json", home=homes["MAIRIE-01"])
        assert applied["mode"] == "isolated" and applied["fingerprint"] == order["fingerprint"]
        ok("bundle", "import", str(usb / "incident.json"), home=homes["MAIRIE-02"])
        refused("incident", "apply", str(usb / "incident.json"), home=homes["MAIRIE-02"], contains="already applied")
        mode = ok("mode", "--json", home=homes["MAIRIE-02"])
        assert mode["mode"] == "isolated" and mode["register"]["first"] == 5001
        # the queue: each kiosk numbers its tickets from its own range
        assert ok("queue", "issue", "E", "--json", home=homes["MAIRIE-01"])["label"] == "E100"
        assert ok("queue", "issue", "E", "--json", home=homes["MAIRIE-02"])["label"] == "E500"
        # 3. serving citizens while isolated
        one = homes["MAIRIE-01"]
        helene = ok("citizen", "add", "--first-name", "Hélène", "--last-name", "Dupont", "--birth-date",
                    "1985-03-12", "--json", home=one)
        reason = refused("case", "new", "--service", "forfait-post-stationnement", "--citizen", helene["id"],
                         "--field", "notice_number=123456789012", "--field", "plate=AB-123-CD",
                         "--field", "amount_cents=3500", home=one, contains="unavailable")
        assert "isolated" in reason
        birth = ok("case", "new", "--service", "acte-naissance", "--citizen", helene["id"],
                   "--field", "last_name=Dupont", "--field", "first_names=Hélène", "--field", "birth_date=1985-03-12",
                   "--field", "copy_kind=integrale", "--field", "relationship=titulaire", "--field", "delivery=guichet",
                   "--json", home=one)
        assert birth["deferred"] is True or birth["deferred"] == 1
        # 4. the SoR is down; an office relay made from MAIRIE-01 lets the office converge
        stop_process(proc)
        ok("relay", "init", "--from", str(one), home=tmp_path / "relay")
        relay_proc, relay_url = start_process_sor(tmp_path / "relay", "--no-litestream")
        for name in ("MAIRIE-01", "MAIRIE-02", "MAIRIE-01"):
            ok("sync", "--sor", relay_url, home=homes[name])
        found = ok("citizen", "search", "helene dupont", "--json", home=homes["MAIRIE-02"])
        assert [c["id"] for c in found] == [helene["id"]]
        # 5. the numbered register
        printed = ok("register", "print", "--out", str(tmp_path / "register.pdf"), "--json", home=one)
        assert printed["acts"] == 1 and printed["first"] == 1
        text = "\n".join(p.extract_text() for p in PdfReader(str(tmp_path / "register.pdf")).pages)
        assert printed["head"] in text.replace("\n", "")
        # 6. the end of the incident: recovery
        ok("incident", "end", "--admin", str(sor), "--reason", "centre de données restauré",
           "--ends", order["order"], "--out", str(usb / "end.json"))
        ended = ok("incident", "apply", str(usb / "end.json"), "--json", home=homes["MAIRIE-01"])
        assert ended["mode"] == "recovery"          # recovery started by itself, and waits for the SoR
        assert any("exchange of segments" in w for w in ended["recovery"]["waiting_for"])
        ok("bundle", "import", str(usb / "end.json"), home=homes["MAIRIE-02"])
        mode = ok("mode", "--json", home=homes["MAIRIE-02"])
        assert mode["mode"] == "recovery" and any("exchange of segments" in w for w in mode["waiting_for"])
        assert (homes["MAIRIE-02"] / "recovery" / "recovery-report.pdf").exists()
    finally:
        if relay_proc is not None:
            stop_process(relay_proc)
        stop_process(proc)
