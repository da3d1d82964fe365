"""Citizens, cases, payments, queue and vault through hub sessions."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from hub import ids
from hub.catalog import default_catalog
from hub.errors import Forbidden, FormErrors, Invalid, NotFound
from hub.roles import Principal

WEEKDAY = dt.date.today() + dt.timedelta(days=10)
while WEEKDAY.isoweekday() > 5:
    WEEKDAY += dt.timedelta(days=1)
BULKY = {"address": "3 rue Pasteur", "items": "un canapé", "volume_m3": "2", "slot": f"{WEEKDAY} matin"}


# --- tracking codes ---------------------------------------------------------

def test_tracking_code_check_catches_every_single_substitution_and_adjacent_swap():
    for _ in range(200):
        code = ids.tracking_code()
        assert len(code) == 8 and ids.normalize_tracking_code(code) == code
        for i, ch in itertools.product(range(8), ids.CROCKFORD):
            if ch != code[i]:
                assert ids.normalize_tracking_code(code[:i] + ch + code[i + 1:]) is None
        for i in range(7):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
                assert ids.normalize_tracking_code(swapped) is None


def test_tracking_code_reading_rules():
    code = ids.tracking_code()
    typed = ids.format_tracking_code(code).lower().replace("0", "o").replace("1", "l")
    assert ids.normalize_tracking_code(typed) == code
    assert ids.normalize_tracking_code("ABC") is None
    assert ids.normalize_tracking_code("ABCDEFG!") is None


# --- catalog ----------------------------------------------------------------

def test_catalog_has_the_required_services_with_everything_declared():
    catalog = default_catalog()
    assert {"encombrants", "acte-naissance", "acte-mariage-deces", "declaration-prealable", "signalement",
            "inscription-scolaire", "facture-municipale", "forfait-post-stationnement", "coffre-fort"} <= set(catalog.services)
    assert {s.policy for s in catalog} == {"full", "deferred", "unavailable"}
    for service in catalog:
        assert service.names["fr"] and service.names["en"] and service.fields
        for status in service.transitions:
            assert catalog.statuses[status]["fr"] and catalog.statuses[status]["en"]


@pytest.mark.parametrize("field,value,message", [
    ("volume_m3", "12", "between 1 and 5"),
    ("volume_m3", "deux", "whole number"),
    ("slot", "2020-01-01 matin", "days from today"),
    ("slot", f"{WEEKDAY} minuit", "one of matin"),
    ("address", "", "is required"),
])
def test_form_validation_names_the_field(field, value, message):
    service = default_catalog().get("encombrants")
    with pytest.raises(FormErrors) as exc:
        service.clean({**BULKY, field: value})
    assert [e.field for e in exc.value.errors] == [field]
    assert message in exc.value.errors[0].field_en and exc.value.errors[0].field_fr


def test_form_validation_reports_all_fields_and_unknown_ones():
    with pytest.raises(FormErrors) as exc:
        default_catalog().get("declaration-prealable").clean({"parcel": "??", "floor_area_m2": "100", "colour": "red"})
    assert {e.field for e in exc.value.errors} == {"colour", "parcel", "work_address", "work_kind", "floor_area_m2"}


def test_field_types_normalise():
    signal = default_catalog().get("signalement")
    clean = signal.clean({"category": "eclairage", "location": "47.47, -0.55", "description": "x"})
    assert clean["location"] == {"lat": 47.47, "long": -0.55}
    with pytest.raises(FormErrors, match="latitude"):
        signal.clean({"category": "eclairage", "location": "147.47, -0.55", "description": "x"})
    dp = default_catalog().get("declaration-prealable")
    assert dp.clean({"parcel": "ab 123", "work_address": "1 rue X", "work_kind": "abri",
                     "floor_area_m2": "5"})["parcel"] == "AB 0123"


# --- citizens ---------------------------------------------------------------

def test_search_is_accent_and_case_insensitive(desk, citizen):
    for query in ("helene dupont", "HÉLÈNE", "dup", "12/03/1985", "1985-03-12", "06 12 34 56 78", "+33612345678",
                  "pasteur"):
        assert [c["id"] for c in desk.citizens.search(query)] == [citizen["id"]], query
    assert desk.citizens.search("dupond martin") == []
    assert desk.citizens.search("   ") == []
    assert desk.citizens.search('"; DROP TABLE citizens; --') == []


def test_registration_warns_of_duplicates(desk, citizen):
    again = desk.citizens.register(first_name="helene", last_name="DUPONT", birth_date="12/03/1985")
    assert [d["id"] for d in again["duplicates"]] == [citizen["id"]]
    other = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-13")
    assert other["duplicates"] == []


def test_edit_reindexes_and_refuses_bad_input(desk, citizen):
    desk.citizens.edit(citizen["id"], last_name="Martin-Dupont", phone="0700000000")
    assert desk.citizens.search("martin")[0]["id"] == citizen["id"]
    with pytest.raises(FormErrors, match="postcode"):
        desk.citizens.edit(citizen["id"], postcode="ABC")
    assert desk.citizens.get(citizen["id"])["postcode"] == "49000"
    with pytest.raises(FormErrors):
        desk.citizens.register(first_name="", last_name="X", birth_date="2999-01-01")


# --- cases ------------------------------------------------------------------

def test_case_workflow_timeline_and_notes(desk, citizen):
    case = desk.cases.open("encombrants", citizen["id"], BULKY)
    assert case["status"] == "submitted" and case["verify_kind"] == "birth_year" and case["verify_value"] == "1985"
    assert set(case["allowed"]) == {"scheduled", "rejected", "cancelled"}
    with pytest.raises(Invalid, match="cannot move from submitted to collected"):
        desk.cases.move(case["id"], "collected")
    desk.cases.move(case["tracking_code"], "scheduled", reason="tournée du mardi")
    desk.cases.assign(case["id"], "agent")
    case = desk.cases.note(case["id"], "Accès par la cour")
    assert case["status"] == "scheduled" and case["assigned_to"] == "agent"
    assert [e["type"] for e in case["timeline"]] == ["case.opened", "case.status_changed", "case.assigned", "case.noted"]
    assert case["notes"][0]["text"] == "Accès par la cour"
    assert desk.cases.get(ids.format_tracking_code(case["tracking_code"]).lower())["id"] == case["id"]


def test_case_refusals(desk, citizen):
    with pytest.raises(NotFound, match="unknown service"):
        desk.cases.open("permis-de-chasse", citizen["id"], {})
    with pytest.raises(NotFound, match="no citizen"):
        desk.cases.open("encombrants", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", BULKY)
    with pytest.raises(FormErrors):
        desk.cases.open("encombrants", citizen["id"], {**BULKY, "volume_m3": "0"})
    assert desk.cases.count() == 0


def test_status_check_with_verification_and_lockout(terminal, desk, citizen):
    case = desk.cases.open("encombrants", citizen["id"], BULKY)
    kiosk = terminal.session(Principal.kiosk("BORNE-1"))
    view = kiosk.cases.check(case["tracking_code"], "1985")
    assert view["status"] == "submitted" and "fields" not in view and "notes" not in view
    for left in (4, 3, 2, 1, 0):
        with pytest.raises(NotFound, match=f"{left} tries left"):
            kiosk.cases.check(case["tracking_code"], "1984", now=1000.0)
    with pytest.raises(Forbidden, match="5 minutes"):
        kiosk.cases.check(case["tracking_code"], "1985", now=1001.0)
    assert kiosk.cases.check(case["tracking_code"], "1985", now=1000.0 + 301)["id"] == case["id"]


def test_kiosk_reaches_only_its_own_case(terminal, desk, citizen):
    mine = desk.cases.open("encombrants", citizen["id"], BULKY)
    other_person = desk.citizens.register(first_name="Karim", last_name="Benali", birth_date="1979-07-14")
    theirs = desk.cases.open("signalement", other_person["id"],
                             {"category": "eclairage", "location": "3 rue Pasteur", "description": "éteint"})
    kiosk = terminal.session(Principal.kiosk("BORNE-1"))
    kiosk.cases.check(mine["tracking_code"], "1985")
    assert kiosk.cases.get(mine["id"])["id"] == mine["id"]
    for key in (theirs["id"], theirs["tracking_code"], "ZZZZZZZZ"):  # not theirs, or none at all: one answer
        with pytest.raises(NotFound) as probe:
            kiosk.cases.get(key)
        assert probe.value.code == "not_found" and key in probe.value.en
    for attempt in (lambda: kiosk.citizens.search("benali"), lambda: kiosk.citizens.get(other_person["id"]),
                    lambda: kiosk.cases.for_citizen(other_person["id"]), lambda: kiosk.cases.move(mine["id"], "cancelled"),
                    lambda: kiosk.vault.for_citizen(other_person["id"]), lambda: kiosk.queue.waiting()):
        with pytest.raises(Forbidden):
            attempt()


def test_kiosk_files_a_simple_request_only(terminal):
    kiosk = terminal.session(Principal.kiosk("BORNE-1"))
    case = kiosk.cases.open("signalement", None, {"category": "chaussee", "location": "47.4,-0.5",
                                                  "description": "Nid-de-poule"}, contact={"first_name": "Ana"})
    assert case["verify_kind"] == "pin" and len(case["verify_value"]) == 4
    with pytest.raises(Forbidden, match="kiosk"):
        kiosk.cases.open("acte-naissance", None, {})


def test_concurrent_moves_become_a_conflict(tmp_path):
    from hub.terminal import Terminal
    a = Terminal.init(tmp_path / "a", "A")
    b = Terminal.init(tmp_path / "b", "B")
    sa = a.session(Principal.agent("claire"))
    person = sa.citizens.register(first_name="Jade", last_name="Roux", birth_date="1992-01-01")
    case = sa.cases.open("encombrants", person["id"], BULKY)
    b.accept(list(a.journal.events(a.id)))
    sa.cases.move(case["id"], "scheduled")
    b.session(Principal.agent("julien")).cases.move(case["id"], "cancelled")
    a.accept(list(b.journal.events(b.id)))
    b.accept(list(a.journal.events(a.id)))
    assert a.state_hash() == b.state_hash()
    conflicts = sa.cases.conflicts()
    assert len(conflicts) == 1 and conflicts[0]["found"] in ("scheduled", "cancelled")
    assert len(sa.cases.get(case["id"])["timeline"]) == 3  # both moves kept
    sa.cases.resolve_conflict(conflicts[0]["id"], "confirmed with the citizen")
    assert sa.cases.conflicts() == []


# --- payments ---------------------------------------------------------------

def test_payments_receipts_are_gapless_and_refunds_are_new_events(desk, citizen):
    bill = desk.cases.open("facture-municipale", citizen["id"],
                           {"bill_kind": "cantine", "bill_reference": "fac-2026-1", "amount_cents": "4550"})
    part = desk.payments.take(bill["id"], 2000, "cash")
    assert desk.cases.get(bill["id"])["status"] == "awaiting_payment"
    rest = desk.payments.take(bill["tracking_code"], 2550, "card")
    assert desk.cases.get(bill["id"])["status"] == "paid"
    refund = desk.payments.refund(rest["id"], 550, "trop-perçu")
    assert [p["receipt_seq"] for p in (part, rest, refund)] == [1, 2, 3]
    assert refund["receipt_number"] == "MAIRIE-01-000003" and refund["kind"] == "refund"
    with pytest.raises(Invalid, match="at most 2000"):
        desk.payments.refund(rest["id"], 2001, "again")
    for amount, method in ((0, "cash"), (-5, "cash"), (10, "bitcoin"), ("10", "cash"), (10**9, "card")):
        with pytest.raises(Invalid):
            desk.payments.take(bill["id"], amount, method)
    assert len(desk.payments.for_citizen(citizen["id"])) == 3


# --- queue ------------------------------------------------------------------

def test_queue_numbering_call_and_no_show(desk):
    today = dt.date(2026, 11, 25)
    tickets = [desk.queue.issue(f, day=today) for f in ("E", "E", "V")]
    assert [t["label"] for t in tickets] == ["E001", "E002", "V001"]
    assert desk.queue.issue("E", day=today + dt.timedelta(days=1))["label"] == "E001"
    assert desk.queue.counts(day=today) == {"E": 2, "V": 1}
    called = desk.queue.call_next(["V"], desk="guichet 2", day=today)
    assert called["label"] == "V001" and called["status"] == "called"
    assert desk.queue.close(called["id"], "no_show")["status"] == "no_show"
    assert desk.queue.call_next(day=today)["label"] == "E001"
    with pytest.raises(Invalid):
        desk.queue.issue("Z")
    with pytest.raises(Invalid, match="already no_show"):
        desk.queue.close(called["id"], "served")


# --- vault ------------------------------------------------------------------

def test_vault_encrypts_at_rest_and_checks_types(desk, citizen):
    content = b"%PDF-1.4\n% Avis d'imposition de Helene Dupont\n"
    doc = desk.vault.deposit(citizen["id"], "avis.pdf", content, "impots")
    name = desk.conn.execute("SELECT blob FROM vault_documents WHERE id=?", (doc["id"],)).fetchone()[0]
    blob = desk.terminal.home / "vault" / name[:2] / name
    assert b"Helene" not in blob.read_bytes()
    assert desk.vault.read(doc["id"]) == content
    again = desk.vault.deposit(citizen["id"], "avis-copie.pdf", content, "impots")
    assert desk.vault.read(again["id"]) == content
    for bad, message in ((b"MZ\x90\x00", "only PDF"), (b"", "empty"), (b"%PDF-" + b"x" * (10 * 1024 * 1024), "larger")):
        with pytest.raises(Invalid, match=message):
            desk.vault.deposit(citizen["id"], "x", bad)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    with pytest.raises(Invalid, match="damaged"):
        desk.vault.read(doc["id"])
    assert [d["id"] for d in desk.vault.for_citizen(citizen["id"])] == [again["id"], doc["id"]]


def test_agent_pin_login_locks_after_three(terminal, desk):
    agents = terminal.session(Principal.kiosk("x")).agents
    assert agents.login("agent", "246810").role == "agent"
    with pytest.raises(Forbidden, match="2 tries left"):
        agents.login("agent", "000000", now=10.0)
    with pytest.raises(Forbidden, match="1 tries left"):
        agents.login("agent", "000000", now=11.0)
    with pytest.raises(Forbidden, match="locked"):
        agents.login("agent", "000000", now=12.0)
    with pytest.raises(Forbidden, match="locked"):
        agents.login("agent", "246810", now=13.0)
