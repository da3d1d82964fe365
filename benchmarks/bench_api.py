"""Open311 throughput on loopback: POST requests.json and GET requests.json
against a real `beffroi serve` process on a home holding many cases.

    .venv/bin/python benchmarks/bench_api.py            # 20,000-case home
    .venv/bin/python benchmarks/bench_api.py --full     # 100,000-case home (the issue's size)

The home is built fast by writing case events in large journal transactions
(many ``Writer.record`` calls per commit). The baseline, measured in the same
run, is the hub itself without HTTP: one ``Cases.open`` per transaction (what a
server without group commit would do per request), and the same lookup the
GET makes, as an in-process SQL query.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import keys  # noqa: E402
from hub import ids  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402

CATEGORIES = ["eclairage", "chaussee", "signalisation", "mobilier", "proprete", "autre"]


def build_home(home: Path, cases: int, batch: int = 10_000) -> tuple[list[str], float]:
    """A home with ``cases`` Open311 cases, written ``batch`` events per transaction."""
    rng = random.Random(6)
    kiosk = Principal.kiosk("api:bench")
    made: list[str] = []
    started = time.perf_counter()
    with Terminal.init(home, "MAIRIE-01") as t:
        service = t.catalog.get("signalement")
        for first in range(0, cases, batch):
            with t.writing() as w:
                for i in range(first, min(cases, first + batch)):
                    fields = service.clean({"category": rng.choice(CATEGORIES),
                                            "location": f"{47.4 + rng.random() / 10:.5f},{-0.6 + rng.random() / 10:.5f}",
                                            "description": f"Signalement n°{i} : lampadaire éteint"})
                    data = {"id": ids.ulid(), "service": "signalement", "citizen_id": None, "status": service.initial,
                            "fields": fields, "tracking_code": ids.tracking_code(), "verify_kind": "pin",
                            "verify_value": f"{rng.randrange(10000):04d}"}
                    w.record(kiosk, "case.opened", f"case:{data['id']}", data)
                    made.append(data["id"])
    return made, time.perf_counter() - started


def baseline_creates(home: Path, n: int) -> float:
    with Terminal.open(home) as t:
        session = t.session(Principal.kiosk("api:baseline"))
        started = time.perf_counter()
        for i in range(n):
            session.cases.open("signalement", None, {"category": "autre", "location": "47.47,-0.55",
                                                     "description": f"baseline {i}"})
        return n / (time.perf_counter() - started)


def baseline_reads(home: Path, made: list[str], n: int) -> float:
    rng = random.Random(7)
    with Terminal.open(home) as t:
        started = time.perf_counter()
        for _ in range(n):
            t.conn.execute("SELECT id, service, status, fields, opened_hlc, updated_hlc FROM cases"
                           " WHERE id IN (?) AND service IN (?)", (rng.choice(made), "signalement")).fetchall()
        return n / (time.perf_counter() - started)


async def load(url: str, requests: list[tuple[str, str, dict | None]], concurrency: int,
               expect: int) -> tuple[float, list[float]]:
    """Send every request over ``concurrency`` keep-alive connections, one
    request in flight on each; req/s and latencies. A bare HTTP/1.1 client on
    asyncio streams, so that the load generator takes little of the CPU the
    server needs (like wrk, not like a second application)."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    queue = iter(requests)

    def encode(method: str, path: str, form: dict | None) -> bytes:
        body = urlencode(form).encode() if form else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        if form:
            head += "Content-Type: application/x-www-form-urlencoded\r\n"
        return (head + "\r\n").encode() + body

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for method, path, form in queue:
                raw = encode(method, path, form)
                t0 = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                body = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status != expect:
                    raise RuntimeError(f"{method} {path}: {status} {body[:300]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(requests) / (time.perf_counter() - started), latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="100,000-case home, as the issue asks")
    parser.add_argument("--cases", type=int, help="cases in the home (default 20,000; 100,000 with --full)")
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    cases = args.cases or (100_000 if args.full else 20_000)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        home = Path(tmp) / "home"
        made, build_seconds = build_home(home, cases)
        print(f"home: {cases} cases written in {build_seconds:.1f} s ({cases / build_seconds:,.0f} cases/s, "
              "10,000 per transaction)", flush=True)
        with Terminal.open(home) as t:
            key = keys.create(t.conn, "bench", "kiosk")["api_key"]
        base_create = baseline_creates(home, 300)
        base_read = baseline_reads(home, made, 5000)

        beffroi = str(Path(sys.executable).with_name("beffroi"))
        env = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
        proc = subprocess.Popen([beffroi, "serve", "--home", str(home), "--port", "0"], stdout=subprocess.PIPE,
                                text=True, env=env)
        try:
            url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group(0)
            rng = random.Random(8)
            form = {"api_key": key, "service_code": "signalement", "lat": "47.4712", "long": "-0.5518",
                    "attribute[category]": "eclairage", "description": "Lampadaire éteint", "email": "a@exemple.fr"}
            posts = [("POST", "/open311/v2/requests.json", form)] * args.creates
            gets = [("GET", f"/open311/v2/requests.json?service_request_id={rng.choice(made)}", None)
                    for _ in range(args.reads)]
            lists = [("GET", "/open311/v2/requests.json?status=open", None)] * 50
            asyncio.run(load(url, gets[:500], args.concurrency, 200))  # warm-up
            create_rate, create_lat = asyncio.run(load(url, posts, args.concurrency, 201))
            read_rate, read_lat = asyncio.run(load(url, gets, args.concurrency, 200))
            list_rate, list_lat = asyncio.run(load(url, lists, 4, 200))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        with Terminal.open(home) as t:
            stored = t.conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            intact = t.verify() is None

    rows = [
        ("baseline: Cases.open, 1 transaction each (no HTTP)", base_create, None, None, "-"),
        ("POST requests.json (group commit)", create_rate, pct(create_lat, 0.5), pct(create_lat, 0.99), ">= 1,000/s"),
        ("baseline: GET's lookup as in-process SQL (no HTTP)", base_read, None, None, "-"),
        ("GET requests.json?service_request_id=<random>", read_rate, pct(read_lat, 0.5), pct(read_lat, 0.99),
         ">= 2,000/s"),
        ("GET requests.json?status=open (1,000 newest)", list_rate, pct(list_lat, 0.5), pct(list_lat, 0.99), "-"),
    ]
    print(f"\n{cases:,}-case home, concurrency {args.concurrency}, {os.cpu_count()} cores, server and client on loopback;"
          f" load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work slows every row alike)")
    print(f"| {'operation':<52} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | {'target':>10} |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 12}|")
    for name, rate, p50, p99, target in rows:
        p50s = f"{p50:.1f}" if p50 is not None else "-"
        p99s = f"{p99:.1f}" if p99 is not None else "-"
        print(f"| {name:<52} | {rate:>9,.0f} | {p50s:>7} | {p99s:>7} | {target:>10} |")
    print(f"\nPOST vs one-transaction-per-case baseline: {create_rate / base_create:.2f}x")
    print(f"cases stored after the run: {stored:,} (expected {cases + 300 + args.creates:,}); journal intact: {intact}")
    return 0 if stored == cases + 300 + args.creates and intact else 1


if __name__ == "__main__":
    sys.exit(main())
