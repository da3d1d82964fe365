"""Continuity: how fast every door obeys a mode change, the register PDF of
many acts, degraded detection, and convergence through an office relay.

    .venv/bin/python benchmarks/bench_continuity.py          # 2,000 events per terminal, 10,000-act register
    .venv/bin/python benchmarks/bench_continuity.py --full   # 10,000 events per terminal

Baselines, measured in the same run:
- mode change: the same door's plain answer time with no change (what obeying
  costs on top of answering);
- register: the same 10,000 lines written by fpdf2 as bare cells (no columns,
  total, header/footer), i.e. the PDF library's own floor;
- relay: the same three terminals converging through the city's SoR;
- tickets: the same kiosk handing out tickets online (daily numbers), against
  isolated with a ticket range (the range read in each ticket's transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from benchmarks.common import table  # noqa: E402
from continuity import incident, register  # noqa: E402
from continuity.relay import init_relay  # noqa: E402
from hub.demo import sample_fields  # noqa: E402
from hub.mode import ServiceUnavailable  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402
from replication.sync import Replicator  # noqa: E402

BIN = Path(sys.executable).parent
NOW = dt.datetime.now(dt.UTC)


def beffroi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "beffroi"), *args], capture_output=True, text=True, timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str, marker: str = "listening on") -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([str(BIN / "beffroi"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if marker not in line:
        proc.kill()
        raise RuntimeError(f"{args} did not start: {line} {proc.stderr.read()}")
    return proc, line.strip().rsplit(" ", 1)[-1].rstrip(";")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def until(condition, within: float = 30.0, every: float = 0.005) -> float:
    """Seconds until ``condition()`` holds."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > within:
            raise TimeoutError("condition not reached")
        time.sleep(every)
    return time.perf_counter() - started


# --- 1. a mode change reaches every door ----------------------------------------------

FPS = {"notice_number": "123456789012", "plate": "AB-123-CD", "amount_cents": "3500"}


