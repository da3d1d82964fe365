"""A private PostgreSQL server for tests and benchmarks: the Debian package's
``initdb``/``pg_ctl`` in a temporary folder, listening on a free loopback port
with its unix socket inside that folder, so several pytest-xdist workers (and
other helpers' runs) each get their own and nothing touches a system cluster.

PostgreSQL refuses to run as root: under root the folder goes to the
``postgres`` user the Debian package creates, and the server runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.waiting import wait_until


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `bash scripts/bootstrap` as root "
                           "(scripts/debian-packages lists postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``start()`` runs initdb then pg_ctl start -w; ``stop()`` stops it
    (fast shutdown) and removes the folder; ``database()`` makes a fresh one."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="beffroi-pg-"))
        self.user = "postgres" if os.geteuid() == 0 else None
        self.port = _free_port()
        self.data, self.sockets = self.root / "data", self.root / "run"

    def _run(self, *args: str) -> None:
        subprocess.run([str(self.bin / args[0]), *args[1:]], check=True, capture_output=True, user=self.user,
                       cwd=self.root)

    def start(self) -> PostgresServer:
        self.sockets.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "beffroi", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        # fsync off: a test server's durability is not under test (the SoR's is: its
        # acknowledgement waits for COMMIT, which survives the SoR process's kill -9).
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200 -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w",
                  "-t", "60", "start")
        wait_until(self._answers, within=30, what="PostgreSQL to accept connections")
        return self

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def url(self, database: str) -> str:
        return f"postgresql://beffroi@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "t") -> str:
        """A new empty database (from template0: nothing another test left)."""
        name = f"{prefix}_{secrets.token_hex(6)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def recreate(self, url: str) -> None:
        """Drop the database and make it again, empty (a lost index)."""
        self.drop(url)
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}" TEMPLATE template0')

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
