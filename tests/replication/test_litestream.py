"""`beffroi sor serve` with litestream: supervised, lag in health, the index
restored after loss, and no plaintext in any byte the SoR holds."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import urllib.request

import pytest

from hub.demo import populate
from hub.roles import Principal
from replication import auth, litestream
from replication.index import admin_keys
from tests.conftest import run_cli
from tests.waiting import wait_until

from .conftest import City, start_process_sor, stop_process


def health(url: str, sor_home) -> dict:
    """The details of /v1/health, as IT staff get them: signed with the admin key
    (a stranger learns only that the SoR is alive)."""
    request = urllib.request.Request(url + "/v1/health",
                                     headers=auth.sign_headers("admin", admin_keys(sor_home).sign, "GET", "/v1/health"))
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def wait_for(check, timeout: float = 20.0, what: str = "condition"):
    return wait_until(check, within=timeout, what=what, every=0.1)


def replica_segments(sor_home, out) -> int | None:
    """How many segments the litestream replica would bring back now (a real
    restore into a scratch file, beside the running SoR)."""
    out.unlink(missing_ok=True)
    done = subprocess.run([litestream.binary(), "restore", "-config", str(sor_home / "litestream.yml"), "-o", str(out),
                           str((sor_home / "index.db").resolve())], capture_output=True, env=litestream.environment(),
                          timeout=60)
    if done.returncode != 0 or not out.exists():
        return None
    with sqlite3.connect(out) as conn:
        return conn.execute("SELECT count(*) FROM segments").fetchone()[0]


def test_litestream_is_supervised_and_the_index_comes_back(tmp_path, sor_home):
    proc, url = start_process_sor(sor_home)
    city = City(tmp_path, url, sor_home)
    try:
        t1 = city.terminal("T1")
        t1.session(Principal.system()).citizens.register(
            first_name="Jean", last_name="Martin", birth_date="1970-01-01")
        city.sync(t1)
        state = wait_for(lambda: (h := health(url, sor_home)["litestream"])["running"] and h["lag_seconds"] == 0 and h,
                         what="litestream to catch up")
        first_pid = state["pid"]
        os.kill(first_pid, signal.SIGKILL)       # litestream dies: the SoR starts it again
        wait_for(lambda: (h := health(url, sor_home)["litestream"])["restarts"] >= 1 and h["running"],
                 what="litestream restart")
        assert health(url, sor_home)["litestream"]["pid"] != first_pid
        t1.session(Principal.system()).citizens.register(
            first_name="Jean", last_name="Petit", birth_date="1970-01-01")
        city.sync(t1)
        wait_for(lambda: health(url, sor_home)["litestream"]["lag_seconds"] == 0, what="replica to catch up after restart")
        segments = health(url, sor_home)["segments"]
        wait_for(lambda: replica_segments(sor_home, tmp_path / "probe.db") == segments, what="the replica's last frames")
        litestream_pid = health(url, sor_home)["litestream"]["pid"]
        os.kill(proc.pid, signal.SIGKILL)         # the SoR dies hard: its litestream must not outlive it
        proc.wait(10)
        wait_for(lambda: not os.path.exists(f"/proc/{litestream_pid}") or
                 open(f"/proc/{litestream_pid}/stat").read().split()[2] == "Z", what="litestream to stop")
    finally:
        stop_process(proc)
    for suffix in ("", "-wal", "-shm"):
        (sor_home / f"index.db{suffix}").unlink(missing_ok=True)
    result = run_cli("sor", "restore", "--json", home=sor_home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["segments"] == segments
    again = run_cli("sor", "restore", home=sor_home)
    assert again.returncode == 2 and "--force" in again.stderr
    proc, url = start_process_sor(sor_home, "--no-litestream")
    try:
        city.url = url
        t2 = city.terminal("T2")
        city.sync(t2)
        assert t2.state_hash() == t1.state_hash()
    finally:
        city.close()
        stop_process(proc)


def needles(t) -> set[bytes]:
    """Every citizen name, tracking code and form value the demo typed."""
    found: set[str] = set()
    for first, last, email, phone, address in t.conn.execute(
            "SELECT first_name, last_name, email, phone, address FROM citizens"):
        found.update([first, last, email or "", phone or "", address or ""])
    for code, fields in t.conn.execute("SELECT tracking_code, fields FROM cases"):
        found.add(code)
        found.update(str(v) for v in json.loads(fields).values())
    # short values (a postcode, "oui") would match random ciphertext by chance
    return {s.encode() for s in found if len(s) >= 6}


@pytest.mark.slow
def test_no_plaintext_reaches_any_byte_the_sor_holds(tmp_path, sor_home):
    proc, url = start_process_sor(sor_home)
    city = City(tmp_path, url, sor_home)
    try:
        t1, t2 = city.terminal("T1"), city.terminal("T2")
        populate(t1, citizens=40)
        city.sync(t1), city.sync(t2)
        assert t2.state_hash() == t1.state_hash()
        wait_for(lambda: health(url, sor_home)["litestream"]["lag_seconds"] == 0, what="replica")
        segments = health(url, sor_home)["segments"]
        wait_for(lambda: replica_segments(sor_home, tmp_path / "probe.db") == segments, what="the replica's last frames")
        (tmp_path / "probe.db").unlink()
        words = needles(t1)
        assert len(words) > 100
        terminal_bytes = b"".join(p.read_bytes() for p in t1.home.glob("journal.db*"))
        assert sum(w in terminal_bytes for w in words) > len(words) // 2     # the search would see a leak
        files = [p for p in sor_home.rglob("*") if p.is_file() and p.parent.name not in ("admin", "shares")]
        assert any(p.parts[-2] != "blobs" and "replica" in p.parts for p in files)   # litestream replica included
        leaks = []
        for path in files:
            data = path.read_bytes()
            leaks += [(path.name, w) for w in words if w in data]
        assert not leaks, leaks[:10]
    finally:
        city.close()
        stop_process(proc)


def test_litestream_replica_in_s3_brings_the_index_back(tmp_path, sor_home, seaweed):
    replica = f"{seaweed}/litestream{os.getpid()}/index"
    proc, url = start_process_sor(sor_home, "--replica", replica)
    city = City(tmp_path, url, sor_home)
    try:
        t1 = city.terminal("T1")
        t1.session(Principal.system()).citizens.register(first_name="Jean", last_name="Martin", birth_date="1970-01-01")
        city.sync(t1)
        state = health(url, sor_home)["litestream"]
        assert state["running"] and state["replica"] == "s3" and state["lag_seconds"] is None
        segments = health(url, sor_home)["segments"]
        wait_for(lambda: replica_segments(sor_home, tmp_path / "probe.db") == segments, what="the S3 replica")
    finally:
        city.close()
        stop_process(proc)
    log = (sor_home / "litestream.log").read_text(errors="replace")
    assert "RootCAs" not in log
    for suffix in ("", "-wal", "-shm"):
        (sor_home / f"index.db{suffix}").unlink(missing_ok=True)
    result = run_cli("sor", "restore", "--replica", replica, "--json", home=sor_home)
    assert result.returncode == 0, result.stderr + log[-2000:]
    assert json.loads(result.stdout)["segments"] == segments
