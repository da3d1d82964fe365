"""A hostile network and a crashing SoR: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from urllib.parse import urlsplit

import aiohttp

from hub.roles import Principal
from hub.terminal import Terminal
from replication import auth
from replication.client import Unreachable
from replication.index import Index
from replication.keys import device_keys
from replication.sync import Replicator
from tests.waiting import wait_until

from .conftest import City, start_process_sor, stop_process
from .faultproxy import FaultProxy


def register(t: Terminal, count: int, prefix: str) -> None:
    s = t.session(Principal.system())
    for n in range(count):
        s.citizens.register(first_name="Jean", last_name=f"{prefix}{n}", birth_date="1970-01-01")


def sync_until_done(t: Terminal, url: str, rounds: int = 25) -> None:
    replicator = Replicator(t)
    try:
        for _ in range(rounds):
            try:
                asyncio.run(replicator.sync(url))
                return
            except Unreachable:
                continue
        raise AssertionError(f"{t.name} could not complete a sync round through the faulty proxy")
    finally:
        replicator.close()


def chains_are_whole(index) -> None:
    """Every origin's segments chain from GENESIS without a gap; no fork (closes ``index``)."""
    try:
        assert index.counts()["forks"] == 0
        by_origin: dict[str, list] = {}
        for origin, first, last, prev, hash_ in index.conn.execute(
                "SELECT origin, first, last, prev, hash FROM segments ORDER BY origin, first"):
            by_origin.setdefault(origin, []).append((first, last, prev, hash_))
        for rows in by_origin.values():
            expect_first, expect_prev = 1, "0" * 64
            for first, last, prev, hash_ in rows:
                assert (first, prev) == (expect_first, expect_prev)
                expect_first, expect_prev = last + 1, hash_
    finally:
        index.close()


def test_faulty_network_converges_with_nothing_lost_or_doubled(city):
    proxy = FaultProxy(urlsplit(city.url).port, seed=11, rate=0.4)
    try:
        ts = [city.terminal(f"T{n}") for n in range(3)]
        for t in ts:
            city.sync(t)                              # registry and keys, directly
        for round_ in range(4):
            for n, t in enumerate(ts):
                register(t, 5 + n, f"R{round_}T{n}x")
                rep = Replicator(t)
                rep.seal_pending(per_segment=3)       # many small segments: many requests to disturb
                rep.close()
                sync_until_done(t, proxy.url + urlsplit(city.url).path)
        for _ in range(2):
            for t in ts:
                sync_until_done(t, proxy.url + urlsplit(city.url).path)
        assert sum(proxy.seen[f] for f in ("drop", "cut", "lose_answer", "duplicate", "delay")) >= 10
        assert {t.state_hash() for t in ts} == {ts[0].state_hash()}
        made = {t.id: t.conn.execute("SELECT count(*) FROM events WHERE origin=?", (t.id,)).fetchone()[0] for t in ts}
        for t in ts:
            have = dict(t.conn.execute("SELECT origin, count(*) FROM events GROUP BY origin").fetchall())
            assert have == made
            assert t.verify() is None
        chains_are_whole(city.index())
    finally:
        proxy.stop()


def test_kill_9_during_uploads_keeps_every_acknowledged_segment(tmp_path, sor_home):
    proc, url = start_process_sor(sor_home, "--no-litestream")
    city = City(tmp_path, url, sor_home)
    t1 = city.terminal("T1")
    city.sync(t1)
    register(t1, 240, "Kill")
    rep = Replicator(t1)
    rep.seal_pending(per_segment=4)
    pending = list(rep.local.after(t1.id, Index(sor_home).head(t1.id)[0]))
    rep.close()
    acked: list[tuple[int, str]] = []
    signer = device_keys(t1.home).sign

    async def upload() -> None:
        async with aiohttp.ClientSession() as session:
            for first, raw in pending:
                path = f"/v1/segments/{t1.id}/{first}"
                try:
                    async with session.put(url + path, data=raw,
                                           headers=auth.sign_headers(t1.id, signer, "PUT", path, raw)) as resp:
                        if resp.status in (200, 201):
                            acked.append((first, raw))
                except (aiohttp.ClientError, ConnectionError):
                    return

    thread = threading.Thread(target=lambda: asyncio.run(upload()))
    thread.start()
    wait_until(lambda: len(acked) >= len(pending) // 3, within=30, what="a third of the uploads to be acknowledged",
               every=0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    thread.join(30)
    assert 0 < len(acked) < len(pending)
    proc, url = start_process_sor(sor_home, "--no-litestream")
    try:
        index = Index(sor_home)
        try:
            import hashlib
            for first, raw in acked:
                row = index.segment_at(t1.id, first)
                assert row is not None and row["hash"] == hashlib.sha256(raw).hexdigest()
                assert (sor_home / "blobs" / row["blob"]).read_bytes() == raw
        finally:
            index.close()
        city.url = url
        t2 = city.terminal("T2")
        city.sync(t1)
        city.sync(t2)
        assert t1.state_hash() == t2.state_hash()
        chains_are_whole(Index(sor_home))
    finally:
        city.close()
        stop_process(proc)
