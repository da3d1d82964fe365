"""Every benchmark, one after the other, each printing its table against the
baseline it measures in the same run:

    .venv/bin/python -m benchmarks            # default sizes (minutes)
    .venv/bin/python -m benchmarks --full     # the issues' full sizes (much longer)
    .venv/bin/python -m benchmarks hub api    # only some areas
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AREAS = ["hub", "replication", "api", "hostile", "card", "tui", "printing", "vault", "kiosk", "continuity", "outbox", "ops",
         "recovery", "shared"]


def main(argv: list[str]) -> int:
    full = "--full" in argv
    areas = [a for a in argv if a != "--full"] or AREAS
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        print(f"unknown area(s) {', '.join(unknown)}; choose among {', '.join(AREAS)}", file=sys.stderr)
        return 2
    failed = []
    for area in areas:
        print(f"\n=== {area} ===", flush=True)
        result = subprocess.run([sys.executable, str(HERE / f"bench_{area}.py"), *(["--full"] if full else [])])
        if result.returncode:
            failed.append(area)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