def doors(root: Path) -> list[tuple[str, str, str, str]]:
    from api import keys
    home = root / "doors"
    with Terminal.init(home, "MAIRIE-01") as t:
        t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        citizen = t.session(Principal.agent("agent")).citizens.register(
            first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
        key = keys.create(t.conn, "bench", "agent")["api_key"]
    proc, _ = start("serve", "--home", str(home), "--port", str(port := free_port()), marker="serving")
    url = f"http://127.0.0.1:{port}"
    hub_view = Terminal.open(home)           # another process's connection, as a kiosk or the CLI holds
    desk = hub_view.session(Principal.agent("agent"))
    body = {"service": "forfait-post-stationnement", "citizen_id": citizen["id"], "fields": FPS}
    headers = {"Authorization": f"Bearer {key}"}
    rows = []
    try:
        def api_status() -> int:
            return requests.post(f"{url}/api/v1/cases", json=body, headers=headers, timeout=10).status_code

        def open311_type() -> str:
            return requests.get(f"{url}/open311/v2/services.json", timeout=10).json()[0]["type"]

        base_api = min(_timed(api_status) for _ in range(5))
        base_311 = min(_timed(open311_type) for _ in range(5))
        base_hub = min(_timed(lambda: desk.cases.open("forfait-post-stationnement", citizen["id"], FPS))
                       for _ in range(5))
        base_cli = _timed(lambda: beffroi("mode", "--home", str(home)))
        changer = Terminal.open(home)
        changed_at = time.perf_counter()
        incident.isolate_here(changer, Principal.ops("bench"), "benchmark", NOW)
        changer.close()

        def refused_by_hub() -> bool:
            try:
                desk.cases.open("forfait-post-stationnement", citizen["id"], FPS)
            except ServiceUnavailable:
                return True
            return False
        until(refused_by_hub)
        hub_s = time.perf_counter() - changed_at
        until(lambda: api_status() == 409)
        api_s = time.perf_counter() - changed_at
        until(lambda: open311_type() == "batch")
        o311_s = time.perf_counter() - changed_at
        cli_started = time.perf_counter()
        cli = beffroi("case", "new", "--service", "forfait-post-stationnement", "--citizen", citizen["id"],
                      "--home", str(home), *[f"--field={k}={v}" for k, v in FPS.items()])
        cli_s = time.perf_counter() - cli_started
        assert cli.returncode == 2   # its very first run after the change refuses: nothing to propagate
        tui_s, base_tui = tui_door(home)
        rows += [
            ("mode change → hub (Cases.open) refuses", f"{hub_s * 1000:.1f} ms", f"{base_hub * 1000:.1f} ms", "< 1 s"),
            ("mode change → HTTP API answers 409", f"{api_s * 1000:.1f} ms", f"{base_api * 1000:.1f} ms", "< 1 s"),
            ("mode change → Open311 answers batch", f"{o311_s * 1000:.1f} ms", f"{base_311 * 1000:.1f} ms", "< 1 s"),
            ("CLI: first run after the change refuses (whole run)", f"{cli_s * 1000:.0f} ms",
             f"{base_cli * 1000:.0f} ms (`beffroi mode`)", "obeys at once"),
            ("mode change → counter banner shows it", f"{tui_s * 1000:.0f} ms", f"{base_tui * 1000:.0f} ms", "< 1 s"),
        ]
    finally:
        hub_view.close()
        stop(proc)
    return rows


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def tui_door(home: Path) -> tuple[float, float]:
    """A running counter app: time from a mode change (other connection) to its
    reactive (the banners) showing it; baseline: one hub read of the mode."""
    from tui.counter.app import CounterApp

    async def run() -> tuple[float, float]:
        app = CounterApp(home, blink=False)
        async with app.run_test() as pilot:
            await pilot.pause()
            base = _timed(app.terminal.mode)
            with Terminal.open(home) as other:
                started = time.perf_counter()
                other.session(Principal.system()).modes.change("recovery", "benchmark")
            while app.mode.name != "recovery":
                await pilot.pause(0.005)
            return time.perf_counter() - started, base
    return asyncio.run(run())


# --- 2. the register PDF ----------------------------------------------------------------

def register_pdf(root: Path, acts: int) -> list[tuple[str, str, str, str]]:
    home = root / "register"
    rng = random.Random(2)
    today = dt.date.today()
    with Terminal.init(home, "MAIRIE-01") as t:
        t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        desk = t.session(Principal.agent("agent"))
        citizens = [desk.citizens.register(first_name=f"Prénom{i}", last_name=f"Nom{i}", birth_date="1980-01-01",
                                           address=f"{i} rue Pasteur") for i in range(50)]
        incident.isolate_here(t, Principal.ops("bench"), "benchmark", NOW)
        done = 0
        with t.group():
            while done < acts:   # acts: case openings and payments, each a register line
                citizen = citizens[done % len(citizens)]
                code = rng.choice(["signalement", "acte-naissance", "facture-municipale"])
                case = desk.cases.open(code, citizen["id"], sample_fields(code, rng, citizen, today))
                done += 1
                if code == "facture-municipale" and done < acts:
                    desk.payments.take(case["id"], 1000, "card")
                    done += 1
        lines = register.acts(t)
        started = time.perf_counter()
        info = register.print_register(t, root / "register.pdf")
        took = time.perf_counter() - started
    size = (root / "register.pdf").stat().st_size
    from fpdf import FPDF
    started = time.perf_counter()
    pdf = FPDF(orientation="L")
    pdf.add_page()
    pdf.set_font("Helvetica", "", 8)
    for line in lines:
        pdf.cell(0, 5, f"{line['number']} {line['hlc']} {line['actor']} {line['service']}", new_x="LMARGIN",
                 new_y="NEXT")
    (root / "bare.pdf").write_bytes(bytes(pdf.output()))
    bare = time.perf_counter() - started
    return [(f"register PDF, {info['acts']:,} acts ({info['pages']} pages)", f"{took:.2f} s",
             f"{bare:.2f} s (bare cells)", "—"),
            ("register PDF size", f"{size / 1e6:.2f} MB", f"{(root / 'bare.pdf').stat().st_size / 1e6:.2f} MB", "—")]


# --- 2b. queue tickets from a range ------------------------------------------------------

def tickets(root: Path, count: int) -> list[tuple[str, str, str, str]]:
    """Tickets issued one per transaction (one citizen at a time, as at a kiosk),
    online and isolated with a range, at two fresh terminals; the two take turns
    in rounds so a busy moment of the shared machine falls on both."""
    kiosks, took = {}, {"online": 0.0, "isolated": 0.0}
    for how in took:
        t = kiosks[how] = Terminal.init(root / f"tickets-{how}", "KIOSQUE-01")
        if how == "isolated":
            t.session(Principal.system()).modes.change("isolated", "benchmark", tickets=(100, 99 + count))
    try:
        families = list(kiosks["online"].catalog.families)
        rounds = 10
        for _ in range(rounds):
            for how, t in kiosks.items():
                queue = t.session(Principal.kiosk("bench")).queue
                started = time.perf_counter()
                for i in range(count // rounds):
                    queue.issue(families[i % len(families)])
                took[how] += time.perf_counter() - started
        assert kiosks["isolated"].mode().tickets_left == count - rounds * (count // rounds)
    finally:
        for t in kiosks.values():
            t.close()
    done = rounds * (count // rounds)
    return [(f"queue tickets issued, isolated with a range ({done:,})", f"{done / took['isolated']:,.0f} /s",
             f"{done / took['online']:,.0f} /s online", "—")]


# --- 3. degraded detection and relay convergence ------------------------------------------

def city(root: Path, names: list[str]) -> tuple[Path, subprocess.Popen, str, list[Path]]:
    sor = root / "sor"
    beffroi("sor", "init", "--shares", "2", "--threshold", "2", "--home", str(sor))
    port = free_port()
    proc, _ = start("sor", "serve", "--home", str(sor), "--port", str(port), "--no-litestream")
    url = f"http://127.0.0.1:{port}"
    homes = []
    for name in names:
        home = root / name
        beffroi("init", "--terminal", name, "--home", str(home))
        code = json.loads(beffroi("sor", "invite", name, "--json", "--home", str(sor)).stdout)["code"]
        enrolled = json.loads(beffroi("enroll", "--sor", url, "--invite", code, "--json", "--home", str(home)).stdout)
        beffroi("sor", "approve", name, "--fingerprint", enrolled["device_fingerprint"], "--home", str(sor))
        homes.append(home)
    for home in homes:
        beffroi("sync", "--home", str(home))
    return sor, proc, url, homes


def degraded_detection(root: Path) -> list[tuple[str, str, str, str]]:
    sor, proc, url, (home,) = city(root / "degraded", ["MAIRIE-01"])
    watcher = subprocess.Popen([str(BIN / "beffroi"), "sync", "--watch", "--home", str(home)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)   # let the watcher finish a first round with the SoR up

        def mode() -> str:
            with Terminal.open(home) as t:
                return t.mode().name
        stop(proc)
        detected = until(lambda: mode() == "degraded", within=60, every=0.05)
        port = int(url.rsplit(":", 1)[1])
        proc, _ = start("sor", "serve", "--home", str(sor), "--port", str(port), "--no-litestream")
        back = until(lambda: mode() == "online", within=60, every=0.05)
    finally:
        stop(watcher)
        stop(proc)
    return [("SoR killed → terminal degraded (default settings)", f"{detected:.1f} s", "—", "< 10 s"),
            ("SoR back → terminal online", f"{back:.1f} s", "—", "—")]


def fill(home: Path, events: int, seed: int) -> None:
    rng = random.Random(seed)
    today = dt.date.today()
    with Terminal.open(home) as t:
        t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
        desk = t.session(Principal.agent("agent"))
        citizen = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                         address="3 rue Pasteur")
        with t.group():
            for _ in range(events - 2):
                desk.cases.open("signalement", citizen["id"], sample_fields("signalement", rng, citizen, today))


def converge(homes: list[Path], url: str) -> tuple[float, int]:
    """Rounds of sync through ``url`` until the three state hashes agree."""
    terminals = [Terminal.open(h) for h in homes]
    try:
        total = sum(t.journal.heads().get(t.id, (0, ""))[0] for t in terminals)
        started = time.perf_counter()
        while True:
            for t in terminals:
                replicator = Replicator(t)
                try:
                    asyncio.run(replicator.sync(url))
                finally:
                    replicator.close()
            if len({t.state_hash() for t in terminals}) == 1 and \
                    all(t.journal.count() >= total for t in terminals):
                return time.perf_counter() - started, total
    finally:
        for t in terminals:
            t.close()


def relay_vs_sor(root: Path, events: int) -> list[tuple[str, str, str, str]]:
    rows = []
    results = {}
    for via in ("sor", "relay"):
        folder = root / f"converge-{via}"
        sor, proc, url, homes = city(folder, ["MAIRIE-01", "MAIRIE-02", "MAIRIE-03"])
        relay = None
        try:
            target = url
            if via == "relay":
                init_relay(folder / "relay", homes[0])
                relay, relay_url = start("sor", "serve", "--home", str(folder / "relay"), "--port", "0",
                                         "--no-litestream")
                stop(proc)    # the city's SoR is down: only the relay answers
                target = relay_url
            for i, home in enumerate(homes):
                fill(home, events, i)
            results[via] = converge(homes, target)
        finally:
            if relay is not None:
                stop(relay)
            stop(proc)
    relay_s, total = results["relay"]
    sor_s, _ = results["sor"]
    rows.append((f"3 terminals × {events:,} events converge (events/s)", f"{total / relay_s:,.0f} /s via relay",
                 f"{total / sor_s:,.0f} /s via SoR", "—"))
    rows.append(("… time to converge", f"{relay_s:.1f} s", f"{sor_s:.1f} s", "—"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10,000 events per terminal")
    parser.add_argument("--acts", type=int, default=10_000, help="acts in the register PDF")
    parser.add_argument("--tickets", type=int, default=2_000, help="queue tickets issued online, then isolated")
    parser.add_argument("--only", choices=("doors", "register", "tickets", "degraded", "relay"),
                        help="run one measure only")
    args = parser.parse_args()
    events = 10_000 if args.full else 2_000
    root = Path(tempfile.mkdtemp(prefix="beffroi-bench-continuity-"))
    rows = []
    try:
        for what, step in (("doors", lambda: doors(root)), ("register", lambda: register_pdf(root, args.acts)),
                           ("tickets", lambda: tickets(root, args.tickets)),
                           ("degraded", lambda: degraded_detection(root)),
                           ("relay", lambda: relay_vs_sor(root, events))):
            if args.only and what != args.only:
                continue
            print(f"{what}…", file=sys.stderr, flush=True)
            rows += step()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(table(rows))
    print(json.dumps({"events_per_terminal": events, "acts": args.acts, "tickets": args.tickets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
