"""Counter app benchmark: start to first paint, keystroke to search results
(through Pilot) and memory, on a big home, against the same measures on an
empty home and against the hub's search alone, all in the same run.

    .venv/bin/python benchmarks/bench_tui.py          # 10,000 citizens, 100,000 events
    .venv/bin/python benchmarks/bench_tui.py --full   # 100,000 citizens, 1,000,000 events (the issue's size)

Each app runs in its own process, so start-up (imports, opening the home)
and RSS are those of a real `beffroi counter`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile, table  # noqa: E402

# What an agent types: surnames, first name + surname, a phone prefix, a birth date.
QUERIES = ["dupont", "helene dupont", "martin", "nguyen", "le goff", "camille roux", "0612", "12/03/1985",
           "benali", "garcia", "jean moreau", "saint-just", "leroy", "fatima diallo", "menard"]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(home: str) -> None:
    """One counter app: report first paint, sign-in to desk, keystroke latencies, RSS."""
    from tui.counter.app import CounterApp
    from tui.counter.screens.desk import DeskScreen

    report: dict = {}
    samples: list[float] = []
    state: dict = {"key": None}
    original_search = DeskScreen.search

    def search(self, text: str, short: bool = False) -> None:
        original_search(self, text, short)
        start, state["key"] = state["key"], None
        if start is not None and text.strip():   # keystrokes that query the index (not clearing the box)
            self.call_after_refresh(lambda: samples.append(time.perf_counter() - start))

    DeskScreen.search = search

    class Probe(CounterApp):
        def on_ready(self) -> None:
            report["painted"] = time.time()

        async def on_event(self, event) -> None:
            from textual import events
            if isinstance(event, events.Key):
                state["key"] = time.perf_counter()
            await super().on_event(event)

    async def drive(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        app.screen.query_one("#agent").value = "agent"
        app.screen.query_one("#secret").value = "246810"
        app.screen.query_one("#secret").focus()
        start = time.perf_counter()
        await pilot.press("enter")
        while not isinstance(app.screen, DeskScreen):
            await asyncio.sleep(0.001)
        await pilot.pause()
        report["desk_s"] = time.perf_counter() - start
        search_box = app.screen.query_one("#search")
        for query in QUERIES:
            search_box.value = ""
            await pilot.pause()
            before = len(samples)
            for ch in query:
                await pilot.press("space" if ch == " " else ch)
            await pilot.pause()
            assert app.screen.searched == query, (app.screen.searched, query)
            assert len(samples) > before
        report["keystrokes"] = samples[:]
        report["rss_kib"] = rss_kib()
        app.exit()

    started = time.time()
    Probe(home, blink=False).run(headless=True, size=(120, 36), auto_pilot=drive)
    report["started"] = started
    print(json.dumps(report), flush=True)


def measure(home: Path) -> dict:
    start = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", str(home)], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    report["first_paint_s"] = report["painted"] - start
    return report


def hub_search_alone(home: Path) -> list[float]:
    from hub.roles import Principal
    from hub.terminal import Terminal
    samples = []
    with Terminal.open(home) as terminal:
        session = terminal.session(Principal.agent("agent"))
        for query in QUERIES:
            for n in range(3, len(query) + 1):   # what the counter searches as you type
                start = time.perf_counter()
                session.citizens.search(query[:n])
                samples.append(time.perf_counter() - start)
    return samples


def build(home: Path, citizens: int, events: int) -> float:
    from benchmarks.bench_hub import fill
    from hub.roles import Principal
    from hub.terminal import Terminal
    start = time.perf_counter()
    with Terminal.init(home, "MAIRIE-01", "Ville d'Angers") as terminal:
        terminal.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810")
        session = terminal.session(Principal.agent("agent"))
        session.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        for family in "EVPEUS":
            session.queue.issue(family)
        if events:
            fill(terminal, events, citizens)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="100,000 citizens and 1,000,000 events")
    parser.add_argument("--keep", type=Path, help="build the big home here once and reuse it on later runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    citizens, events = (100_000, 1_000_000) if args.full else (10_000, 100_000)
    random.seed(4)
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        big, empty = (args.keep or Path(tmp)) / f"big-{citizens}-{events}", Path(tmp) / "empty"
        if (big / "terminal.json").exists():
            print(f"reusing {big}", flush=True)
        else:
            print(f"building a home with {citizens:,} citizens and {events:,} events…", flush=True)
            took = build(big, citizens, events)
            print(f"built in {took:.0f} s", flush=True)
        build(empty, 0, 0)
        count = sqlite3.connect(big / "journal.db").execute("SELECT count(*) FROM events").fetchone()[0]
        print(f"{count:,} events, {(big / 'journal.db').stat().st_size / 1e6:.0f} MB journal", flush=True)
        measure(empty)                      # warm the disk cache and bytecode once
        on_big, on_empty = measure(big), measure(empty)
        alone = hub_search_alone(big)
    ms = lambda s: f"{s * 1000:.1f} ms"
    keys = on_big["keystrokes"]
    rows = [
        ("start → first paint (login)", ms(on_big["first_paint_s"]), f"{ms(on_empty['first_paint_s'])} (empty home)",
         "< 1 s"),
        ("sign-in → desk painted", ms(on_big["desk_s"]), f"{ms(on_empty['desk_s'])} (empty home)", "—"),
        ("keystroke → results painted p50", ms(percentile(keys, 50)),
         f"{ms(percentile(alone, 50))} (hub search alone)", "—"),
        ("keystroke → results painted p95", ms(percentile(keys, 95)),
         f"{ms(percentile(alone, 95))} (hub search alone)", "< 50 ms"),
        ("keystroke → results painted p95, empty home", ms(percentile(on_empty["keystrokes"], 95)), "—", "—"),
        ("RSS after the searches", f"{on_big['rss_kib'] / 1024:.0f} MiB",
         f"{on_empty['rss_kib'] / 1024:.0f} MiB (empty home)", "report"),
    ]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nCounter app, {citizens:,} citizens / {events:,} events, {len(keys)} keystrokes through Pilot"
          f" (load average {load} on {os.cpu_count()} CPUs);"
          f" the search runs from the 3rd character typed, or on Enter\n")
    print(table(rows))


if __name__ == "__main__":
    main()
