"""The SoR on a hostile network (issue 15): each test plays one attack on
loopback, bounded in count and time, and checks it is refused with nothing
stored — strangers filling the pending list, approval by a chosen name,
unsigned bodies held open, slow heads, non-finite timestamps, a chatty health
check, bodies and cursors built to crash the parser."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub import ids
from hub.terminal import Terminal
from replication import auth, keys
from replication.blobs import FileStore
from replication.enrolment import enroll
from replication.index import PENDING_HOURS, admin_keys
from replication.keys import KeyPair, device_keys
from replication.sor import ANONYMOUS
from tests.rawhttp import closed_by_server, connect, head_of
from tests.waiting import wait_until

from .conftest import City, ThreadSoR
from .test_sor import call, sor_state


@pytest.fixture
def quick(tmp_path, sor_home):
    """A SoR whose head and body deadlines are one second, so the slow attacks end quickly."""
    server = ThreadSoR(sor_home, FileStore(sor_home / "blobs"), header_seconds=1.0, body_seconds=1.0)
    kit = City(tmp_path, server.url, sor_home)
    yield kit
    kit.close()
    server.stop()


def stranger_enrolment(url: str, name: str = "T6", invite: str | None = None, pair: KeyPair | None = None):
    """What anyone on the network can send: a well-formed, self-signed request."""
    pair = pair or KeyPair.generate()
    terminal = ids.ulid()
    body = {"terminal": terminal, "name": name, "sign_pub": pair.sign_pub, "kx_pub": pair.kx_pub}
    if invite:
        body["invite"] = invite
    raw = json.dumps(body).encode()
    return call(url, "POST", "/v1/enrol", raw, terminal, pair.sign), terminal, pair


def refused_as(city, status: int) -> int:
    """What a refused enrolment answers: its status on a single-city SoR; on
    a shared one the 404 of a city that does not exist, so that a stranger
    cannot tell (the terminal's `enroll` says what to check)."""
    return 404 if city.db else status


def devices(city) -> list[dict]:
    index = city.index()
    try:
        return index.devices()
    finally:
        index.close()


# --- 1. strangers cannot fill the pending list ---------------------------------

def test_strangers_without_an_invitation_store_nothing_and_a_real_terminal_still_enrols(city):
    async def flood(count: int) -> list[int]:
        pair = KeyPair.generate()  # one key is enough: the SoR must not care who signs

        async def one(session) -> int:
            terminal = ids.ulid()
            raw = json.dumps({"terminal": terminal, "name": "T6", "sign_pub": pair.sign_pub,
                              "kx_pub": pair.kx_pub}).encode()
            headers = auth.sign_headers(terminal, pair.sign, "POST", "/v1/enrol", raw)
            async with session.post(city.url + "/v1/enrol", data=raw, headers=headers) as resp:
                await resp.read()
                return resp.status
        import aiohttp
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(one(session) for _ in range(count)))
    statuses = asyncio.run(flood(300))
    assert set(statuses) <= {refused_as(city, 403), 503} and statuses.count(refused_as(city, 403)) > 0
    assert devices(city) == []
    (status, data, _), _, _ = stranger_enrolment(city.url, invite="0000-0000-0000")
    if city.db:
        assert (status, data["error"]) == (404, "not_found") and data["fr"]
    else:
        assert status == 403 and data["error"] == "no_invitation" and "beffroi sor invite" in data["en"] and data["fr"]
    t6 = city.terminal("T6")          # the real one: invitation, enrolment, approval
    assert [d["name"] for d in devices(city)] == ["T6"] and devices(city)[0]["status"] == "active"
    assert city.sync(t6).refused == []


def test_a_malformed_or_unexpected_office_is_refused_and_nothing_stored(city):
    invite = city.invite("T9")
    pair = KeyPair.generate()
    for office in ("../etc", "", "A" * 40, 12, None):
        terminal = ids.ulid()
        body = {"terminal": terminal, "name": "T9", "sign_pub": pair.sign_pub, "kx_pub": pair.kx_pub,
                "invite": invite, "office": office}
        status, data, _ = call(city.url, "POST", "/v1/enrol", json.dumps(body).encode(), terminal, pair.sign)
        assert status == refused_as(city, 400) and data["fr"], office
    assert devices(city) == []
    # The invitation is still open: the real terminal, with a well-formed office, enrols with it.
    t9 = Terminal.init(city.root / "T9", "T9", office="ANNEXE-SUD")
    asyncio.run(enroll(t9, city.url, invite))
    assert [(d["name"], d["office"], d["status"]) for d in devices(city)] == [("T9", "ANNEXE-SUD", "pending")]


