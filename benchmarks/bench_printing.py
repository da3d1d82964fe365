"""Printing: from a payment taken to its receipt accepted by CUPS, against
`lp` of the same PDF in the same run; the receipt's size and render time.

A private cupsd (the tests' kind) with one cups-pdf queue, held stopped
(cupsdisable) while measuring so that CUPS accepts jobs without ghostscript
rendering them on the same two cores; every job is cancelled at the end.

    .venv/bin/python benchmarks/bench_printing.py [--full]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile, table  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402
from printing import cups as cupsio  # noqa: E402
from printing import printers  # noqa: E402
from printing.cupsd import PrivateCups, available  # noqa: E402
from printing.spool import Spool  # noqa: E402
from tui import i18n  # noqa: E402
from tui.receipt import payer_of, render_receipt  # noqa: E402


def ms(samples: list[float], p: float) -> str:
    return f"{percentile([s * 1000 for s in samples], p):.1f} ms"


def main(argv: list[str]) -> int:
    why = available()
    if why:
        print(f"bench_printing: skipped: {why}", file=sys.stderr)
        return 0
    rounds = 300 if "--full" in argv else 40
    work = Path(tempfile.mkdtemp(prefix="beffroi-bench-print-"))
    work.chmod(0o755)
    cupsd = PrivateCups(work / "cups").start()
    queue = "BENCH-RECUS"
    try:
        cupsd.add_pdf_queue(queue, work / "printed")
        cupsd.run("cupsdisable", queue)
        i18n.set_lang("fr")
        with Terminal.init(work / "home", "MAIRIE-01", "Ville d'Angers") as terminal:
            terminal.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
            desk = terminal.session(Principal.agent("agent"))
            citizen = desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12")
            printers.set_printer(terminal.home, "receipts", queue, cupsd.socket)
            spool = Spool(terminal.home)
            render, accepted, sizes, lp, raw = [], [], [], [], []
            sample = None
            for i in range(rounds):
                case = desk.cases.open("facture-municipale", citizen["id"], {
                    "bill_kind": "cantine", "bill_reference": f"FAC-2026-{i:05d}", "amount_cents": "4550"})
                payment = desk.payments.take(case["id"], 4550, "cash")
                start = time.perf_counter()   # the payment is taken: the desk's part begins
                case = desk.cases.get(case["id"])
                t0 = time.perf_counter()
                pdf = render_receipt(terminal, payment, case, payer_of(desk, case))
                render.append(time.perf_counter() - t0)
                sizes.append(len(pdf))
                job = spool.submit("receipts", pdf, f"Reçu {payment['receipt_number']}", kind="receipt")
                while spool.get(job["id"])["cups_job"] is None:
                    spool.pump()
                accepted.append(time.perf_counter() - start)
                sample = spool.pdf_path(job["id"])
                t0 = time.perf_counter()
                subprocess.run(["lp", "-h", cupsd.socket, "-d", queue, "-t", "baseline", str(sample)],
                               check=True, capture_output=True)
                lp.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                cupsio.print_file(cupsd.socket, queue, sample, "baseline")
                raw.append(time.perf_counter() - t0)
        rows = [
            ("baseline: `lp` of the same PDF, p50", "", ms(lp, 50), ""),
            ("baseline: `lp` of the same PDF, p95", "", ms(lp, 95), ""),
            ("baseline: pycups printFile alone, p50", "", ms(raw, 50), ""),
            ("payment taken → job accepted by CUPS, p50", ms(accepted, 50), "", ""),
            ("payment taken → job accepted by CUPS, p95", ms(accepted, 95), "", "< 1 s"),
            ("receipt PDF render, p50", ms(render, 50), "", ""),
            ("receipt PDF render, p95", ms(render, 95), "", ""),
            ("receipt PDF size", f"{percentile(sizes, 50) / 1024:.1f} KiB", "", ""),
        ]
        print(f"{rounds} receipts, one private cupsd on a Unix socket, queue stopped while measuring")
        print(table(rows))
    finally:
        subprocess.run(["cancel", "-h", cupsd.socket, "-a", queue], capture_output=True)
        cupsd.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
