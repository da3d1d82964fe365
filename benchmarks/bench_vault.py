"""Vault benchmark: one command, one run, one table.

    .venv/bin/python benchmarks/bench_vault.py [--runs N] [--documents N] [--doc-kib K] [--full]

- deposit at T1 (hub: seal, durable write, event) and send (sync to the SoR),
  then first open at T2 (sync, fetch from the SoR, verify, keep, decrypt),
  for 1 MiB and 10 MiB documents, p50/p95, against copying the same file
  through the SoR's blob store unencrypted (put, then get) in the same run;
- restore of a home holding N documents (default 1,000), time and MB/s,
  against reading the same blobs out of the blob store unencrypted.

The SoR runs as its own process (the real server, filesystem store, no
litestream) on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import percentile, table  # noqa: E402
from hub.roles import Principal  # noqa: E402
from hub.terminal import Terminal  # noqa: E402
from replication.blobs import FileStore  # noqa: E402
from replication.enrolment import enroll, restore  # noqa: E402
from replication.index import Index, admin_keys, init_city  # noqa: E402
from replication.sync import Replicator  # noqa: E402

MiB = 1024 * 1024


def start_sor(home: Path) -> tuple[subprocess.Popen, str]:
    code = ("import asyncio, sys; from replication.sor import serve; "
            "asyncio.run(serve(sys.argv[1], '127.0.0.1', 0, None, litestream=False))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(home)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return proc, proc.stdout.readline().strip().rsplit(" ", 1)[1]


def terminal(root: Path, name: str, url: str, sor_home: Path) -> Terminal:
    t = Terminal.init(root / name, name)
    t.config["vault_quota_mib"] = 100_000
    index = Index(sor_home)
    try:
        code = index.invite(name)["code"]
    finally:
        index.close()
    shown = asyncio.run(enroll(t, url, code))
    index = Index(sor_home)
    try:
        index.approve(admin_keys(sor_home), t.id, shown["device_fingerprint"])
    finally:
        index.close()
    t.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
    return t


def sync(t: Terminal) -> None:
    replicator = Replicator(t)
    try:
        asyncio.run(replicator.sync())
    finally:
        replicator.close()


def document(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)   # incompressible, like a scan


def deposit_and_open(t1: Terminal, t2: Terminal, size: int, runs: int, store: FileStore) -> dict[str, list[float]]:
    desk1, desk2 = t1.session(Principal.agent("agent")), t2.session(Principal.agent("agent"))
    out: dict[str, list[float]] = {"deposit": [], "open": [], "put": [], "get": []}
    for run in range(runs):
        person = desk1.citizens.register(first_name="Jean", last_name=f"Martin{size}x{run}", birth_date="1970-01-01")
        content = document(size)
        started = time.perf_counter()
        doc = desk1.vault.deposit(person["id"], "scan.pdf", content, "domicile")
        sync(t1)
        out["deposit"].append(time.perf_counter() - started)
        sync(t2)
        started = time.perf_counter()
        assert desk2.vault.read(doc["id"]) == content
        out["open"].append(time.perf_counter() - started)
        # baseline: the same bytes through the blob store, unencrypted, no HTTP
        started = time.perf_counter()
        store.put(f"baseline/{size}-{run}", content)
        out["put"].append(time.perf_counter() - started)
        started = time.perf_counter()
        assert store.get(f"baseline/{size}-{run}") == content
        out["get"].append(time.perf_counter() - started)
    return out


def ms(samples: list[float], p: float) -> str:
    return f"{percentile(samples, p) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--doc-kib", type=int, default=64)
    parser.add_argument("--full", action="store_true", help="30 runs, 1,000 documents of 256 KiB")
    args = parser.parse_args()
    if args.full:
        args.runs, args.doc_kib = 30, 256
    root = Path(tempfile.mkdtemp(prefix="bench-vault-"))
    sor_home = root / "sor"
    init_city(sor_home, "Ville de Bench", shares=3, threshold=2)
    proc, url = start_sor(sor_home)
    rows = []
    try:
        t1, t2 = terminal(root, "T1", url, sor_home), terminal(root, "T2", url, sor_home)
        store = FileStore(root / "baseline-store")
        for size in (MiB, 10 * MiB):
            print(f"{size // MiB} MiB documents, {args.runs} runs…", file=sys.stderr, flush=True)
            got = deposit_and_open(t1, t2, size, args.runs, store)
            label = f"{size // MiB} MiB"
            rows += [(f"deposit + send, {label}, p50", ms(got["deposit"], 50), ms(got["put"], 50) + " (put)", "-"),
                     (f"deposit + send, {label}, p95", ms(got["deposit"], 95), ms(got["put"], 95) + " (put)", "-"),
                     (f"first open at T2, {label}, p50", ms(got["open"], 50), ms(got["get"], 50) + " (get)", "-"),
                     (f"first open at T2, {label}, p95", ms(got["open"], 95), ms(got["get"], 95) + " (get)", "-")]

        print(f"restore: {args.documents} documents of {args.doc_kib} KiB…", file=sys.stderr, flush=True)
        desk1 = t1.session(Principal.agent("agent"))
        person = desk1.citizens.register(first_name="Jeanne", last_name="Restore", birth_date="1980-01-01")
        for _ in range(args.documents):
            desk1.vault.deposit(person["id"], "scan.pdf", document(args.doc_kib * 1024), "autre")
        started = time.perf_counter()
        sync(t1)
        send = time.perf_counter() - started
        shares = [p.read_text() for p in sorted((sor_home / "shares").glob("share-*.txt"))[:2]]
        started = time.perf_counter()
        info = asyncio.run(restore(url, shares, root / "restored", "RESTORED"))
        took = time.perf_counter() - started
        assert not info["refused"], info["refused"][:3]
        with Terminal.open(root / "restored") as restored:
            assert restored.state_hash() == t1.state_hash()
        megabytes = info["document_bytes"] / 1e6
        started = time.perf_counter()
        sor_store = FileStore(sor_home / "blobs")
        out = root / "plain-copy"
        out.mkdir()
        copied = 0
        for key in sor_store.keys("vault/"):
            data = sor_store.get(key)
            (out / key.rsplit("/", 1)[1]).write_bytes(data)
            copied += len(data)
        base = time.perf_counter() - started
        rows += [(f"send {args.documents} documents (one sync)", f"{send:.2f} s",
                  "-", "-"),
                 (f"restore: {info['documents']} documents, {megabytes:.0f} MB + {info['events']} events",
                  f"{took:.2f} s ({megabytes / took:.1f} MB/s)",
                  f"{base:.2f} s ({copied / 1e6 / base:.1f} MB/s, plain copy)", "-")]
        t1.close()
        t2.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nBeffroi vault benchmark — SoR process on loopback, filesystem store ({time.strftime('%Y-%m-%d')})")
    print(table(rows))


if __name__ == "__main__":
    main()
