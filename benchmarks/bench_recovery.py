"""Recovery by itself and back-office reachability, with real processes: the
SoR (`beffroi sor serve`), the four simulators (`beffroi backoffice serve`,
told to go down through their fault switch) and `beffroi sync --watch` at its
default settings.

    .venv/bin/python benchmarks/bench_recovery.py          # 500 offline reports
    .venv/bin/python benchmarks/bench_recovery.py --full   # 5,000 offline reports

Baselines, measured in the same run:
- every back office down → degraded: the SoR killed → degraded, the
  detection path that existed before (same watcher, same settings);
- end order applied → online by itself: applying the declare order at the
  same terminal (an order's verification and mode change, no recovery), and
  the same number of items drained by hand (`beffroi outbox deliver --drain`)
  on a twin terminal (the delivery alone).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_continuity import BIN, beffroi, city, fill, start, stop, until  # noqa: E402
from benchmarks.common import table  # noqa: E402
from hub.terminal import Terminal  # noqa: E402


def mode_of(home: Path) -> str:
    with Terminal.open(home) as t:
        return t.mode().name


def offices(root: Path, homes: list[Path]) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([str(BIN / "beffroi"), "backoffice", "serve", "--dir", str(root / "bo"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline() for _ in range(5)]
    if not lines[-1].startswith("URLs written to"):
        proc.kill()
        raise RuntimeError(f"back offices did not start: {lines}")
    urls = json.loads((root / "bo" / "backoffice.json").read_text())
    for home in homes:
        for name, url in urls.items():
            beffroi("outbox", "connect", name, url, "--home", str(home))
    return proc, urls


def down(urls: dict[str, str], is_down: bool) -> None:
    for url in urls.values():
        request = urllib.request.Request(f"{url}/v1/faults", data=json.dumps({"down": is_down}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=10).close()


def reachability(root: Path) -> list[tuple[str, str, str, str]]:
    sor, sor_proc, url, (home,) = city(root / "reach", ["MAIRIE-01"])
    bo_proc, urls = offices(root / "reach", [home])
    watcher = subprocess.Popen([str(BIN / "beffroi"), "sync", "--watch", "--home", str(home)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)   # a first round with everything up
        down(urls, True)
        offices_down = until(lambda: mode_of(home) == "degraded", within=60, every=0.05)
        down(urls, False)
        offices_back = until(lambda: mode_of(home) == "online", within=60, every=0.05)
        stop(sor_proc)
        sor_down = until(lambda: mode_of(home) == "degraded", within=60, every=0.05)
        port = int(url.rsplit(":", 1)[1])
        sor_proc, _ = start("sor", "serve", "--home", str(sor), "--port", str(port), "--no-litestream")
        until(lambda: mode_of(home) == "online", within=60, every=0.05)
    finally:
        stop(watcher)
        stop(bo_proc)
        stop(sor_proc)
    return [("every back office down → degraded (sync --watch defaults)", f"{offices_down:.1f} s",
             f"{sor_down:.1f} s (SoR killed)", "< 10 s"),
            ("back offices answer again → online", f"{offices_back:.1f} s", "—", "—")]


def recovery(root: Path, reports: int) -> list[tuple[str, str, str, str]]:
    sor, sor_proc, url, homes = city(root / "recovery", ["MAIRIE-01", "MAIRIE-02"])
    bo_proc, urls = offices(root / "recovery", homes)
    usb = root / "recovery" / "usb"
    usb.mkdir()
    try:
        declared = json.loads(beffroi("incident", "declare", "--admin", str(sor), "--reason", "bench",
                                      "--range", "MAIRIE-01=1-50000", "--range", "MAIRIE-02=50001-100000",
                                      "--out", str(usb / "declare.json"), "--json").stdout)
        t0 = time.perf_counter()
        assert beffroi("incident", "apply", str(usb / "declare.json"), "--home", str(homes[0])).returncode == 0
        apply_declare = time.perf_counter() - t0
        for home in homes:
            if home != homes[0]:
                assert beffroi("incident", "apply", str(usb / "declare.json"), "--home", str(home)).returncode == 0
            fill(home, reports + 2, seed=len(str(home)))
        beffroi("incident", "end", "--admin", str(sor), "--reason", "bench", "--ends", declared["order"],
                "--out", str(usb / "end.json"))
        t0 = time.perf_counter()
        done = beffroi("incident", "apply", str(usb / "end.json"), "--json", "--home", str(homes[0]))
        by_itself = time.perf_counter() - t0
        result = json.loads(done.stdout)
        assert result["mode"] == "online", result
        # The twin: the same number of items, drained by hand once its end order is applied
        # with the back offices down (so the automatic pass delivers nothing).
        down(urls, True)
        beffroi("incident", "apply", str(usb / "end.json"), "--home", str(homes[1]), "--json")
        down(urls, False)
        t0 = time.perf_counter()
        beffroi("outbox", "deliver", "--drain", "600", "--home", str(homes[1]))
        by_hand = time.perf_counter() - t0
        with Terminal.open(homes[0]) as t:
            sent = t.conn.execute("SELECT count(*) FROM outbox WHERE state='sent'").fetchone()[0]
    finally:
        stop(bo_proc)
        stop(sor_proc)
    return [(f"end order applied → online by itself ({sent} items delivered, `incident apply`)",
             f"{by_itself:.2f} s", f"{apply_declare:.2f} s (declare order, no recovery); "
             f"{by_hand:.2f} s (same items, `outbox deliver --drain`)", "—")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="5,000 offline reports per terminal")
    args = parser.parse_args()
    reports = 5_000 if args.full else 500
    root = Path(tempfile.mkdtemp(prefix="beffroi-bench-recovery-"))
    rows = []
    try:
        for what, step in (("reachability", lambda: reachability(root)), ("recovery", lambda: recovery(root, reports))):
            print(f"{what}…", file=sys.stderr, flush=True)
            rows += step()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(table(rows))
    print(json.dumps({"offline_reports_per_terminal": reports}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
