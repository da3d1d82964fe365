"""/api/v1: every call is a hub call in the key's role; refused calls answer a
clear error in English and French and store nothing."""

from __future__ import annotations

import datetime as dt
import json

import requests

from hub.terminal import Terminal

from .conftest import auth, stored


def call(server, method: str, path: str, key: str | None, body=None, raw: bytes | None = None, **kw):
    headers = auth(key) if key else {}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    r = requests.request(method, f"{server.url}/api/v1{path}", headers={**headers, "Content-Type": "application/json"},
                         data=data, timeout=10, **kw)
    return r.status_code, r.json()


def test_an_agent_serves_a_citizen_end_to_end(server, api_keys):
    agent = api_keys["agent"]
    status, citizen = call(server, "POST", "/citizens", agent, {
        "first_name": "Hélène", "last_name": "Dupont", "birth_date": "12/03/1985", "postcode": "49000",
        "address": "3 rue Pasteur"})
    assert status == 201 and citizen["birth_date"] == "1985-03-12"
    status, found = call(server, "GET", "/citizens?q=helene%20dupont", agent)
    assert status == 200 and [c["id"] for c in found] == [citizen["id"]]
    status, edited = call(server, "PATCH", f"/citizens/{citizen['id']}", agent, {"phone": "06 12 34 56 78"})
    assert status == 200 and edited["phone"] == "0612345678"
    slot = dt.date.today() + dt.timedelta(days=10)
    while slot.isoweekday() > 5:
        slot += dt.timedelta(days=1)
    status, case = call(server, "POST", "/cases", agent, {"service": "encombrants", "citizen_id": citizen["id"], "fields": {
        "address": "3 rue Pasteur", "items": "un canapé", "volume_m3": "2", "slot": f"{slot.isoformat()} matin"}})
    assert status == 201, case
    status, moved = call(server, "POST", f"/cases/{case['tracking_code']}/status", agent, {"status": case["allowed"][0]})
    assert status == 200 and moved["status"] == case["allowed"][0]
    status, noted = call(server, "POST", f"/cases/{case['id']}/notes", agent, {"text": "Appel du citoyen"})
    assert status == 201 and noted["notes"][0]["text"] == "Appel du citoyen"
    status, mine = call(server, "GET", f"/citizens/{citizen['id']}/cases", agent)
    assert [c["id"] for c in mine] == [case["id"]]
    status, ticket = call(server, "POST", "/queue/tickets", agent, {"family": "V"})
    assert status == 201 and ticket["label"] == "V001"
    status, called = call(server, "POST", "/queue/call", agent, {"families": ["V"], "desk": "guichet 2"})
    assert called["ticket"]["id"] == ticket["id"]
    status, closed = call(server, "POST", f"/queue/tickets/{ticket['id']}/close", agent, {"outcome": "served"})
    assert closed["status"] == "served"
    status, nobody = call(server, "POST", "/queue/call", agent, {})
    assert status == 200 and nobody == {"ticket": None}
    with Terminal.open(server.home) as t:
        actors = {a for (a,) in t.conn.execute("SELECT DISTINCT actor FROM events")}
        assert t.verify() is None
    assert actors == {"agent:api:test-agent"}  # the journal names the key that acted


def test_payments_and_refunds(server, api_keys):
    agent = api_keys["agent"]
    _, citizen = call(server, "POST", "/citizens", agent, {"first_name": "Jean", "last_name": "Martin",
                                                           "birth_date": "1970-01-01"})
    _, case = call(server, "POST", "/cases", agent, {"service": "facture-municipale", "citizen_id": citizen["id"],
                                                     "fields": {"bill_kind": "cantine", "bill_reference": "CANT-2026-11",
                                                                "amount_cents": 1500}})
    assert case["fee_cents"] == 1500, case
    status, payment = call(server, "POST", f"/cases/{case['id']}/payments", agent,
                           {"amount_cents": 1500, "method": "card"})
    assert status == 201 and payment["receipt_number"] == "MAIRIE-01-000001"
    status, refund = call(server, "POST", f"/payments/{payment['id']}/refunds", agent,
                          {"amount_cents": 500, "reason": "trop-perçu"})
    assert status == 201 and refund["kind"] == "refund" and refund["refund_of"] == payment["id"]
    before = stored(server.home)
    status, refused = call(server, "POST", f"/payments/{payment['id']}/refunds", agent,
                           {"amount_cents": 5000, "reason": "trop"})
    assert status == 400 and "1000" in refused["error"]["en"] and refused["error"]["fr"]
    assert call(server, "GET", f"/payments/{payment['id']}", agent)[1]["amount_cents"] == 1500
    assert stored(server.home) == before


