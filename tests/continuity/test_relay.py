"""The office relay (3 terminals converge through it while the SoR is down;
once the SoR is back it holds every segment exactly once, and the relay never
saw plaintext), degraded detection in `beffroi sync --watch`, and incident
orders published to the SoR and taken from its feed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import socket
import subprocess
from pathlib import Path

from continuity.relay import init_relay
from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal
from replication.blobs import FileStore
from replication.local import Local
from replication.sync import Replicator
from tests.conftest import run_cli
from tests.replication.conftest import VENV_BIN, ThreadSoR, stop_process
from tests.waiting import wait_until

from .conftest import agent_session


def serve_one(terminal: Terminal, rng: random.Random, name: str) -> dict:
    desk = terminal.session(Principal.agent("agent"))
    citizen = desk.citizens.register(first_name=name, last_name="Martin", birth_date="1990-01-02",
                                     address="8 place du Ralliement")
    desk.cases.open("signalement", citizen["id"], sample_fields("signalement", rng, citizen, dt.date.today()))
    return citizen


def sync(t: Terminal, url: str):
    replicator = Replicator(t)
    try:
        return asyncio.run(replicator.sync(url))
    finally:
        replicator.close()


def held_segments(t: Terminal) -> set[tuple[str, int, str]]:
    local = Local(t.home)
    try:
        return {tuple(r) for r in local.conn.execute("SELECT origin, first, hash FROM segments")}
    finally:
        local.close()


def test_three_terminals_converge_through_a_relay_then_the_sor_gets_every_segment_once(city, tmp_path):
    rng = random.Random(4)
    terminals = [city.terminal(f"MAIRIE-0{i}") for i in (1, 2, 3)]
    for t in terminals:
        agent_session(t)
        serve_one(t, rng, f"Avant{t.name[-1]}")
        city.sync(t)
    relay_home = tmp_path / "relay"
    info = init_relay(relay_home, terminals[0].home)
    assert info["devices"] == 3 and not (relay_home / "admin").exists()
    relay = ThreadSoR(relay_home, FileStore(relay_home / "blobs"))
    city.server.stop()   # the city's SoR goes down
    names = {}
    try:
        for t in terminals:
            names[t.name] = serve_one(t, rng, f"Pendant{t.name[-1]}")
        for _ in range(2):   # two rounds: each terminal pushes, then pulls what the others pushed
            for t in terminals:
                sync(t, relay.url)
        hashes = {t.state_hash() for t in terminals}
        assert len(hashes) == 1
        # a citizen served at counter 1 is found at counter 2
        found = agent_session(terminals[1]).citizens.search("Pendant1 Martin")
        assert [c["id"] for c in found] == [names["MAIRIE-01"]["id"]]
        # the relay is blind: no name, no tracking code in what it stored
        stored = b"".join(p.read_bytes() for p in (relay_home / "blobs").rglob("*") if p.is_file())
        stored += (relay_home / "index.db").read_bytes()
        for t in terminals:
            for word in (b"Pendant", b"Martin", b"Ralliement"):
                assert word not in stored
            code = t.conn.execute("SELECT tracking_code FROM cases ORDER BY opened_hlc DESC LIMIT 1").fetchone()[0]
            assert code.encode() not in stored
    finally:
        relay.stop()
    # the SoR is back (same home): every terminal syncs with it
    city.server = ThreadSoR(city.sor_home, FileStore(city.sor_home / "blobs"))
    city.url = city.server.url
    for _ in range(2):
        for t in terminals:
            city.sync(t)
    index = city.index()
    try:
        at_sor = {tuple(r) for r in index.conn.execute("SELECT origin, first, hash FROM segments")}
        rows = index.conn.execute("SELECT count(*) FROM segments").fetchone()[0]
        forks = index.conn.execute("SELECT count(*) FROM forks").fetchone()[0]
    finally:
        index.close()
    held = set().union(*(held_segments(t) for t in terminals))
    assert at_sor == held and rows == len(held) and forks == 0
    assert len({t.state_hash() for t in terminals}) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sor_process(home: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(VENV_BIN / "beffroi"), "sor", "serve", "--home", str(home), "--port", str(port),
                             "--no-litestream"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "listening on" in proc.stdout.readline()
    return proc


def mode_of(home: Path) -> str:
    with Terminal.open(home) as t:
        return t.mode().name


def test_sync_watch_goes_degraded_when_the_sor_dies_and_back_online_then_takes_an_order(tmp_path, sor_home):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sor = sor_process(sor_home, port)
    home = tmp_path / "t1"
    Terminal.init(home, "MAIRIE-01").close()
    code = json.loads(run_cli("sor", "invite", "MAIRIE-01", "--json", home=sor_home).stdout)["code"]
    enrolled = run_cli("enroll", "--sor", url, "--invite", code, "--json", home=home)
    assert enrolled.returncode == 0, enrolled.stderr
    fingerprint = json.loads(enrolled.stdout)["device_fingerprint"]
    assert run_cli("sor", "approve", "MAIRIE-01", "--fingerprint", fingerprint, home=sor_home).returncode == 0
    watcher = subprocess.Popen([str(VENV_BIN / "beffroi"), "sync", "--watch", "--home", str(home)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Terminal.open(home) as t:
            agent_session(t)   # something to push
        wait_until(lambda: Local(home).get("cursor"), what="a first sync round")
        stop_process(sor)
        # default settings (sync every 5 s, 3 failed probes backed off): degraded within 10 s
        wait_until(lambda: mode_of(home) == "degraded", within=10, what="degraded mode")
        sor = sor_process(sor_home, port)
        wait_until(lambda: mode_of(home) == "online", within=15, what="back online")
        # an order published to the SoR reaches the terminal through its sync
        done = run_cli("incident", "declare", "--admin", str(sor_home), "--reason", "rançongiciel",
                       "--range", "MAIRIE-01=1-99", "--sor", url, "--json")
        assert done.returncode == 0, done.stderr
        order = json.loads(done.stdout)
        assert order["published"] is True
        wait_until(lambda: mode_of(home) == "isolated", within=15, what="the published order applied")
        with Terminal.open(home) as t:
            timeline = [(e["mode"], e["actor"]) for e in t.session(Principal.system()).modes.timeline()]
            assert t.mode().order_id == order["order"] and t.mode().register_first == 1
        assert timeline == [("degraded", "system:beffroi"), ("online", "system:beffroi"),
                            ("isolated", "system:beffroi")]
        # published twice: the SoR keeps it once
        again = run_cli("incident", "declare", "--admin", str(sor_home), "--reason", "x", "--sor", url,
                        "--scope", "terminals:MAIRIE-09")
        assert again.returncode == 0
    finally:
        watcher.terminate()
        watcher.wait(10)
        stop_process(sor)
