"""Fixtures for replication: a real SoR (aiohttp on 127.0.0.1, in a thread or
as the `beffroi sor serve` process), real terminals enrolled in it, and a real
SeaweedFS for the S3 blob store."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from aiohttp import web

from hub.terminal import Terminal
from replication.blobs import FileStore, S3Store
from replication.enrolment import enroll
from replication.index import Index, admin_keys, init_city, load_city
from replication.sor import make_app, make_runner
from replication.sync import Replicator
from tests.waiting import wait_until

VENV_BIN = Path(sys.executable).parent


class ThreadSoR:
    """The SoR app served from a background thread's event loop."""

    def __init__(self, home: Path | None, store, header_seconds: float = 15.0, body_seconds: float = 30.0,
                 app=None) -> None:
        """``app``: a callable making another app (a shared SoR's) instead of ``make_app(home, store)``."""
        self.home, self.store = home, store
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def up() -> None:
                made = app() if app else make_app(home, store, body_seconds=body_seconds)
                self.runner = make_runner(made, header_seconds)
                await self.runner.setup()
                site = web.TCPSite(self.runner, "127.0.0.1", 0)
                await site.start()
                self.port = self.runner.addresses[0][1]
            self.loop.run_until_complete(up())
            started.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self.runner.cleanup())

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_process_sor(home: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`beffroi sor serve --port 0` as a real process; returns it and its URL."""
    proc = subprocess.Popen([str(VENV_BIN / "beffroi"), "sor", "serve", "--home", str(home), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"SoR did not start: {line} {proc.stderr.read()}")
    return proc, line.strip().rsplit(" ", 1)[1]


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class SorAdmin:
    """What the city's admin does at the SoR's index (``self.index()``, the
    admin key folder in ``self.sor_home``): here and in the ops console's city."""

    sor_home: Path

    def index(self):
        return Index(self.sor_home)

    def invite(self, name: str) -> str:
        index = self.index()
        try:
            return index.invite(name)["code"]
        finally:
            index.close()

    def approve(self, key: str, fingerprint: str) -> None:
        index = self.index()
        try:
            index.approve(admin_keys(self.sor_home), key, fingerprint)
        finally:
            index.close()


class City(SorAdmin):
    """A SoR home, a served SoR and helpers to make enrolled terminals.
    ``db``: the city is one of a shared SoR on PostgreSQL (its admin folder and
    shares in ``sor_home``, as ``sor city add --out`` writes them)."""

    def __init__(self, root: Path, url: str, sor_home: Path, db: str | None = None, name: str | None = None) -> None:
        self.root, self.url, self.sor_home = root, url, sor_home
        self.db, self.name = db, name
        self.terminals: list[Terminal] = []

    def terminal(self, name: str, approve: bool = True) -> Terminal:
        """A terminal enrolled the way IT staff do it: an invitation, the
        enrolment, the admin's approval with the fingerprint the terminal showed."""
        t = Terminal.init(self.root / name, name)
        shown = asyncio.run(enroll(t, self.url, self.invite(name)))
        if approve:
            self.approve(t.id, shown["device_fingerprint"])
        self.terminals.append(t)
        return t

    def revoke(self, key: str) -> dict:
        index = self.index()
        try:
            return index.revoke(admin_keys(self.sor_home), self.public(), key)
        finally:
            index.close()

    def sync(self, t: Terminal, url: str | None = None):
        replicator = Replicator(t)
        try:
            return asyncio.run(replicator.sync(url or self.url))
        finally:
            replicator.close()

    def index(self):
        if self.db:
            from replication.cities import open_city
            return open_city(self.db, self.name)[1]
        return Index(self.sor_home)

    def public(self):
        if self.db:
            from replication.cities import open_city
            city, index = open_city(self.db, self.name)
            index.close()
            return city
        return load_city(self.sor_home)

    def close(self) -> None:
        for t in self.terminals:
            t.close()


@pytest.fixture
def sor_home(tmp_path: Path) -> Path:
    home = tmp_path / "sor"
    init_city(home, "Ville de Test", shares=3, threshold=2)
    return home


@pytest.fixture(params=["sqlite", "postgresql"])
def city(request, tmp_path: Path):
    """A served city, on each index back end: the single-city SoR (SQLite),
    and one city of a shared SoR (PostgreSQL, files for blobs)."""
    if request.param == "sqlite":
        home = request.getfixturevalue("sor_home")
        server = ThreadSoR(home, FileStore(home / "blobs"))
        kit = City(tmp_path, server.url, home)
    else:
        from replication.cities import add_city, city_url, make_shared_app
        db, home = request.getfixturevalue("pg_url"), tmp_path / "sor"
        add_city(db, "Ville de Test", 3, 2, home)
        server = ThreadSoR(None, None, app=lambda: make_shared_app(db, lambda _: FileStore(home / "blobs")))
        kit = City(tmp_path, city_url(server.url, "Ville de Test"), home, db, "Ville de Test")
    yield kit
    kit.close()
    server.stop()


# --- SeaweedFS ---------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """A real SeaweedFS (`weed mini`) on 127.0.0.1, free ports; yields its S3 endpoint."""
    folder = tmp_path_factory.mktemp("seaweed")
    p = free_ports(13)
    cmd = [str(VENV_BIN / "weed"), "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={folder}",
           f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
           f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}",
           f"-admin.port={p[8]}", f"-admin.port.grpc={p[9]}", f"-s3.port.iceberg={p[10]}", f"-s3.port.lance={p[11]}",
           "-admin.ui=false", "-webdav=false", "-master.telemetry=false"]
    log = open(folder / "weed.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    endpoint = f"http://127.0.0.1:{p[6]}"
    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError("SeaweedFS exited")
        try:
            S3Store(endpoint, "probe").put("ready", b"1")
            return True
        except Exception:  # not answering yet (connection refused, bucket not ready)
            return False
    try:
        wait_until(ready, within=60, what="SeaweedFS to answer", every=0.5)
    except AssertionError as exc:
        proc.kill()
        pytest.fail(f"SeaweedFS did not start ({exc}): {(folder / 'weed.log').read_text(errors='replace')[-2000:]}")
    yield endpoint
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


# --- PostgreSQL ----------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres():
    """One private PostgreSQL server per pytest worker, stopped at the end."""
    from tests.postgres import PostgresServer
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """A fresh database of that server for one test."""
    url = postgres.database()
    yield url
    postgres.drop(url)
