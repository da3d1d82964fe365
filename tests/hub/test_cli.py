"""The `beffroi` CLI contract, through the real console script."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.hub.test_domain import BULKY


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    assert run_cli("init", "--terminal", "MAIRIE-01", home=home).returncode == 0
    return home


def _ok(*args, home):
    result = run_cli(*args, "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(*args, home, message):
    before = (home / "journal.db").read_bytes() if home and (home / "journal.db").exists() else None
    events = _count(home)
    result = run_cli(*args, home=home)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("beffroi: error:") and message in lines[0], result.stderr
    assert _count(home) == events
    return before


def _count(home):
    if home is None or not (home / "journal.db").exists():
        return None
    import sqlite3
    with sqlite3.connect(home / "journal.db") as db:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]


def _citizen(home):
    return _ok("citizen", "add", "--first-name", "Hélène", "--last-name", "Dupont", "--birth-date", "1985-03-12",
               "--postcode", "49000", home=home)


def test_full_counter_flow(home):
    services = _ok("services", home=home)
    assert {s["code"] for s in services} >= {"encombrants", "signalement"}
    assert all({"code", "names", "fields", "policy"} <= set(s) for s in services)
    person = _citizen(home)
    assert [c["id"] for c in _ok("citizen", "search", "helene dupont", home=home)] == [person["id"]]
    fields = [x for k, v in BULKY.items() for x in ("--field", f"{k}={v}")]
    case = _ok("case", "new", "--service", "encombrants", "--citizen", person["id"], *fields, home=home)
    assert case["status"] == "submitted" and len(case["tracking_code"]) == 8
    assert _ok("case", "show", case["tracking_code"], home=home)["id"] == case["id"]
    moved = _ok("case", "status", case["tracking_code"], "scheduled", "--reason", "tournée", home=home)
    assert moved["status"] == "scheduled"
    bill = _ok("case", "new", "--service", "facture-municipale", "--citizen", person["id"], "--field",
               "bill_kind=cantine", "--field", "bill_reference=FAC-1", "--field", "amount_cents=1200", home=home)
    receipt = _ok("pay", bill["id"], "--amount-cents", "1200", "--method", "cash", home=home)
    assert receipt["receipt_number"] == "MAIRIE-01-000001"
    assert run_cli("verify", home=home).returncode == 0
    digest = run_cli("state-hash", home=home).stdout.strip()
    assert len(digest) == 64
    assert run_cli("rebuild", home=home).returncode == 0
    assert run_cli("state-hash", home=home).stdout.strip() == digest


def test_error_paths_print_one_line_exit_2_and_write_nothing(home, tmp_path):
    person = _citizen(home)
    fields = [x for k, v in BULKY.items() for x in ("--field", f"{k}={v}")]
    _refused("case", "new", "--service", "permis-de-chasse", "--citizen", person["id"], home=home,
             message="unknown service")
    _refused("case", "new", "--service", "encombrants", "--citizen", person["id"], *fields[:-2], "--field",
             "slot=2020-01-01 matin", home=home, message="slot")
    _refused("case", "new", "--service", "encombrants", "--citizen", person["id"], "--field", "nonsense", home=home,
             message="KEY=VALUE")
    _refused("case", "new", "--service", "encombrants", "--citizen", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", *fields,
             home=home, message="no citizen")
    case = _ok("case", "new", "--service", "encombrants", "--citizen", person["id"], *fields, home=home)
    _refused("case", "status", case["id"], "collected", home=home, message="cannot move from submitted")
    _refused("case", "show", "ZZZZZZZZ", home=home, message="no case")
    _refused("citizen", "add", "--first-name", "A", "--last-name", "B", "--birth-date", "31/02/1990", home=home,
             message="birth_date")
    _refused("citizen", "add", "--first-name", "A", "--last-name", "B", "--birth-date", "yesterday", home=home,
             message="birth_date")
    _refused("pay", case["id"], "--amount-cents", "-3", "--method", "cash", home=home, message="amount")
    _refused("pay", case["id"], "--amount-cents", "3", "--method", "bitcoin", home=home, message="invalid choice")
    _refused("pay", case["id"], "--amount-cents", "abc", "--method", "cash", home=home, message="invalid int")
    _refused("init", "--terminal", "MAIRIE-01", home=home, message="already a Beffroi home")
    _refused("frobnicate", home=None, message="invalid choice")


def test_missing_home_is_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere"
    for args in (("citizen", "search", "x"), ("verify",), ("state-hash",), ("case", "show", "ABCD")):
        result = run_cli(*args, home=missing)
        assert result.returncode == 2 and "is not a Beffroi home" in result.stderr and "beffroi init" in result.stderr
    assert not missing.exists()
    bad = run_cli("init", "--terminal", "bad name!", home=missing)
    assert bad.returncode == 2 and "terminal name" in bad.stderr
    bad = run_cli("init", "--terminal", "ANNEXE-03", "--office", "../bureau", home=missing)
    assert bad.returncode == 2 and "office name" in bad.stderr and bad.stderr.count("\n") == 1
    assert not missing.exists()
    made = run_cli("init", "--terminal", "ANNEXE-03", "--office", "ANNEXE-NORD", "--json", home=missing)
    assert made.returncode == 0 and json.loads((missing / "terminal.json").read_text())["office"] == "ANNEXE-NORD"


def test_verify_reports_the_first_bad_event(home):
    _citizen(home)
    import sqlite3
    with sqlite3.connect(home / "journal.db") as db:
        db.execute("UPDATE events SET data = replace(data, 'Dupont', 'Dupond')")
    result = run_cli("verify", home=home)
    assert result.returncode == 1 and "#1" in result.stderr and "hash" in result.stderr


def test_demo_creates_every_status_of_every_service(tmp_path):
    home = tmp_path / "demo"
    result = run_cli("demo", "--no-ui", "--citizens", "40", home=home)
    assert result.returncode == 0, result.stderr
    from hub.catalog import default_catalog
    from hub.terminal import Terminal
    with Terminal.open(home) as t:
        seen = set(t.conn.execute("SELECT service || '/' || status FROM cases").fetchall())
        for service in default_catalog():
            for status in service.transitions:
                assert (f"{service.code}/{status}",) in seen
        assert t.verify() is None
    assert "Hélène" in run_cli("citizen", "search", "helene dupont", home=home).stdout
