"""Several stateless SoR nodes (`beffroi sor serve --db`, real processes) on one
PostgreSQL and one SeaweedFS: the same segment sent to every node at once is
stored once, different bytes at one position are one segment and forks
everywhere else, the change feed read round-robin across nodes while
terminals upload gives every segment exactly once, and a node killed with
-9 mid-upload loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import threading
from collections import Counter
from urllib.parse import urlsplit

import aiohttp
import pytest

from replication import auth, segment
from replication.blobs import S3Store
from replication.cities import add_city, city_url
from replication.keys import device_keys
from replication.sync import Replicator
from tests.waiting import wait_until

from .conftest import City, start_process_sor, stop_process
from .faultproxy import FaultProxy
from .test_faults import chains_are_whole, register, sync_until_done

NAME = "Ville de Test"


@pytest.fixture
def nodes(tmp_path, pg_url, seaweed):
    """Three nodes of one shared SoR; the kit's URL is node 0's."""
    s3 = f"{seaweed}/nodes-{secrets.token_hex(4)}"
    made = add_city(pg_url, NAME, 3, 2, tmp_path / "sor")
    procs = [start_process_sor(tmp_path / "node", "--no-litestream", "--db", pg_url, "--s3", s3) for _ in range(3)]
    kit = City(tmp_path, city_url(procs[0][1], NAME), tmp_path / "sor", pg_url, NAME)
    kit.s3 = S3Store.from_url(f"{s3}/cities/{made['id']}")
    try:
        yield kit, [city_url(url, NAME) for _, url in procs], procs
    finally:
        kit.close()
        for proc, _ in procs:
            stop_process(proc)


def enrolled(city, name: str):
    """An approved terminal that has synced once (it holds the epoch keys)."""
    t = city.terminal(name)
    city.sync(t)
    return t


def sealed(t, count: int, prefix: str, per_segment: int = 2) -> list[tuple[int, bytes]]:
    """New events of ``t`` sealed into small segments not yet sent."""
    register(t, count, prefix)
    rep = Replicator(t)
    try:
        start = rep.local.head(t.id)[0]
        rep.seal_pending(per_segment=per_segment)
        return [(first, raw) for first, raw in rep.local.after(t.id, 0) if first > start]
    finally:
        rep.close()


async def put(session, base: str, t, first: int, raw: bytes) -> tuple[int, dict]:
    path = f"/v1/segments/{t.id}/{first}"
    headers = auth.sign_headers(t.id, device_keys(t.home).sign, "PUT", path, raw)
    async with session.put(base + path, data=raw, headers=headers) as resp:
        return resp.status, await resp.json()


async def get_json(session, base: str, t, path: str) -> dict:
    headers = auth.sign_headers(t.id, device_keys(t.home).sign, "GET", path)
    async with session.get(base + path, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def test_the_same_segment_at_every_node_at_once_is_stored_once_and_other_bytes_are_forks(nodes):
    city, urls, _ = nodes
    t1 = enrolled(city, "T1")
    segments = sealed(t1, 6, "Same")
    rep = Replicator(t1)
    trust = rep.trust()
    rep.close()

    async def run() -> tuple[list, list, list, list]:
        async with aiohttp.ClientSession() as session:
            same = []
            for first, raw in segments:    # each segment to the three nodes at once
                same.append(sorted(s for s, _ in await asyncio.gather(*(put(session, u, t1, first, raw)
                                                                        for u in urls))))
            last = segment.parse(segments[-1][1])
            # three different sealings of the next events: one per node, at once
            register(t1, 2, "Fork")
            fresh = list(t1.journal.events(t1.id, last.header.last))
            variants = [segment.seal(fresh, prev=last.hash, epoch=1, key=trust.keys[1],
                                     signer=device_keys(t1.home).sign) for _ in urls]
            forked = await asyncio.gather(*(put(session, u, t1, fresh[0].seq, raw) for u, raw in zip(urls, variants)))
            heads = [await get_json(session, u, t1, "/v1/heads") for u in urls]
            return same, forked, heads, variants

    same, forked, heads, variants = asyncio.run(run())
    assert len(same) == 3 and all(statuses == [200, 200, 201] for statuses in same)
    assert sorted(status for status, _ in forked) == [201, 409, 409]
    assert Counter(body.get("error") for _, body in forked)["fork"] == 2
    winner = variants[[status for status, _ in forked].index(201)]
    assert heads[0] == heads[1] == heads[2]
    assert heads[0]["heads"][t1.id]["hash"] == hashlib.sha256(winner).hexdigest()
    index = city.index()
    try:
        assert index.counts()["segments"] == len(segments) + 1 and index.counts()["forks"] == 2
    finally:
        index.close()


def test_terminals_syncing_through_faulty_links_to_different_nodes_converge(nodes):
    city, urls, _ = nodes
    ts = [city.terminal(f"T{n}") for n in range(3)]
    proxies = [FaultProxy(urlsplit(u).port, seed=20 + n, rate=0.4) for n, u in enumerate(urls)]
    try:
        for round_ in range(3):
            for n, t in enumerate(ts):
                register(t, 4 + n, f"R{round_}T{n}x")
                rep = Replicator(t)
                rep.seal_pending(per_segment=3)
                rep.close()
                # each round a terminal talks to another node, through that node's faulty link
                proxy = proxies[(n + round_) % 3]
                sync_until_done(t, proxy.url + urlsplit(urls[0]).path)
        for n, t in enumerate(ts):
            sync_until_done(t, proxies[n].url + urlsplit(urls[0]).path)
        for t in ts:
            sync_until_done(t, urls[2])
        assert sum(p.seen[f] for p in proxies for f in ("drop", "cut", "lose_answer", "duplicate")) >= 5
        assert {t.state_hash() for t in ts} == {ts[0].state_hash()}
        chains_are_whole(city.index())
    finally:
        for p in proxies:
            p.stop()


def test_the_feed_read_round_robin_across_nodes_gives_every_segment_once(nodes):
    city, urls, _ = nodes
    ts = [enrolled(city, f"T{n}") for n in range(3)]
    reader = enrolled(city, "READER")
    batches = {t.id: sealed(t, 24, f"Feed{t.name}") for t in ts}   # 12 segments each

    async def run() -> tuple[list, set]:
        stored: set = set()
        seen: list = []
        async with aiohttp.ClientSession() as session:
            async def write(n: int, t) -> None:
                for k, (first, raw) in enumerate(batches[t.id]):   # each segment to another node
                    status, body = await put(session, urls[(n + k) % 3], t, first, raw)
                    assert status == 201, body
                    stored.add((t.id, first))
            writers = asyncio.gather(*(write(n, t) for n, t in enumerate(ts)))
            cursor, turn = "", 0
            while True:
                done = writers.done()
                page = await get_json(session, urls[turn % 3], reader, f"/v1/feed?cursor={cursor}&limit=4")
                turn += 1
                seen.extend((s["origin"], s["first"]) for s in page["segments"])
                cursor = page["cursor"]
                if done and not page["more"] and not page["segments"]:
                    break
                await asyncio.sleep(0)
            await writers
        return seen, stored

    seen, stored = asyncio.run(run())
    assert len(stored) == sum(len(b) for b in batches.values()) == 36
    assert len(seen) == len(set(seen)) and set(seen) == stored


def test_a_node_killed_mid_upload_keeps_every_acknowledged_segment(nodes):
    city, urls, procs = nodes
    t1 = enrolled(city, "T1")
    pending = sealed(t1, 160, "Kill", per_segment=4)
    acked: list[tuple[int, bytes]] = []
    victim = procs[1][0]

    async def upload() -> None:
        async with aiohttp.ClientSession() as session:
            for first, raw in pending:
                try:
                    status, _ = await put(session, urls[1], t1, first, raw)
                except (aiohttp.ClientError, ConnectionError):
                    return
                if status in (200, 201):
                    acked.append((first, raw))

    thread = threading.Thread(target=lambda: asyncio.run(upload()))
    thread.start()
    wait_until(lambda: len(acked) >= len(pending) // 3, within=60, what="a third of the uploads acknowledged",
               every=0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    thread.join(30)
    assert 0 < len(acked) < len(pending)
    index = city.index()
    try:
        for first, raw in acked:
            row = index.segment_at(t1.id, first)
            assert row is not None and row["hash"] == hashlib.sha256(raw).hexdigest()
            assert city.s3.get(row["blob"]) == raw
    finally:
        index.close()
    # the other nodes carry on: the terminal finishes through node 2, a new one catches up through node 0
    city.sync(t1, urls[2])
    t2 = city.terminal("T2")
    city.sync(t2, urls[0])
    assert t1.state_hash() == t2.state_hash()
    chains_are_whole(city.index())
