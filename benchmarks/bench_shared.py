"""Shared SoR benchmark: many cities on PostgreSQL, one and two nodes, against
the single-city SQLite SoR measured in the same run.

    .venv/bin/python benchmarks/bench_shared.py [--cities 50] [--terminals 20] [--segments 2] [--full]

- every city gets its terminals enrolled (invitation, request, approval with
  the fingerprint: the real index paths); each terminal uploads small sealed
  segments (5 events of realistic size each) through the real HTTP API,
  ``--concurrency`` requests in flight from one client process;
- uploads/s and feed pages/s (100 segments a page, each city's feed read
  to its end), p50/p99 latency, for: the single-city SoR (SQLite, one city
  holding as many terminals as all the shared cities together: the same
  load), the shared SoR with one node,
  and with two nodes (the client alternates);
- reindex: the whole index rebuilt from the blobs alone, segments/s.

Blobs are on the filesystem for every configuration, so that the index engine
is what differs. ``--full`` is the issue's 50 cities × 200 terminals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from hub import ids  # noqa: E402
from hub.journal import GENESIS  # noqa: E402
from replication import auth, keys, segment  # noqa: E402
from replication.cities import add_city, city_url, open_city  # noqa: E402
from replication.index import Index, admin_keys, init_city  # noqa: E402
from replication.keys import KeyPair  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

BIN = Path(sys.executable).parent / "beffroi"
NEED = 20_000_000 / 86_400     # 50 cities' day (issue 17): 20 M events ≈ 231 events/s on average
EVENTS = 5                     # events per segment


def enrol(index, admin: KeyPair, count: int) -> list[tuple[str, KeyPair]]:
    """``count`` approved terminals, through invitation, request and approval."""
    made = []
    for n in range(count):
        device, tid, name = KeyPair.generate(), ids.ulid(), f"T{n:04d}"
        code = index.invite(name)["code"]
        with index.transaction():
            index.request_enrolment(tid, name, device.sign_pub, device.kx_pub, code)
        index.approve(admin, tid, keys.fingerprint(keys.unb64(device.sign_pub)))
        made.append((tid, device))
    return made


def sealed(terminals: list[tuple[str, KeyPair]], per: int, rng: random.Random) -> list[tuple[str, KeyPair, int, bytes]]:
    """Each terminal's next ``per`` segments, chained, of realistic events."""
    out = []
    key = os.urandom(32)       # the SoR never opens them: any epoch-1 key will do
    for tid, device in terminals:
        prev, first = GENESIS, 1
        for _ in range(per):
            lines = [json.dumps({"origin": tid, "seq": first + k, "type": "case.opened", "aggregate": ids.ulid(),
                                 "data": {"service": "encombrants", "note": "x" * rng.randint(150, 450)}})
                     for k in range(EVENTS)]
            raw = segment.seal_lines(tid, first, lines, prev=prev, epoch=1, key=key, signer=device.sign)
            out.append((tid, device, first, raw))
            prev, first = segment.parse(raw).hash, first + EVENTS
    return out


def serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(BIN), "sor", "serve", "--port", "0", "--no-litestream", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"SoR did not start: {line}")
    return proc, line.strip().rsplit(" ", 1)[1]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(20)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


