"""The terminal's API on a hostile network (issue 15): reads that would hold
the event loop, slow heads and bodies, kiosk probes of tracking codes, the
inputs that reached a 500, coordinates read loosely, and an anonymous caller
learning field names. Each attack runs on loopback, bounded in count and time."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading

import pytest
import requests

from hub.roles import Principal
from hub.terminal import Terminal
from tests.rawhttp import closed_by_server, connect, head_of
from tests.waiting import wait_until

from .conftest import Running, auth, stored
from .test_open311 import GOOD, post


def call(server, method: str, path: str, key: str | None, body=None, raw: bytes | None = None, **kw):
    headers = auth(key) if key else {}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    r = requests.request(method, f"{server.url}/api/v1{path}", headers={**headers, "Content-Type": "application/json"},
                         data=data, timeout=10, **kw)
    return r.status_code, r.json()


@pytest.fixture
def quick(home, api_keys):
    """A server whose head and body deadlines are one second."""
    running = Running(home, header_seconds=1.0, body_seconds=1.0)
    yield running
    running.stop()


# --- 4. the event loop is never held by a read; slow clients are cut off ---------------

def test_health_answers_while_every_reader_is_busy(server, api_keys):
    """All reading threads held (as by 32 heavy Open311 lists): the loop still
    answers health, and the held reads complete once released."""
    gate = threading.Event()
    loop, readers = server.loop, server.server.readers
    held = [asyncio.run_coroutine_threadsafe(readers.run(lambda t: gate.wait(30)), loop) for _ in range(len(readers.all))]
    waiting = []
    try:
        wait_until(lambda: readers.free.empty(), within=10, what="every reader to be held")
        with requests.Session() as http:
            for _ in range(5):
                waiting.append(threading.Thread(target=lambda: http.get(
                    f"{server.url}/open311/v2/requests.json", timeout=30)))
            for thread in waiting:
                thread.start()
            r = requests.get(f"{server.url}/api/v1/health", timeout=10)
            assert r.status_code == 200 and r.json()["status"] == "ok"
            assert all(thread.is_alive() for thread in waiting)   # the lists wait for a reader, not the loop
    finally:
        gate.set()
    for future in held:
        assert future.result(10) is True
    for thread in waiting:
        thread.join(30)
        assert not thread.is_alive()


def test_a_connection_that_never_finishes_its_head_is_closed(quick):
    sock = connect(quick.url)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: terminal\r\nX-Slow: ")
    wait_until(lambda: closed_by_server(sock), within=10, what="the API to close a slow head")
    sock.close()


def test_a_body_that_trickles_is_cut_and_nothing_stored(quick, api_keys):
    before = stored(quick.home)
    for path, kind in (("/api/v1/citizens", "application/json"), ("/open311/v2/requests.json",
                                                                   "application/x-www-form-urlencoded")):
        sock = connect(quick.url)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: terminal\r\nContent-Type: {kind}\r\n"
                     f"Authorization: Bearer {api_keys['agent']}\r\nContent-Length: 500\r\n\r\n{{".encode())
        head = head_of(sock)
        assert head.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400")), head[:80]
        sock.close()
    assert stored(quick.home) == before


def test_the_open311_list_is_rendered_once_per_change(server, api_keys):
    first = requests.get(f"{server.url}/open311/v2/requests.xml", timeout=10)
    again = requests.get(f"{server.url}/open311/v2/requests.xml", timeout=10)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    key = (("xml", "fr"))
    assert any(k[:2] == key for k in server.server.open311_cache_keys())
    assert post(server, api_key=api_keys["kiosk"], **GOOD).status_code == 201
    after = requests.get(f"{server.url}/open311/v2/requests.xml", timeout=10)
    assert after.content.count(b"<request>") == first.content.count(b"<request>") + 1


# --- 5. a kiosk cannot tell "not yours" from "does not exist", and probing counts --------

def test_kiosk_probes_get_one_answer_and_lock_the_kiosk(server, api_keys):
    agent, kiosk = api_keys["agent"], api_keys["kiosk"]
    status, citizen = call(server, "POST", "/citizens", agent, {"first_name": "Jean", "last_name": "Probe",
                                                                "birth_date": "1970-01-01"})
    status, case = call(server, "POST", "/cases", agent, {"service": "signalement", "citizen_id": citizen["id"],
                                                          "fields": {"category": "chaussee", "location": "47.4,-0.5",
                                                                     "description": "Trou"}})
    assert status == 201, case
    status, payment = call(server, "POST", f"/cases/{case['id']}/payments", agent, {"amount_cents": 100,
                                                                                    "method": "cash"})
    assert status == 201, payment
    existing = call(server, "GET", f"/cases/{case['tracking_code']}", kiosk)
    unknown = call(server, "GET", "/cases/ZZZZZZZZ", kiosk)
    assert existing[0] == unknown[0] == 404
    assert existing[1]["error"]["code"] == unknown[1]["error"]["code"] == "not_found"
    paid = call(server, "GET", f"/payments/{payment['id']}", kiosk)
    not_paid = call(server, "GET", "/payments/01JUNKJUNKJUNKJUNKJUNKJUNK", kiosk)
    assert paid[0] == not_paid[0] == 404 and paid[1]["error"]["code"] == not_paid[1]["error"]["code"]
    call(server, "GET", "/cases/ZZZZZZZY", kiosk)                      # fifth probe: the kiosk is locked
    for path in (f"/cases/{case['tracking_code']}", "/cases/ZZZZZZZZ", f"/payments/{payment['id']}"):
        status, locked = call(server, "GET", path, kiosk)
        assert (status, locked["error"]["code"]) == (403, "locked"), path
    status, locked = call(server, "POST", "/cases/check", kiosk, {"tracking_code": case["tracking_code"],
                                                                  "verification": case["verify_value"]})
    assert (status, locked["error"]["code"]) == (403, "locked")   # even the right answer waits now
    assert call(server, "GET", f"/cases/{case['id']}", agent)[0] == 200   # agents are not affected


# --- 6. inputs that reached a 500 ------------------------------------------------------

def test_named_inputs_that_reached_a_500_are_refused(server, api_keys):
    agent = api_keys["agent"]
    before = stored(server.home)
    day = (dt.date.today() + dt.timedelta(days=(7 - dt.date.today().weekday()) % 7 + 7)).isoformat()
    cases = [
        ("POST", "/citizens", b"[" * 60000, 400, "bad_json"),
        ("POST", "/citizens", b'{"a":' * 40 + b"1" + b"}" * 40, 400, "bad_json"),
        ("POST", "/citizens", b'{"first_name": "\\ud800", "last_name": "B", "birth_date": "1980-01-01"}', 400, "bad_text"),
        ("POST", "/cases", json.dumps({"service": "encombrants", "fields": {
            "slot": {"date": day, "period": 5}}}).encode(), 400, None),
        ("POST", "/cases", json.dumps({"service": "encombrants", "fields": {
            "slot": {"date": [day], "period": "matin"}}}).encode(), 400, None),
        ("POST", "/cases", json.dumps({"service": "signalement", "fields": {
            "category": {"a": 1}, "location": "47.4,-0.5"}}).encode(), 400, None),
        ("POST", "/cases", json.dumps({"service": "signalement", "fields": {
            "category": ["chaussee"], "location": "47.4,-0.5"}}).encode(), 400, None),
    ]
    for method, path, raw, status, code in cases:
        got, answer = call(server, method, path, agent, raw=raw)
        assert got == status and answer["error"]["en"] and answer["error"]["fr"], (raw[:60], got, answer)
        if code:
            assert answer["error"]["code"] == code, answer
    r = requests.post(f"{server.url}/open311/v2/requests.json", timeout=10,
                      data="service_code=signalement&api_key=x".encode(),
                      headers={"Content-Type": "application/x-www-form-urlencoded; charset=x-bogus"})
    assert r.status_code == 400 and "charset" in r.text
    assert stored(server.home) == before


# --- 7. coordinates read strictly, kept as numbers ------------------------------------------

def test_coordinates_are_read_strictly_and_kept_as_numbers(server, api_keys):
    kiosk, agent = api_keys["kiosk"], api_keys["agent"]
    before = stored(server.home)
    for lat, long in (("4_7", "2"), ("1e-05", "2"), ("nan", "2"), ("47", "infinity"), ("0x2f", "2"), ("91", "2")):
        r = post(server, api_key=kiosk, **{**GOOD, "lat": lat, "long": long})
        assert r.status_code == 400 and "lat" in r.text, (lat, long, r.text)
    for location in ({"lat": True, "long": False}, {"lat": "47", "long": 2}, {"lat": 47}, {"lat": 1e400, "long": 2}):
        status, answer = call(server, "POST", "/cases", kiosk, {"service": "signalement", "fields": {
            "category": "chaussee", "location": location, "description": "x"}})
        assert status == 400 and answer["error"]["fields"][0]["field"] == "location", (location, answer)
    assert stored(server.home) == before
    r = post(server, api_key=kiosk, **{**GOOD, "lat": "0.00001", "long": "2"})
    assert r.status_code == 201, r.text
    with Terminal.open(server.home) as t:
        case = t.session(Principal.system()).cases.get(r.json()[0]["service_request_id"])
    assert case["fields"]["location"] == {"lat": 0.00001, "long": 2.0}
    shown = requests.get(f"{server.url}/open311/v2/requests/{case['id']}.json", timeout=10).json()[0]
    assert (shown["lat"], shown["long"], shown["address"]) == (0.00001, 2.0, None)
    status, citizen = call(server, "POST", "/citizens", agent, {"first_name": "Jean", "last_name": "Lieu",
                                                                "birth_date": "1970-01-01"})
    status, numbers = call(server, "POST", "/cases", agent, {"service": "signalement", "citizen_id": citizen["id"],
                                                             "fields": {"category": "chaussee", "description": "x",
                                                                        "location": {"lat": 47.5, "long": -0.5}}})
    assert status == 201 and numbers["fields"]["location"] == {"lat": 47.5, "long": -0.5}, numbers


# --- 8. an anonymous caller learns nothing about fields ------------------------------------

def test_the_key_is_checked_before_the_body(server):
    for raw in (b"[" * 60000, b'{"admin": true}', b"not json"):
        status, answer = call(server, "POST", "/citizens", None, raw=raw)
        assert status == 401 and "fields" not in answer["error"], answer
    status, answer = call(server, "POST", "/citizens", "bfk_0000000000000000_" + "a" * 43, raw=b'{"admin": 1}')
    assert status == 401 and "fields" not in answer["error"]