def test_kiosk_reach_is_the_hub_kiosk_reach(server, api_keys):
    kiosk = api_keys["kiosk"]
    before = stored(server.home)
    for method, path, body in (("GET", "/citizens?q=dupont", None),
                               ("POST", "/citizens", {"first_name": "A", "last_name": "B", "birth_date": "1980-01-01"}),
                               ("GET", "/queue/tickets", None), ("POST", "/queue/call", {})):
        status, refused = call(server, method, path, kiosk, body)
        assert status == 403 and refused["error"]["code"] == "forbidden", (path, refused)
        assert refused["error"]["fr"] != refused["error"]["en"]
    status, refused = call(server, "POST", "/cases", kiosk, {"service": "acte-naissance", "fields": {}})
    assert status == 403 and "agent" in refused["error"]["en"]
    assert stored(server.home) == before
    status, case = call(server, "POST", "/cases", kiosk, {"service": "signalement", "fields": {
        "category": "chaussee", "location": "47.47,-0.55", "description": "Nid-de-poule"}})
    assert status == 201 and case["citizen_id"] is None
    # another kiosk call cannot read it by id; the citizen's code and verification can
    status, _ = call(server, "GET", f"/cases/{case['id']}", kiosk)
    assert status == 404  # the same answer as for a case that does not exist
    status, seen = call(server, "POST", "/cases/check", kiosk, {"tracking_code": case["tracking_code"],
                                                                "verification": case["verify_value"]})
    assert status == 200 and seen["id"] == case["id"] and "fields" not in seen
    status, wrong = call(server, "POST", "/cases/check", kiosk, {"tracking_code": case["tracking_code"],
                                                                 "verification": "0000" if case["verify_value"] != "0000" else "1111"})
    assert status == 404 and "tries left" in wrong["error"]["en"]
    status, ticket = call(server, "POST", "/queue/tickets", kiosk, {"family": "E"})
    assert status == 201


def test_keys_and_bodies_are_checked(server, api_keys):
    before = stored(server.home)
    status, refused = call(server, "GET", "/services", None)
    assert status == 401 and "Bearer" in refused["error"]["en"]
    r = requests.get(f"{server.url}/api/v1/services", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = requests.get(f"{server.url}/api/v1/services", headers={"X-API-Key": api_keys["ops"]}, timeout=10)
    assert r.status_code == 200 and len(r.json()) >= 9
    agent = api_keys["agent"]
    bad = [
        (b"not json", "JSON"), (b"[1, 2]", "JSON"),
        (json.dumps({"first_name": "A"}).encode(), "last_name: is required"),
        (json.dumps({"first_name": 3, "last_name": "B", "birth_date": "1980-01-01"}).encode(), "first_name: must be text"),
        (json.dumps({"first_name": "A", "last_name": "B", "birth_date": "1980-01-01", "admin": True}).encode(),
         "admin: is not a field"),
        (json.dumps({"first_name": "A", "last_name": "B", "birth_date": "2999-01-01"}).encode(), "birth_date"),
    ]
    for raw, words in bad:
        status, refused = call(server, "POST", "/citizens", agent, raw=raw)
        assert status == 400 and words in refused["error"]["en"], (raw, refused)
    status, refused = call(server, "POST", "/cases/X/payments", agent, {"amount_cents": True, "method": "card"})
    assert status == 400 and "amount_cents" in refused["error"]["en"]
    status, refused = call(server, "POST", "/citizens", agent, raw=b'{"first_name": "' + b"x" * 100_000 + b'"}')
    assert status == 413 and refused["error"]["fr"]
    status, refused = call(server, "GET", "/citizens?limit=1000", agent)
    assert status == 400
    status, refused = call(server, "GET", "/cases/ABCD-EFGH", agent)
    assert status == 404 and refused["error"]["code"] == "unknown_case"
    status, refused = call(server, "DELETE", "/services", agent)
    assert status == 405
    assert stored(server.home) == before


def test_form_errors_name_every_field(server, api_keys):
    before = stored(server.home)
    status, refused = call(server, "POST", "/cases", api_keys["kiosk"], {"service": "signalement", "fields": {
        "category": "licorne", "location": "91,200", "colour": "red"}})
    assert status == 400
    fields = {f["field"] for f in refused["error"]["fields"]}
    assert fields == {"category", "location", "description", "colour"}
    assert all(f["fr"] and f["en"] for f in refused["error"]["fields"])
    assert stored(server.home) == before


def test_unknown_addresses_answer_in_both_languages(server):
    r = requests.get(f"{server.url}/api/v1/nowhere", timeout=10)
    assert r.status_code == 404 and "openapi.json" in r.json()["error"]["en"] and "adresse" in r.json()["error"]["fr"]
    r = requests.get(f"{server.url}/open311/v2/services.csv", timeout=10)
    assert r.status_code == 404 and r.json()[0]["code"] == 404 and "adresse inconnue" in r.json()[0]["description"]
    r = requests.put(f"{server.url}/open311/v2/services.xml", timeout=10)
    assert r.status_code == 405 and r.headers["Content-Type"].startswith("application/xml") and "Allow" in r.headers