def test_pending_requests_expire_and_can_be_rejected(city):
    t7 = Terminal.init(city.root / "T7", "T7")
    asyncio.run(enroll(t7, city.url, city.invite("T7")))
    index = city.index()
    try:
        assert index.expire(index.device(t7.id)["requested_at"] + PENDING_HOURS * 3600 - 1) == 0
        assert index.expire(index.device(t7.id)["requested_at"] + PENDING_HOURS * 3600) == 1
        assert index.device(t7.id) is None
        index.invite("T8")
        assert [i["name"] for i in index.invitations()] == ["T8"]
        assert index.reject("T8") == {"name": "T8", "invitations_cancelled": 1}
        assert index.invitations() == []
    finally:
        index.close()
    t8 = Terminal.init(city.root / "T8", "T8")
    asyncio.run(enroll(t8, city.url, city.invite("T8")))
    index = city.index()
    try:
        assert index.reject("T8")["rejected"] is True and index.device(t8.id) is None
    finally:
        index.close()
    t7.close()
    t8.close()


# --- 2. approval needs the fingerprint the terminal showed ---------------------

def test_a_stranger_enrolled_under_a_name_is_not_approved_by_that_name(city):
    code = city.invite("T6")
    (status, _, _), stranger_id, stranger = stranger_enrolment(city.url, "T6", code)  # the code was overheard
    assert status == 202
    real = Terminal.init(city.root / "T6", "T6")
    with pytest.raises(Exception) as used:
        asyncio.run(enroll(real, city.url, code))  # the real terminal finds its code used: it tells the admin
    assert "invitation" in str(used.value)
    index = city.index()
    try:
        real_fp = keys.fingerprint(keys.unb64(device_keys(real.home, create=True).sign_pub))
        with pytest.raises(Exception) as refused:
            index.approve(admin_keys(city.sor_home), "T6", real_fp)
        assert getattr(refused.value, "code", "") == "fingerprint_mismatch"
        assert index.device(stranger_id)["status"] == "pending" and index.keys_for(stranger_id) == []
        index.reject(stranger_id)
    finally:
        index.close()
    shown = asyncio.run(enroll(real, city.url, city.invite("T6")))
    assert shown["device_fingerprint"] == real_fp
    city.approve(real.id, real_fp)
    status, data, _ = call(city.url, "GET", "/v1/keys", key_id=stranger_id, signer=stranger.sign)
    assert (status, data["error"]) == ((404, "not_found") if city.db else (401, "unknown_key"))
    real.close()


# --- 3. authentication before the body; bounded body time and head time --------

def test_an_unsigned_upload_is_refused_before_its_body_is_sent(quick):
    before = sor_state(quick)
    sock = connect(quick.url)
    sock.sendall(f"PUT /v1/segments/{ids.ulid()}/1 HTTP/1.1\r\nHost: sor\r\nContent-Length: 8388608\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n".encode())
    head = head_of(sock)            # not one byte of the 8 MB was sent
    assert head.startswith(b"HTTP/1.1 401") and b"unknown_key" in head
    sock.close()
    assert sor_state(quick) == before


