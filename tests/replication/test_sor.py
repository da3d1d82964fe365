"""The SoR refuses, with a clear error and nothing stored: flipped bytes, replayed
or stale segments, forks, revoked devices, unknown keys, truncated uploads,
over-size bodies and replayed requests."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.roles import Principal
from replication import auth, segment
from replication.keys import device_keys
from replication.sor import MAX_BODY
from replication.sync import Replicator


def call(url: str, method: str, path: str, body: bytes = b"", key_id: str | None = None, signer=None,
         headers: dict | None = None, within: float = 300.0) -> tuple[int, dict | bytes, dict]:
    """One signed request; a SoR that does not answer ``within`` seconds fails the test."""
    async def go():
        sent = dict(headers or {})
        if signer is not None:
            sent.update(auth.sign_headers(key_id, signer, method, path, body))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session:
            async with session.request(method, url + path, data=body or None, headers=sent) as resp:
                data = await resp.read()
                try:
                    data = json.loads(data)
                except ValueError:
                    pass
                return resp.status, data, sent
    return asyncio.run(go())


def add_citizens(t, count: int, prefix: str = "Martin") -> None:
    s = t.session(Principal.system())
    for n in range(count):
        s.citizens.register(first_name="Jean", last_name=f"{prefix}{n}", birth_date="1970-01-01")


def sor_state(city) -> tuple:
    index = city.index()
    try:
        rows = index.conn.execute("SELECT origin, first, hash FROM segments ORDER BY pos").fetchall()
    finally:
        index.close()
    blobs = sorted(p.name for p in (city.sor_home / "blobs").rglob("*") if p.is_file())
    return rows, blobs


def forks(city) -> int:
    index = city.index()
    try:
        return index.counts()["forks"]
    finally:
        index.close()


@pytest.fixture
def scene(city):
    """T1 and T2 approved; T1 has synced one segment; T1 holds a next one unsent."""
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    add_citizens(t1, 3)
    city.sync(t1)
    add_citizens(t1, 2, "Petit")
    replicator = Replicator(t1)
    replicator.seal_pending()
    first_raw = next(replicator.local.after(t1.id, 0))[1]
    next_first, next_raw = next(replicator.local.after(t1.id, segment.parse(first_raw).header.last))
    replicator.close()
    return city, t1, t2, first_raw, next_first, next_raw


def put(city, t, origin, first, raw, signer=None):
    signer = signer or device_keys(t.home).sign
    return call(city.url, "PUT", f"/v1/segments/{origin}/{first}", raw, t.id, signer)


def test_a_good_segment_is_stored_once(scene):
    city, t1, _, first_raw, next_first, next_raw = scene
    status, data, _ = put(city, t1, t1.id, next_first, next_raw)
    assert (status, data["stored"]) == (201, True)
    status, data, _ = put(city, t1, t1.id, next_first, next_raw)
    assert (status, data.get("already")) == (200, True)
    assert len(sor_state(city)[0]) == 2


def test_any_flipped_byte_is_refused_and_nothing_stored(scene):
    city, t1, _, _, next_first, next_raw = scene
    before = sor_state(city)
    for at in (3, 20, len(next_raw) // 2, len(next_raw) - 70, len(next_raw) - 1):
        damaged = bytearray(next_raw)
        damaged[at] ^= 0x40
        status, data, _ = put(city, t1, t1.id, next_first, bytes(damaged))
        assert status in (400, 422) and data["error"], (at, status, data)
        assert data["fr"] and data["en"]
    assert sor_state(city) == before


def test_replayed_older_segment_stores_nothing_and_a_resealed_one_is_a_fork(scene):
    city, t1, _, first_raw, next_first, next_raw = scene
    put(city, t1, t1.id, next_first, next_raw)
    before = sor_state(city)
    # the very same older segment again: acknowledged, nothing new stored
    status, data, _ = put(city, t1, t1.id, 1, first_raw)
    assert (status, data.get("already")) == (200, True)
    # the same events sealed again (another nonce): different bytes at a taken position
    rep = Replicator(t1)
    trust = rep.trust()
    events = list(t1.journal.events(t1.id, 0, limit=segment.parse(first_raw).header.last))
    resealed = segment.seal(events, prev=segment.parse(first_raw).header.prev, epoch=1, key=trust.keys[1],
                            signer=rep.device.sign)
    rep.close()
    status, data, _ = put(city, t1, t1.id, 1, resealed)
    assert (status, data["error"]) == (409, "fork")
    # an older run starting inside what is stored: stale
    stale = segment.seal(events[1:], prev=segment.parse(first_raw).hash, epoch=1, key=trust.keys[1],
                         signer=device_keys(t1.home).sign)
    status, data, _ = put(city, t1, t1.id, 2, stale)
    assert (status, data["error"]) == (409, "fork") and "stale" in data["en"]
    assert sor_state(city) == before
    assert forks(city) == 2


def test_a_segment_that_does_not_chain_is_a_fork_and_a_gap_is_refused(scene):
    city, t1, _, first_raw, next_first, next_raw = scene
    rep = Replicator(t1)
    trust = rep.trust()
    events = list(t1.journal.events(t1.id, next_first - 1))
    unchained = segment.seal(events, prev="b" * 64, epoch=1, key=trust.keys[1], signer=rep.device.sign)
    gap = segment.seal(events[1:], prev=segment.parse(next_raw).hash, epoch=1, key=trust.keys[1], signer=rep.device.sign)
    rep.close()
    before = sor_state(city)
    status, data, _ = put(city, t1, t1.id, next_first, unchained)
    assert (status, data["error"]) == (409, "fork")
    status, data, _ = put(city, t1, t1.id, next_first + 1, gap)
    assert (status, data["error"]) == (409, "gap")
    assert sor_state(city) == before


def test_revoked_device_is_refused_even_when_relayed(scene):
    city, t1, t2, *_ = scene
    add_citizens(t2, 2, "Roux")
    city.sync(t2)                       # T2 publishes, then is revoked
    add_citizens(t2, 1, "Blanc")
    rep = Replicator(t2)
    rep.seal_pending()
    later_first, later_raw = list(rep.local.after(t2.id, 0))[-1]
    rep.close()
    info = city.revoke("T2")
    assert info["epoch"] == 2
    before = sor_state(city)
    status, data, _ = put(city, t2, t2.id, later_first, later_raw)
    assert (status, data["error"]) == (403, "revoked")
    status, data, _ = put(city, t1, t2.id, later_first, later_raw)   # T1 relays it
    assert (status, data["error"]) == (403, "revoked")
    assert sor_state(city) == before


def test_unknown_keys_are_refused(scene):
    city, t1, _, _, next_first, next_raw = scene
    before = sor_state(city)
    stranger = Ed25519PrivateKey.generate()
    status, data, _ = put(city, t1, t1.id, next_first, next_raw, signer=stranger)   # T1's id, wrong key
    assert (status, data["error"]) == (401, "bad_signature")
    # a shared SoR answers an unknown key as it answers an unknown city: it says nothing
    unknown = (404, "not_found") if city.db else (401, "unknown_key")
    status, data, _ = call(city.url, "GET", "/v1/heads", key_id="01M89DAZJ036CG28QM9KM7MZ71", signer=stranger)
    assert (status, data["error"]) == unknown
    status, data, _ = call(city.url, "GET", "/v1/heads")
    assert (status, data["error"]) == unknown
    # a terminal that enrolled but was never approved cannot publish
    t3 = city.terminal("T3", approve=False)
    add_citizens(t3, 1)
    status, data, _ = call(city.url, "GET", "/v1/heads", key_id=t3.id, signer=device_keys(t3.home).sign)
    assert (status, data["error"]) == (403, "pending")
    assert sor_state(city) == before


def raw_put(url: str, path: str, headers: dict, body: bytes, announced: int, cut: bool = False) -> bytes:
    host = urlsplit(url)
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        head = f"PUT {host.path}{path} HTTP/1.1\r\nHost: {host.netloc}\r\nContent-Length: {announced}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
        sock.sendall(head.encode() + body)
        if cut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


def test_truncated_upload_is_refused(scene):
    city, t1, _, _, next_first, next_raw = scene
    before = sor_state(city)
    path = f"/v1/segments/{t1.id}/{next_first}"
    headers = auth.sign_headers(t1.id, device_keys(t1.home).sign, "PUT", path, next_raw)
    # the connection ends before the announced length: nothing is stored
    raw_put(city.url, path, headers, next_raw[:len(next_raw) // 2], len(next_raw), cut=True)
    # a shorter body that announces its own length fails the signature over the body
    headers = auth.sign_headers(t1.id, device_keys(t1.home).sign, "PUT", path, next_raw)
    cut = next_raw[:-10]
    answer = raw_put(city.url, path, headers, cut, len(cut))
    assert answer.startswith(b"HTTP/1.1 401")
    assert sor_state(city) == before


def test_oversize_body_is_refused(scene):
    city, t1, *_ = scene
    before = sor_state(city)
    status, data, _ = put(city, t1, t1.id, 99, b"\0" * (MAX_BODY + 1))
    assert status == 413
    assert sor_state(city) == before


def test_replayed_request_is_refused(scene):
    city, t1, _, _, next_first, next_raw = scene
    status, _, sent = call(city.url, "GET", "/v1/heads", key_id=t1.id, signer=device_keys(t1.home).sign)
    assert status == 200
    status, data, _ = call(city.url, "GET", "/v1/heads", headers=sent)
    assert (status, data["error"]) == (401, "replayed")
    # a captured upload played again later is refused too, and a stale timestamp as well
    path = f"/v1/segments/{t1.id}/{next_first}"
    headers = auth.sign_headers(t1.id, device_keys(t1.home).sign, "PUT", path, next_raw)
    assert call(city.url, "PUT", path, next_raw, headers=headers)[0] == 201
    status, data, _ = call(city.url, "PUT", path, next_raw, headers=headers)
    assert (status, data["error"]) == (401, "replayed")
    old = auth.sign_headers(t1.id, device_keys(t1.home).sign, "GET", "/v1/heads")
    old[auth.TIME] = str(float(old[auth.TIME]) - 3600)
    status, data, _ = call(city.url, "GET", "/v1/heads", headers=old)
    assert status == 401


def test_feed_cursor_is_opaque_and_checked(scene):
    city, t1, *_ = scene
    signer = device_keys(t1.home).sign
    status, data, _ = call(city.url, "GET", "/v1/feed?cursor=garbage!", key_id=t1.id, signer=signer)
    assert (status, data["error"]) == (400, "bad_cursor")
    status, data, _ = call(city.url, "GET", "/v1/feed", key_id=t1.id, signer=signer)
    assert status == 200 and len(data["segments"]) == 1 and data["cursor"]
    status, data, _ = call(city.url, "GET", f"/v1/feed?cursor={data['cursor']}", key_id=t1.id, signer=signer)
    assert status == 200 and data["segments"] == []
