"""Outbox benchmark: delivery rate against the back-office simulators (items/s),
with the simulator alone as the baseline measured in the same run (the same
requests posted straight to it, no outbox bookkeeping); incident end → fully
reconciled for 3 terminals × N offline démarches; the drill's total time.

    .venv/bin/python benchmarks/bench_outbox.py            # 3 × 1,000 démarches
    .venv/bin/python benchmarks/bench_outbox.py --full     # 3 × 10,000 démarches (the issue's size)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from benchmarks.common import table  # noqa: E402
from continuity import drill  # noqa: E402
from continuity.backoffice.simulator import Simulator  # noqa: E402
from continuity.backoffice.systems import SYSTEMS  # noqa: E402
from continuity.connectors import Connectors  # noqa: E402
from continuity.outbox import Outbox, Policy  # noqa: E402
from hub.demo import sample_fields  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402

AGENT = Principal.agent("bench")


async def serve(simulator: Simulator) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(simulator.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def fill(terminal: Terminal, n: int) -> None:
    rng = random.Random(1)
    session = terminal.session(AGENT)
    person = session.citizens.register(first_name="Jeanne", last_name="Martin", birth_date="1970-01-01",
                                       address="3 rue Pasteur", postcode="49000")
    with terminal.group():
        for _ in range(n):
            session.cases.open("signalement", person["id"], sample_fields("signalement", rng, person, drill.TODAY))


async def delivery(root: Path, n: int, concurrency: int) -> tuple[float, float]:
    """(outbox items/s, simulator-alone requests/s) for n items."""
    with Terminal.init(root / "terminal", "BENCH") as t:
        fill(t, n)
        items = Outbox(t).items()
        # Baseline: the same bodies posted straight to a fresh simulator, same concurrency.
        alone = Simulator(SYSTEMS["travaux"], root / "alone.db")
        runner, url = await serve(alone)
        gate = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:
            async def post(item) -> None:
                async with gate, http.post(f"{url}/v1/items", json={"key": item.key, "kind": item.kind,
                                                                    "payload": item.payload},
                                           headers={"Idempotency-Key": item.key}) as r:
                    await r.read()
            start = time.perf_counter()
            await asyncio.gather(*(post(i) for i in items))
            baseline = n / (time.perf_counter() - start)
        await runner.cleanup()
        alone.close()

        office = Simulator(SYSTEMS["travaux"], root / "office.db")
        runner, url = await serve(office)
        box = Outbox(t, policy=Policy(concurrency=concurrency))
        async with Connectors({"travaux": url}) as connectors:
            start = time.perf_counter()
            done = await box.drain(connectors)
            rate = n / (time.perf_counter() - start)
        assert done.sent == n and office.stats()["records"] == n
        await runner.cleanup()
        office.close()
    return rate, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="3 × 10,000 offline démarches")
    parser.add_argument("--items", type=int, default=2000, help="items delivered for the rate (default 2000)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-outbox-", dir=Path(__file__).resolve().parent.parent))
    demarches = 10_000 if args.full else 1_000
    rows = []
    try:
        in_flight = Policy().concurrency
        rate, baseline = asyncio.run(delivery(root / "rate", args.items, in_flight))
        rows.append((f"outbox delivery, {args.items:,} items, {in_flight} in flight",
                     f"{rate:,.0f} items/s ({rate / baseline:.2f}x)",
                     f"{baseline:,.0f} requests/s (simulator alone)", ">= 0.5x baseline"))
        small = drill.run(3, 20, 0.0, 0, root / "drill-small")
        rows.append(("drill 3 × 20, RATE 0", f"{small['total_s']:.1f} s total, reconciled in {small['reconcile_s']:.1f} s",
                     "-", "< 3 min in CI"))
        noisy = drill.run(3, 20, 0.33, 0, root / "drill-noisy")
        rows.append(("drill 3 × 20, RATE 0.33", f"{noisy['total_s']:.1f} s total, reconciled in {noisy['reconcile_s']:.1f} s",
                     f"{noisy['outbox']['redeliveries_deduplicated']} redeliveries deduplicated", "< 3 min in CI"))
        big = drill.run(3, demarches, 0.0, 0, root / "drill-big",
                        progress=lambda line: print(line, flush=True))
        assert big["converged"]
        steps = big["terminals"][0]["steps_s"]
        phases = big["reconcile_phases_s"]
        rows.append((f"incident end → reconciled, 3 × {demarches:,} (a process per terminal)",
                     f"{big['reconcile_s']:.1f} s ({big['outbox']['delivered']:,} items, {big['offline_acts']:,} acts)",
                     f"send {phases['send']:.1f} s, recover {phases['recover']:.1f} s (MAIRIE-01: verify"
                     f" {steps['verify']:.1f} s, drain {steps['drain']:.1f} s), last round {phases['converge']:.1f} s",
                     "< 60 s at 3 × 10,000"))
        rows.append((f"drill 3 × {demarches:,}, RATE 0", f"{big['total_s']:.1f} s total", "-", "-"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