async def load(jobs: list[tuple[str, str, KeyPair, int, bytes]], readers: list[tuple[str, str, KeyPair]],
               concurrency: int) -> dict[str, float]:
    """Upload every job (base URL, terminal, …), then read every city's feed to its end."""
    up, down = [], []
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def put(base: str, tid: str, device: KeyPair, first: int, raw: bytes) -> None:
            path = f"/v1/segments/{tid}/{first}"
            async with gate:
                started = time.perf_counter()
                async with session.put(base + path, data=raw,
                                       headers=auth.sign_headers(tid, device.sign, "PUT", path, raw)) as resp:
                    await resp.read()
                    if resp.status != 201:
                        raise SystemExit(f"upload refused: {resp.status}")
                up.append(time.perf_counter() - started)

        # a terminal's segments in order, terminals side by side
        by_terminal: dict[str, list] = {}
        for job in jobs:
            by_terminal.setdefault(job[1], []).append(job)

        async def terminal(chain: list) -> None:
            for job in chain:
                await put(*job)
        started = time.perf_counter()
        await asyncio.gather(*(terminal(chain) for chain in by_terminal.values()))
        upload_seconds = time.perf_counter() - started

        async def read(base: str, tid: str, device: KeyPair) -> int:
            cursor, pages = "", 0
            while True:
                path = f"/v1/feed?cursor={cursor}&limit=100"
                async with gate:
                    t0 = time.perf_counter()
                    async with session.get(base + path,
                                           headers=auth.sign_headers(tid, device.sign, "GET", path)) as resp:
                        page = await resp.json()
                    down.append(time.perf_counter() - t0)
                pages += 1
                cursor = page["cursor"]
                if not page["more"]:
                    return pages
        started = time.perf_counter()
        await asyncio.gather(*(read(*r) for r in readers))
        read_seconds = time.perf_counter() - started
    return {"uploads": len(up) / upload_seconds, "up50": pct(up, 0.5), "up99": pct(up, 0.99),
            "pages": len(down) / read_seconds, "down50": pct(down, 0.5), "down99": pct(down, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=int, default=50)
    parser.add_argument("--terminals", type=int, default=20, help="per city (the issue: 200, with --full)")
    parser.add_argument("--segments", type=int, default=2, help="per terminal")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    if args.full:
        args.terminals = 200
    rng = random.Random(1789)
    root = Path(tempfile.mkdtemp(prefix="beffroi-bench-shared-"))
    pg = PostgresServer().start()
    results, procs = {}, []
    try:
        db = pg.database("bench")
        say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        say(f"{args.cities} cities × {args.terminals} terminals: enrolling…")
        cities = []
        for c in range(args.cities):
            name = f"Commune {c:02d}"
            made = add_city(db, name, 3, 2, root / "keys" / f"c{c}", str(root / "blobs1"))
            city, index = open_city(db, name)
            terminals = enrol(index, KeyPair.load(Path(made["admin"]), "admin"), args.terminals)
            index.close()
            cities.append((name, terminals))
        db2 = pg.database("bench")    # the two-node run starts from the same enrolled cities
        _copy(db, db2)
        init_city(root / "single", "Ville seule", 3, 2)
        single = Index(root / "single")
        single_terminals = enrol(single, admin_keys(root / "single"), args.cities * args.terminals)
        single.close()
        say("sealing…")
        shared_jobs = [(name, *s) for name, ts in cities for s in sealed(ts, args.segments, rng)]
        single_jobs = sealed(single_terminals, args.segments, rng)
        size = statistics.mean(len(j[-1]) for j in single_jobs)

        # the single-city SoR: one city with every terminal, the same load
        proc, url = serve("--home", str(root / "single"))
        procs.append(proc)
        say("single-city SQLite SoR…")
        results["single-city SoR, SQLite"] = asyncio.run(load(
            [(url, *j) for j in single_jobs], [(url, *single_terminals[0])], args.concurrency))
        stop(procs.pop())

        for nodes, target in ((1, db), (2, db2)):
            say(f"shared SoR, {nodes} node(s)…")
            urls = []
            for _ in range(nodes):
                proc, url = serve("--db", target, "--home", str(root / f"blobs{nodes}"))
                procs.append(proc)
                urls.append(url)
            jobs = [(city_url(urls[n % nodes], name), tid, dev, first, raw)
                    for n, (name, tid, dev, first, raw) in enumerate(shared_jobs)]
            readers = [(city_url(urls[n % nodes], name), *ts[0]) for n, (name, ts) in enumerate(cities)]
            results[f"shared SoR, PostgreSQL, {nodes} node(s), {args.cities} cities"] = asyncio.run(
                load(jobs, readers, args.concurrency))
            for proc in procs:
                stop(proc)
            procs.clear()

        say("reindex…")
        from replication.rebuild import reindex
        target = pg.database("rebuilt")
        started = time.perf_counter()
        report = reindex(target, None, root / "blobs1")
        seconds = time.perf_counter() - started
        rebuilt = sum(c.get("segments", 0) for c in report["rebuilt"])
    finally:
        for proc in procs:
            proc.kill()
        pg.stop()

    print(f"\nBeffroi shared SoR benchmark — {args.cities} cities × {args.terminals} terminals × {args.segments} "
          f"segments of {EVENTS} events (~{size:.0f} bytes sealed); {args.concurrency} requests in flight from "
          f"one client process; blobs on the filesystem; this machine: {os.cpu_count()} cores shared by client, "
          f"nodes and PostgreSQL\n")
    print(f"{'configuration':<52} {'uploads/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'feed pages/s':>13} "
          f"{'p50 ms':>8} {'p99 ms':>8}")
    print("-" * 113)
    for name, r in results.items():
        print(f"{name:<52} {r['uploads']:>10.0f} {r['up50']:>8.1f} {r['up99']:>8.1f} {r['pages']:>13.0f} "
              f"{r['down50']:>8.1f} {r['down99']:>8.1f}")
    print(f"\nreindex from the blobs: {rebuilt} segments in {seconds:.1f} s = {rebuilt / seconds:.0f} segments/s")
    worst = min(r["uploads"] for n, r in results.items() if n.startswith("shared"))
    print(f"need of 50 cities: 20 M events/day ≈ {NEED:.0f} events/s on average = {NEED / EVENTS:.0f} segments/s "
          f"of {EVENTS} events; measured (slowest shared configuration): {worst:.0f} segments/s = "
          f"{worst * EVENTS:.0f} events/s, {worst * EVENTS / NEED:.1f}× the average need")


def _copy(source: str, target: str) -> None:
    from tests.postgres import binaries
    dump = subprocess.run([str(binaries() / "pg_dump"), "--no-owner", source], check=True,
                          capture_output=True).stdout
    subprocess.run([str(binaries() / "psql"), "-q", "-v", "ON_ERROR_STOP=1", target], input=dump, check=True,
                   capture_output=True)


if __name__ == "__main__":
    main()
