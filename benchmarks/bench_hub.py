"""Hub benchmark: case creation latency, journal append throughput, rebuild
time and citizen search, each against a raw SQLite baseline measured in the
same run on the same disk, with the same durability (WAL, synchronous=FULL).

    .venv/bin/python benchmarks/bench_hub.py            # 100,000-event sizes
    .venv/bin/python benchmarks/bench_hub.py --full     # adds the 1,000,000-event rebuild
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile, summary_ms, table  # noqa: E402
from hub import canonical, ids  # noqa: E402
from hub.demo import FIRST, LAST, STREETS, sample_fields  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402

AGENT = Principal.agent("bench")


def raw_baseline(path: Path, n: int) -> list[float]:
    """One row like an event (same columns, same JSON payload size), one commit each."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (origin TEXT, seq INTEGER, hlc INTEGER, actor TEXT, type TEXT, aggregate TEXT,"
               " data TEXT, prev TEXT, hash TEXT, PRIMARY KEY (origin, seq)) WITHOUT ROWID")
    payload = canonical.dumps({"id": ids.ulid(), "service": "signalement", "fields": {"category": "eclairage",
                               "location": {"lat": 47.47, "long": -0.55}, "description": "Lampadaire éteint"}})
    samples = []
    for seq in range(1, n + 1):
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)",
                   ("T", seq, seq, "agent:bench", "case.opened", f"case:{seq}", payload, "0" * 64, "0" * 64))
        db.execute("COMMIT")
        samples.append(time.perf_counter() - start)
    db.close()
    return samples


def case_creation(terminal: Terminal, n: int) -> list[float]:
    session = terminal.session(AGENT)
    person = session.citizens.register(first_name="Jean", last_name="Martin", birth_date="1970-01-01")
    fields = {"category": "eclairage", "location": "47.47,-0.55", "description": "Lampadaire éteint"}
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        session.cases.open("signalement", person["id"], fields)
        samples.append(time.perf_counter() - start)
    return samples


def journal_appends(terminal: Terminal, n: int) -> list[float]:
    """Bare journal appends (no projection), one transaction each."""
    samples = []
    data = {"id": ids.ulid(), "note": "x" * 100}
    for _ in range(n):
        start = time.perf_counter()
        with terminal.journal.transaction():
            terminal.journal.append("bench.appended", "bench:1", data, AGENT.actor)
        samples.append(time.perf_counter() - start)
    return samples


def fill(terminal: Terminal, events: int, citizens: int, batch: int = 5000) -> None:
    """A realistic mix written fast: many events per transaction."""
    rng = random.Random(7)
    session = terminal.session(AGENT)
    today = dt.date.today()
    people: list[dict] = []
    services = ["signalement", "encombrants", "acte-naissance", "inscription-scolaire", "declaration-prealable"]
    written = 0
    catalog = terminal.catalog
    while written < events:
        with terminal.writing() as w:
            for _ in range(min(batch, events - written)):
                if len(people) < citizens:
                    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(25000))
                    person = {"id": ids.ulid(), "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST),
                              "birth_date": born.isoformat(), "postcode": "49000",
                              "phone": f"06{rng.randrange(10**8):08d}",
                              "address": f"{rng.randrange(1, 140)} {rng.choice(STREETS)}", "email": None}
                    w.record(AGENT, "citizen.registered", f"citizen:{person['id']}", person)
                    people.append(person)
                elif rng.random() < 0.5 or written < citizens + 100:
                    person = rng.choice(people)
                    code = rng.choice(services)
                    service = catalog.get(code)
                    data = {"id": ids.ulid(), "service": code, "citizen_id": person["id"], "status": service.initial,
                            "fields": service.clean(sample_fields(code, rng, person, today)),
                            "tracking_code": ids.tracking_code(), "verify_kind": "birth_year",
                            "verify_value": person["birth_date"][:4]}
                    w.record(AGENT, "case.opened", f"case:{data['id']}", data)
                else:
                    row = session.conn.execute("SELECT id, service, status FROM cases WHERE rowid = ?",
                                               (rng.randrange(1, 1 + session.conn.execute(
                                                   "SELECT max(rowid) FROM cases").fetchone()[0]),)).fetchone()
                    if row is None:
                        continue
                    targets = catalog.get(row[1]).transitions[row[2]]
                    if targets:
                        w.record(AGENT, "case.status_changed", f"case:{row[0]}",
                                 {"id": row[0], "from": row[2], "to": rng.choice(targets)})
                    else:
                        w.record(AGENT, "case.noted", f"case:{row[0]}",
                                 {"id": row[0], "note_id": ids.ulid(), "text": "Dossier archivé."})
                written += 1


