"""How fast a killed kiosk is back: `beffroi kiosk --supervised` in tmux, its
app killed with SIGKILL (once its spare is ready, 3 s after a start), timed
until a fresh welcome screen is painted.

Measures, in one run on the same home and terminal size:
  - the baseline: a cold start of `beffroi kiosk` (no supervisor), from the
    command to the welcome screen painted — what any restart must pay;
  - SIGKILL of the supervised app → the new app's welcome painted (target < 2 s);
  - the same with the home on a 100,000-event journal, 10,000 citizens (opening it is part of a start).

    .venv/bin/python benchmarks/bench_kiosk.py [--rounds N] [--full]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile, table  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402

BEFFROI = Path(sys.executable).with_name("beffroi")
ENV = "env -u BEFFROI_HOME -u COLUMNS -u LINES TERM=xterm-256color LANG=C.UTF-8"


def _name(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""   # gone already


class Pane:
    made = itertools.count()

    def __init__(self, command: str) -> None:
        # A tmux server of its own each time: a server being killed still
        # holds its socket for a moment.
        self.base = ["tmux", "-L", f"bench-kiosk-{os.getpid()}-{next(self.made)}"]
        self.started = time.perf_counter()
        self.tmux("new-session", "-d", "-s", "k", "-x", "110", "-y", "34", f"{ENV} {command}")
        shown = self.tmux("display", "-p", "-t", "k", "#{pane_pid}").strip()
        if not shown.isdigit():
            raise SystemExit(f"tmux did not start the kiosk ({command})")
        self.pid = int(shown)

    def tmux(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=20).stdout

    def welcome(self) -> bool:
        return "Bienvenue" in self.tmux("capture-pane", "-p", "-t", "k")

    def child(self) -> int | None:
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        # Not the spare waiting to replace it: the app names itself once it shows.
        shown = [int(pid) for pid in children if _name(pid) == "beffroi-kiosk"]
        return shown[0] if shown else None

    def spare_ready(self) -> bool:
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except FileNotFoundError:
            return False
        return any(_name(pid) == "beffroi-spare" for pid in children)

    def close(self) -> None:
        self.tmux("kill-server")


def until(condition, limit: float = 30.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > limit:
            raise SystemExit("the kiosk never came back")
        time.sleep(0.005)
    return time.perf_counter()


def cold_starts(home: Path, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        pane = Pane(f"{BEFFROI} kiosk --home {home}")
        try:
            times.append(until(pane.welcome) - pane.started)
        finally:
            pane.close()
    return times


def restarts(home: Path, rounds: int) -> list[float]:
    pane = Pane(f"{BEFFROI} kiosk --supervised --max-crashes 100 --home {home}")
    times = []
    try:
        until(pane.welcome)
        for _ in range(rounds):
            until(pane.spare_ready)   # a kiosk that has run a few seconds, as in the hall
            old = pane.child()
            killed = time.perf_counter()
            os.kill(old, signal.SIGKILL)
            # A new app means the old screen was wiped already; then its welcome.
            until(lambda old=old: pane.child() not in (None, old) and pane.welcome())
            times.append(time.perf_counter() - killed)
    finally:
        pane.close()
    return times


def fill(home: Path, events: int, citizens: int) -> None:
    from benchmarks.bench_hub import fill as fill_journal
    with Terminal.open(home) as terminal:
        terminal.session(Principal.system()).agents.enroll("ops", "Julien Faure", "135790", "ops")
        fill_journal(terminal, events, citizens)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="kills and cold starts (default 8)")
    parser.add_argument("--full", action="store_true", help="30 rounds")
    args = parser.parse_args()
    rounds = 30 if args.full else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "borne"
        Terminal.init(home, "BORNE-BENCH", "Ville d'Angers").close()
        cold = cold_starts(home, rounds)
        back = restarts(home, rounds)
        big = Path(tmp) / "big"
        Terminal.init(big, "BORNE-BIG", "Ville d'Angers").close()
        fill(big, 100_000, 10_000)
        cold_big = cold_starts(big, max(3, rounds // 2))
        back_big = restarts(big, max(3, rounds // 2))

    def ms(values: list[float], p: float) -> str:
        return f"{percentile(values, p) * 1000:.0f} ms"

    print(table([
        ("kill -9 → fresh welcome p50", ms(back, 50), f"{ms(cold, 50)} (cold start)", "—"),
        ("kill -9 → fresh welcome max", ms(back, 100), f"{ms(cold, 100)} (cold start)", "< 2 s"),
        ("… 100,000-event home, p50", ms(back_big, 50), f"{ms(cold_big, 50)} (cold start)", "—"),
        ("… 100,000-event home, max", ms(back_big, 100), f"{ms(cold_big, 100)} (cold start)", "< 2 s"),
    ]))
    print(f"({rounds} kills, {rounds} cold starts; load average {os.getloadavg()[0]:.1f})")
    return 0 if max(back + back_big) < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