def test_a_signed_upload_that_stalls_is_cut_and_its_slot_freed(quick):
    t1 = quick.terminal("T1")
    body = os.urandom(1024)
    path = f"/v1/segments/{t1.id}/1"
    headers = auth.sign_headers(t1.id, device_keys(t1.home).sign, "PUT", path, body)
    sock = connect(quick.url)
    head = f"PUT {path} HTTP/1.1\r\nHost: sor\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode() + body[:10])   # and then nothing
    answer = head_of(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"too_slow" in answer
    sock.close()
    assert sor_state(quick)[0] == []


def test_a_connection_that_never_finishes_its_head_is_closed(quick):
    sock = connect(quick.url)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: sor\r\nX-Slow: ")
    wait_until(lambda: closed_by_server(sock), within=10, what="the SoR to close a slow head")
    sock.close()


def test_enrolments_being_read_at_once_are_bounded(quick):
    """Each held enrolment takes one of ANONYMOUS slots; the next is turned
    away at once, and the slots come back when the holders are cut off."""
    held = []
    for _ in range(ANONYMOUS):
        sock = connect(quick.url)
        sock.sendall(b"POST /v1/enrol HTTP/1.1\r\nHost: sor\r\nContent-Length: 200\r\n\r\n{")
        held.append(sock)

    def turned_away():
        (status, data, _), _, _ = stranger_enrolment(quick.url)
        return status == 503 and data["error"] == "busy"
    wait_until(turned_away, within=5, what="the enrolment gate to be full")
    for sock in held:
        assert head_of(sock).startswith(b"HTTP/1.1 408")
        sock.close()
    (status, data, _), _, _ = stranger_enrolment(quick.url)
    assert status == 403 and data["error"] == "no_invitation"
    assert devices(quick) == []


# --- 6. bodies and cursors built to crash ---------------------------------------------

def test_named_inputs_that_reached_a_500_are_refused(city):
    t1 = city.terminal("T1")
    pair = KeyPair.generate()
    for raw in (b"[" * 60000, json.dumps({"terminal": {"a": [1]}, "name": "X", "sign_pub": "", "kx_pub": ""}).encode(),
                json.dumps({"terminal": ids.ulid(), "name": "X", "sign_pub": pair.sign_pub, "kx_pub": pair.kx_pub,
                            "invite": ["nested"]}).encode()):
        status, data, _ = call(city.url, "POST", "/v1/enrol", raw, ids.ulid(), pair.sign)
        assert status in (refused_as(city, 400), 413) and data["en"] and data["fr"], (raw[:40], status, data)
    signer = device_keys(t1.home).sign
    for pos in (12345678901234567890, -1, 2**62, "1", [1]):
        cursor = base64.urlsafe_b64encode(json.dumps({"p": pos}).encode()).decode().rstrip("=")
        status, data, _ = call(city.url, "GET", f"/v1/feed?cursor={cursor}", key_id=t1.id, signer=signer)
        assert (status, data["error"]) == (400, "bad_cursor"), pos
    for limit in ("1e3", "99999999999999999999999", "-1", "0x10"):
        status, data, _ = call(city.url, "GET", f"/v1/feed?limit={limit}", key_id=t1.id, signer=signer)
        assert status == 400, limit
    assert devices(city)[0]["name"] == "T1" and len(devices(city)) == 1


# --- 8. non-finite timestamps; what health tells a stranger --------------------------------

def test_a_non_finite_timestamp_is_refused(city):
    t1 = city.terminal("T1")
    signer = device_keys(t1.home).sign
    for stamp in ("nan", "NaN", "inf", "-inf", "1e9", "+1700000000", " 1700000000"):
        nonce = os.urandom(16).hex()
        signature = signer.sign(auth.message("GET", "/v1/heads", stamp, nonce, b""))
        headers = {auth.KEY_ID: t1.id, auth.TIME: stamp, auth.NONCE: nonce, auth.SIGNATURE: keys.b64(signature)}
        status, data, _ = call(city.url, "GET", "/v1/heads", headers=headers)
        assert status == 401 and "timestamp" in data["en"], (stamp, status, data)


def test_health_tells_strangers_only_that_it_is_alive(city):
    city.terminal("T1")
    status, data, _ = call(city.url, "GET", "/v1/health")
    assert (status, data) == (200, {"ok": True})
    status, data, _ = call(city.url, "GET", "/v1/health", key_id=ids.ulid(), signer=Ed25519PrivateKey.generate())
    assert status == (404 if city.db else 401)
    status, data, _ = call(city.url, "GET", "/v1/health", key_id="admin", signer=admin_keys(city.sor_home).sign)
    assert status == 200 and data["devices"] == 1 and "epoch" in data and "litestream" in data
