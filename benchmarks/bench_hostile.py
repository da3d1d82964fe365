"""A hostile network against the terminal's API and the SoR (issue 15).

    .venv/bin/python benchmarks/bench_hostile.py          # 5,000 cases, 2,000 citizens
    .venv/bin/python benchmarks/bench_hostile.py --full   # 20,000 cases, 10,000 citizens

API: ``/api/v1/health`` latency with no load, then while 32 clients read the
Open311 list (``requests.xml``, up to 1,000 requests) and 8 search citizens,
against a real ``beffroi serve`` process; the no-load figure of the same run is
the baseline (target: p99 under load < 100 ms).

SoR: resident memory of a real SoR process while 100 unauthenticated clients
each announce an 8 MB segment upload and send it slowly; the idle figure of
the same run is the baseline (target: growth < 20 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import keys  # noqa: E402
from benchmarks.bench_api import build_home  # noqa: E402
from benchmarks.common import percentile  # noqa: E402
from hub import ids  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402
from replication.index import init_city  # noqa: E402

NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]


async def get(host: str, port: int, path: str, headers: str = "") -> tuple[int, int]:
    """One request on its own connection; (status, body length)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        await reader.readexactly(length)
        return int(head[9:12]), length
    finally:
        writer.close()


async def probe_health(host: str, port: int, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        status, _ = await get(host, port, "/api/v1/health")
        latencies.append(time.perf_counter() - started)
        assert status == 200, status
        await asyncio.sleep(0.01)
    return latencies


async def load(host: str, port: int, agent: str, seconds: float) -> tuple[int, int, int]:
    """32 list readers and 8 citizen searchers, each looping, for ``seconds``."""
    counts = {"lists": 0, "searches": 0, "list_bytes": 0}
    deadline = time.monotonic() + seconds

    async def lister() -> None:
        while time.monotonic() < deadline:
            status, length = await get(host, port, "/open311/v2/requests.xml")
            assert status == 200, status
            counts["lists"] += 1
            counts["list_bytes"] = length

    async def searcher(n: int) -> None:
        while time.monotonic() < deadline:
            status, _ = await get(host, port, f"/api/v1/citizens?q={NAMES[n % len(NAMES)][:3]}&limit=100",
                                  f"Authorization: Bearer {agent}\r\n")
            assert status == 200, status
            counts["searches"] += 1
    await asyncio.gather(*(lister() for _ in range(32)), *(searcher(n) for n in range(8)))
    return counts["lists"], counts["searches"], counts["list_bytes"]


def load_process(host: str, port: int, agent: str, seconds: float, out) -> None:
    out.put(asyncio.run(load(host, port, agent, seconds)))


def under_load(host: str, port: int, agent: str, probes: int) -> tuple[list[float], int, int, int]:
    """The load in a process of its own (as other clients would be), health probed from here."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    seconds = probes * 0.05 + 3
    loader = multiprocessing.Process(target=load_process, args=(host, port, agent, seconds, results))
    loader.start()
    time.sleep(1.0)  # let the load build up before probing
    latencies = asyncio.run(probe_health(host, port, probes))
    lists, searches, size = results.get(timeout=seconds + 60)
    loader.join(30)
    return latencies, lists, searches, size


def api_part(cases: int, citizens: int, probes: int) -> list[tuple]:
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        home = Path(tmp) / "home"
        build_home(home, cases)
        with Terminal.open(home) as t:
            agent = keys.create(t.conn, "bench-agent", "agent")["api_key"]
            s = t.session(Principal.system())
            for n in range(citizens):
                s.citizens.register(first_name="Jean", last_name=f"{NAMES[n % len(NAMES)]}{n}",
                                    birth_date="1970-01-01")
        env = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
        proc = subprocess.Popen([str(Path(sys.executable).with_name("beffroi")), "serve", "--home", str(home),
                                 "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
        try:
            url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group(0)
            host, port = url.removeprefix("http://").split(":")
            idle = asyncio.run(probe_health(host, int(port), probes))
            loaded, lists, searches, size = under_load(host, int(port), agent, probes)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    return [("health, no load (baseline)", idle, "-"),
            (f"health, 32 Open311 lists ({size / 1000:,.0f} kB, {lists} served) + 8 searches ({searches} served)",
             loaded, "p99 < 100 ms")]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def slow_uploads(host: str, port: int, clients: int, pid: int) -> tuple[int, dict]:
    """Each client announces 8 MB and sends 1 MB of it in 64 KiB pieces, slowly;
    the peak RSS seen meanwhile, and how the SoR answered."""
    answers: dict[str, int] = {}
    peak = rss_kb(pid)
    done = asyncio.Event()

    async def one() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"PUT /v1/segments/{ids.ulid()}/1 HTTP/1.1\r\nHost: sor\r\nContent-Length: 8388608\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n".encode())
            piece = os.urandom(65536)
            for _ in range(16):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.05)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            answers[head[9:12].decode()] = answers.get(head[9:12].decode(), 0) + 1
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
            answers[type(exc).__name__] = answers.get(type(exc).__name__, 0) + 1
        finally:
            writer.close()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kb(pid))
            await asyncio.sleep(0.02)
    watcher = asyncio.ensure_future(watch())
    await asyncio.gather(*(one() for _ in range(clients)))
    done.set()
    await watcher
    return peak, answers


def sor_part(clients: int) -> tuple[int, int, int, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-hostile-sor-") as tmp:
        home = Path(tmp) / "sor"
        init_city(home, "Ville de Banc", shares=3, threshold=2)
        code = ("import asyncio, sys; from replication.sor import serve; "
                "asyncio.run(serve(sys.argv[1], '127.0.0.1', 0, None, litestream=False))")
        proc = subprocess.Popen([sys.executable, "-c", code, str(home)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
            host, port = url.removeprefix("http://").split(":")
            asyncio.run(get(host, int(port), "/v1/health"))
            idle = rss_kb(proc.pid)
            peak, answers = asyncio.run(slow_uploads(host, int(port), clients, proc.pid))
            after = rss_kb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    return idle, peak, after, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="20,000 cases and 10,000 citizens")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--uploads", type=int, default=100)
    args = parser.parse_args()
    cases, citizens = (20_000, 10_000) if args.full else (5_000, 2_000)
    rows = api_part(cases, citizens, args.probes)
    print(f"\nAPI: {cases:,} cases, {citizens:,} citizens, {os.cpu_count()} cores, client and server on loopback")
    print(f"| {'/api/v1/health':<86} | {'p50 ms':>7} | {'p99 ms':>7} | {'target':>12} |")
    print(f"|{'-' * 88}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
    for name, lat, target in rows:
        ms = [x * 1000 for x in lat]
        print(f"| {name:<86} | {percentile(ms, 50):>7.1f} | {percentile(ms, 99):>7.1f} | {target:>12} |")
    idle, peak, after, answers = sor_part(args.uploads)
    print(f"\nSoR: {args.uploads} unauthenticated clients each announcing an 8 MB upload and sending 1 MB slowly")
    print(f"| {'SoR resident memory':<36} | {'MB':>7} | {'target':>10} |")
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 12}|")
    print(f"| {'idle (baseline)':<36} | {idle / 1024:>7.1f} | {'-':>10} |")
    print(f"| {'peak during the uploads':<36} | {peak / 1024:>7.1f} | {'-':>10} |")
    print(f"| {'growth (peak - idle)':<36} | {(peak - idle) / 1024:>7.1f} | {'< 20 MB':>10} |")
    print(f"| {'after the uploads':<36} | {after / 1024:>7.1f} | {'-':>10} |")
    print(f"answers: {answers}")
    p99 = percentile([x * 1000 for x in rows[1][1]], 99)
    return 0 if p99 < 100 and (peak - idle) < 20 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
