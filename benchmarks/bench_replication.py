"""Replication benchmark: one command, one run, one table.

    .venv/bin/python benchmarks/bench_replication.py [--events N] [--full]

- end-to-end sync on loopback (seal, push, pull, verify, decrypt, merge),
  sealed, and the very same pipeline with encryption and signing switched off
  (the baseline, measured side by side on a copy of the same journal);
- catch-up: a fresh terminal pulls everything the SoR holds (100,000 events
  with --full or the default size);
- litestream recovery point: time from a commit to the SoR index until the
  replica has it (new LTX file in the file replica).

The SoR runs as a separate process (the real server, no litestream) so the
client and the server do not share one interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import ids  # noqa: E402
from hub.citizens import clean_identity  # noqa: E402
from hub.demo import FIRST, LAST, POSTCODES, STREETS, sample_fields  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402
from replication.enrolment import enroll  # noqa: E402
from replication.index import Index, admin_keys, init_city  # noqa: E402
from replication.sync import Replicator  # noqa: E402


def make_events(t: Terminal, count: int, seed: int = 1789) -> None:
    """Realistic events, recorded in large transactions (the journal's own
    fsync per action would measure the disk, not replication)."""
    rng = random.Random(seed)
    who = Principal.system()
    today = dt.date.today()
    made = 0
    while made < count:
        with t.writing() as w:
            for _ in range(min(5000, count - made) // 3 or 1):
                raw = {"first_name": rng.choice(FIRST), "last_name": rng.choice(LAST),
                       "birth_date": f"{rng.randint(1940, 2005)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                       "postcode": rng.choice(POSTCODES), "phone": f"06{rng.randrange(10**8):08d}",
                       "address": f"{rng.randrange(1, 140)} {rng.choice(STREETS)}"}
                citizen = {"id": ids.ulid(), **clean_identity(raw)}
                citizen = {k: citizen.get(k) for k in ("id", "first_name", "last_name", "birth_date", "postcode",
                                                       "phone", "address", "email")}
                w.record(who, "citizen.registered", f"citizen:{citizen['id']}", citizen)
                case = {"id": ids.ulid(), "service": "encombrants", "citizen_id": citizen["id"], "status": "submitted",
                        "fields": sample_fields("encombrants", rng, citizen, today), "tracking_code": ids.tracking_code(),
                        "verify_kind": "postcode", "verify_value": citizen["postcode"]}
                w.record(who, "case.opened", f"case:{case['id']}", case)
                w.record(who, "case.noted", f"case:{case['id']}",
                         {"id": case["id"], "note_id": ids.ulid(), "text": "Pièces vérifiées au guichet."})
                made += 3
                if made >= count:
                    break


def start_sor(home: Path, allow_plain: bool) -> tuple[subprocess.Popen, str]:
    code = ("import asyncio, sys; from replication.sor import serve; "
            f"asyncio.run(serve(sys.argv[1], '127.0.0.1', 0, None, litestream=False, allow_plain={allow_plain}))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(home)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[1]


def enrol(t: Terminal, url: str, sor_home: Path) -> None:
    index = Index(sor_home)
    shown = asyncio.run(enroll(t, url, index.invite(t.name)["code"]))
    index.approve(admin_keys(sor_home), t.id, shown["device_fingerprint"])
    index.close()


def _writer(home: str, url: str, sealed: bool, go, done) -> None:
    """Child process: the writing terminal, on its own core like a real one."""
    writer = Terminal.open(Path(home))
    replicator = Replicator(writer, sealed=sealed)
    go.wait()
    started = time.perf_counter()
    asyncio.run(replicator.sync(url))
    done.put(time.perf_counter() - started)


def pipeline(root: Path, source: Path, sealed: bool, run: int) -> dict[str, float]:
    """Two terminals and the SoR, three processes. End to end: the writer seals
    and pushes its journal while the reader pulls, verifies, decrypts and
    merges, round after round, until it holds every event. Then catch-up: a
    fresh terminal pulls everything the SoR holds in one go."""
    tag = f"{'sealed' if sealed else 'plain'}-{run}"
    writer_home = root / f"writer-{tag}"
    shutil.copytree(source, writer_home)
    sor_home = root / f"sor-{tag}"
    init_city(sor_home, "Bench", 2, 2)
    proc, url = start_sor(sor_home, allow_plain=not sealed)
    ctx = multiprocessing.get_context("spawn")
    try:
        with Terminal.open(writer_home) as writer:
            enrol(writer, url, sor_home)
            want, want_hash = writer.journal.count(), writer.state_hash()
        reader = Terminal.init(root / f"reader-{tag}", "READER")
        late = Terminal.init(root / f"late-{tag}", "LATE")
        enrol(reader, url, sor_home)
        enrol(late, url, sor_home)
        first, second = Replicator(reader, sealed=sealed), Replicator(late, sealed=sealed)
        asyncio.run(first.sync(url)), asyncio.run(second.sync(url))       # registry and keys, before the clock starts
        go, done = ctx.Event(), ctx.Queue()
        child = ctx.Process(target=_writer, args=(str(writer_home), url, sealed, go, done))
        child.start()
        time.sleep(1.0)                                           # child imports and opens its terminal
        go.set()
        start = time.perf_counter()
        while reader.journal.count() < want:
            if not asyncio.run(first.sync(url)).pulled_events:
                time.sleep(0.02)                                  # as `sync --watch` with a short interval
        end_to_end = time.perf_counter() - start
        push = done.get(timeout=120)
        child.join(30)
        start = time.perf_counter()
        caught = asyncio.run(second.sync(url))
        catch_up = time.perf_counter() - start
        assert caught.pulled_events == want and late.state_hash() == reader.state_hash() == want_hash
        first.close(), second.close(), reader.close(), late.close()
        return {"e2e": end_to_end, "push": push, "catch_up": catch_up, "events": want}
    finally:
        proc.terminate()
        proc.wait(10)
        for folder in (writer_home, sor_home, root / f"reader-{tag}", root / f"late-{tag}"):
            shutil.rmtree(folder, ignore_errors=True)


def litestream_lag(root: Path, samples: int) -> list[float]:
    from replication.litestream import Supervisor
    home = root / "sor-lag"
    init_city(home, "Bench", 2, 2)

    async def run() -> list[float]:
        supervisor = Supervisor(home)
        await supervisor.start()
        index = Index(home)
        lags = []
        try:
            await asyncio.sleep(1.5)
            ltx = home / "replica" / "ltx" / "0"
            for n in range(samples):
                before = set(ltx.glob("*.ltx")) if ltx.exists() else set()
                with index.transaction():
                    index.conn.execute("INSERT OR REPLACE INTO meta VALUES ('bench', ?)", (str(n),))
                committed = time.time()
                while True:
                    now = set(ltx.glob("*.ltx")) if ltx.exists() else set()
                    if now - before:
                        lags.append(time.time() - committed)
                        break
                    if time.time() - committed > 10:
                        lags.append(float("inf"))
                        break
                    await asyncio.sleep(0.005)
                await asyncio.sleep(random.uniform(0.05, 0.3))
        finally:
            index.close()
            await supervisor.stop()
        return lags
    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="events in the end-to-end run")
    parser.add_argument("--full", action="store_true", help="the issue's sizes: 100,000 events")
    parser.add_argument("--lag-samples", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each pipeline, interleaved; the best of each is reported (shared machine)")
    args = parser.parse_args()
    count = 100_000 if args.full else args.events
    root = Path(tempfile.mkdtemp(prefix="beffroi-bench-"))
    try:
        print(f"generating {count} events…", file=sys.stderr, flush=True)
        writer = Terminal.init(root / "writer", "WRITER")
        started = time.perf_counter()
        make_events(writer, count)
        writer.close()
        print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        merges = []
        with Terminal.open(root / "writer") as writer:
            events = list(writer.journal.events(writer.id))
        for run in range(args.repeat):
            with Terminal.init(root / f"merge-{run}", "MERGE") as fresh:
                started = time.perf_counter()
                fresh.accept(events)
                merges.append(time.perf_counter() - started)
            shutil.rmtree(root / f"merge-{run}")
        del events
        plains, sealeds = [], []
        for run in range(args.repeat):
            print(f"run {run + 1}/{args.repeat}: unsealed baseline, then sealed…", file=sys.stderr, flush=True)
            plains.append(pipeline(root, root / "writer", sealed=False, run=run))
            sealeds.append(pipeline(root, root / "writer", sealed=True, run=run))
        plain = {k: min(r[k] for r in plains) for k in plains[0]}
        sealed = {k: min(r[k] for r in sealeds) for k in sealeds[0]}
        print("litestream lag…", file=sys.stderr, flush=True)
        lags = litestream_lag(root, args.lag_samples)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = sealed["events"]
    rate, base_rate = n / sealed["e2e"], n / plain["e2e"]
    ratio = sealed["e2e"] / plain["e2e"]
    catch_up_100k = sealed["catch_up"] * 100_000 / n
    lags = sorted(lags)
    p95 = lags[max(0, int(len(lags) * 0.95) - 1)]
    rows = [
        ("end-to-end sync (events/s)", f"{rate:,.0f}", f"{base_rate:,.0f}", ">= 20,000", rate >= 20_000),
        ("  end-to-end time (s)", f"{sealed['e2e']:.2f}", f"{plain['e2e']:.2f}", "", None),
        ("  writer alone: seal + push (s)", f"{sealed['push']:.2f}", f"{plain['push']:.2f}", "", None),
        ("sealed / unsealed end-to-end time", f"{ratio:.2f}x", "1.00x", "<= 1.3x", ratio <= 1.3),
        (f"catch-up of {n:,} events: pull+verify+decrypt+merge (s)", f"{sealed['catch_up']:.2f}",
         f"{plain['catch_up']:.2f}", "", None),
        ("catch-up of 100,000 events (s)" + ("" if n >= 100_000 else ", extrapolated"),
         f"{catch_up_100k:.2f}", f"{plain['catch_up'] * 100_000 / n:.2f}", "< 10", catch_up_100k < 10),
        ("  of which the hub's merge alone, same events (s)", f"{min(merges):.2f}", "", "", None),
        ("sealed / unsealed catch-up time", f"{sealed['catch_up'] / plain['catch_up']:.2f}x", "1.00x", "", None),
        (f"litestream lag, median of {len(lags)} (s)", f"{statistics.median(lags):.3f}", "", "<= 0.5",
         statistics.median(lags) <= 0.5),
        ("litestream lag, p95 / max (s)", f"{p95:.3f} / {max(lags):.3f}", "", "<= 0.5", p95 <= 0.5),
    ]
    print(f"\nBeffroi replication benchmark — {n:,} events; writer, reader and SoR are three processes on "
          f"loopback; best of {args.repeat} interleaved runs; baseline = same pipeline, unsealed\n")
    print(f"{'measure':<56} {'sealed':>14} {'baseline':>10} {'target':>10}  ok")
    print("-" * 98)
    for name, value, base, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:<56} {value:>14} {base:>10} {target:>10}  {mark}")


if __name__ == "__main__":
    main()