def rebuild_time(terminal: Terminal) -> tuple[float, str, str]:
    before = terminal.state_hash()
    start = time.perf_counter()
    terminal.rebuild()
    elapsed = time.perf_counter() - start
    return elapsed, before, terminal.state_hash()


def raw_rebuild_baseline(terminal: Terminal) -> float:
    """Reading every event and copying it into a plain table: the floor of any fold."""
    start = time.perf_counter()
    with terminal.journal.transaction():
        terminal.conn.execute("CREATE TEMP TABLE copy AS SELECT origin, seq, data FROM events ORDER BY hlc, origin, seq")
        terminal.conn.execute("DROP TABLE temp.copy")
    return time.perf_counter() - start


def search_latency(terminal: Terminal, queries: int = 500) -> list[float]:
    session = terminal.session(AGENT)
    rng = random.Random(3)
    samples = []
    for _ in range(queries):
        q = rng.choice([f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng.choice(LAST)[:3], rng.choice(FIRST).lower(),
                        f"06{rng.randrange(10**8):08d}", f"{rng.randrange(1, 28):02d}/0{rng.randrange(1, 9)}/19{rng.randrange(45, 99)}"])
        q = q.replace("é", "e").replace("è", "e")
        start = time.perf_counter()
        session.citizens.search(q)
        samples.append(time.perf_counter() - start)
    return samples


def raw_search_baseline(terminal: Terminal, queries: int = 500) -> list[float]:
    """A LIKE scan over every row, what a name search costs without FTS5."""
    rng = random.Random(3)
    samples = []
    for _ in range(queries):
        name = rng.choice(LAST)
        start = time.perf_counter()
        terminal.conn.execute("SELECT count(*) FROM citizens WHERE first_name || ' ' || last_name LIKE ?",
                              (f"%{name}%",)).fetchall()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also rebuild 1,000,000 events")
    parser.add_argument("--ops", type=int, default=2000, help="cases / appends timed one by one")
    parser.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir on /work's disk)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-hub-", dir=args.dir or Path(__file__).resolve().parent.parent))
    rows = []
    try:
        raw = raw_baseline(root / "raw.db", args.ops)
        with Terminal.init(root / "cases", "BENCH") as t:
            cases = case_creation(t, args.ops)
        with Terminal.init(root / "appends", "BENCH") as t:
            appends = journal_appends(t, args.ops)
        raw_rate, append_rate = len(raw) / sum(raw), len(appends) / sum(appends)
        print(f"raw SQLite commit: {summary_ms(raw)}")
        print(f"case creation:     {summary_ms(cases)}")
        print(f"journal append:    {summary_ms(appends)}")
        rows.append(("case creation p50", f"{percentile(cases, 50) * 1000:.3f} ms",
                     f"{percentile(raw, 50) * 1000:.3f} ms (raw commit)", "< 1 ms"))
        rows.append(("case creation p99", f"{percentile(cases, 99) * 1000:.3f} ms",
                     f"{percentile(raw, 99) * 1000:.3f} ms (raw commit)", "< 5 ms"))
        rows.append(("journal append throughput", f"{append_rate:,.0f} events/s ({append_rate / raw_rate:.2f}x)",
                     f"{raw_rate:,.0f} inserts/s", ">= 0.5x baseline"))
        sizes = [(100_000, 100_000, 6.0)] + ([(1_000_000, 100_000, 60.0)] if args.full else [])
        for events, citizens, target in sizes:
            with Terminal.init(root / f"big-{events}", "BENCH") as t:
                start = time.perf_counter()
                fill(t, events, citizens)
                print(f"filled {events:,} events in {time.perf_counter() - start:.1f} s")
                floor = raw_rebuild_baseline(t)
                elapsed, before, after = rebuild_time(t)
                assert before == after, "rebuild changed the state-hash"
                rows.append((f"rebuild {events:,} events", f"{elapsed:.2f} s (state-hash identical)",
                             f"{floor:.2f} s (copy all events)", f"< {target:.0f} s"))
                if events == 100_000:
                    found = search_latency(t)
                    like = raw_search_baseline(t)
                    rows.append((f"citizen search p99 ({citizens:,} citizens)",
                                 f"{percentile(found, 99) * 1000:.2f} ms (p50 {percentile(found, 50) * 1000:.2f})",
                                 f"{percentile(like, 99) * 1000:.2f} ms (LIKE scan)", "< 50 ms"))
        print()
        print(table(rows))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
