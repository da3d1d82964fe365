"""The right of access: one citizen's data, all of it, and nobody else's."""

from __future__ import annotations

import json
import stat

import pytest

from hub.access import FORMAT, export
from hub.errors import Forbidden, NotFound
from hub.roles import Principal
from hub.terminal import Terminal
from tests.conftest import run_cli


@pytest.fixture
def office(tmp_path):
    with Terminal.init(tmp_path / "home", "MAIRIE-01") as t:
        desk = t.session(Principal.agent("claire"))
        helene = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        karim = desk.citizens.register(first_name="Karim", last_name="Benali", birth_date="1992-11-30")
        bill = desk.cases.open("facture-municipale", helene["id"], {
            "bill_kind": "cantine", "bill_reference": "FAC-2026-00042", "amount_cents": "4250"})
        desk.cases.note(bill["id"], "Payé au guichet")
        desk.payments.take(bill["id"], 4250, "card")
        other = desk.cases.open("facture-municipale", karim["id"], {
            "bill_kind": "cantine", "bill_reference": "FAC-2026-00043", "amount_cents": "1000"})
        yield t, helene, karim, bill, other


def test_export_holds_the_citizen_their_cases_payments_notes_and_events(office):
    t, helene, karim, bill, other = office
    data = export(t.session(Principal.agent("claire")), helene["id"])
    assert data["format"] == FORMAT and data["citizen"]["last_name"] == "Dupont"
    assert [c["id"] for c in data["cases"]] == [bill["id"]]
    assert data["cases"][0]["fields"]["bill_reference"] == "FAC-2026-00042"
    assert [n["text"] for n in data["notes"]] == ["Payé au guichet"]
    assert [p["amount_cents"] for p in data["payments"]] == [4250]
    types = [e["type"] for e in data["events"]]
    assert types[0] == "citizen.registered" and "case.opened" in types and "payment.taken" in types
    text = json.dumps(data, ensure_ascii=False)
    assert "Benali" not in text and other["id"] not in text and "FAC-2026-00043" not in text


def test_a_kiosk_cannot_export_anyone_and_an_unknown_id_is_refused(office):
    t, helene, *_ = office
    with pytest.raises(Forbidden):
        export(t.session(Principal.kiosk("BORNE-1")), helene["id"])
    with pytest.raises(NotFound):
        export(t.session(Principal.agent("claire")), "01JUNKNOWN0000000000000000")


def test_cli_writes_the_export_readable_by_its_owner_only(office, tmp_path):
    t, helene, *_ = office
    out = tmp_path / "acces-helene.json"
    result = run_cli("citizen", "export", helene["id"], "--out", str(out), home=t.home)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text("utf-8"))["citizen"]["first_name"] == "Hélène"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    refused = run_cli("citizen", "export", helene["id"], "--out", str(tmp_path / "missing" / "x.json"), home=t.home)
    assert refused.returncode == 2 and refused.stderr.startswith("beffroi: error:")
