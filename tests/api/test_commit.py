"""Group commit: concurrent writes share one transaction, each is durable once
answered, and a refused write in a group rolls back alone."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from api.commit import Committer
from hub.errors import FormErrors
from hub.roles import Principal
from hub.terminal import Terminal

REPORT = {"category": "eclairage", "location": "47.47,-0.55", "description": "Lampadaire éteint"}


def test_a_refused_write_rolls_back_alone(home):
    with Terminal.open(home) as t:
        committer = Committer(t)
        kiosk = Principal.kiosk("api:test")

        def good():
            return t.session(kiosk).cases.open("signalement", None, REPORT)["id"]

        def bad():
            return t.session(kiosk).cases.open("signalement", None, {**REPORT, "category": "licorne"})

        def half_written():
            # writes an event, then fails inside the same savepoint: nothing of it may stay
            with t.writing() as w:
                w.record(kiosk, "case.noted", "case:X", {"id": "X", "note_id": "N", "text": "x"})
                raise RuntimeError("disk says no")

        async def run():
            return await asyncio.gather(*(committer.run(f) for f in (good, bad, half_written, good)),
                                        return_exceptions=True)
        outcomes = asyncio.run(run())
        committer.close()
        assert isinstance(outcomes[1], FormErrors) and isinstance(outcomes[2], RuntimeError)
        assert all(isinstance(o, str) for o in (outcomes[0], outcomes[3]))
    with Terminal.open(home) as t:
        assert t.journal.count() == 2
        assert {r[0] for r in t.conn.execute("SELECT id FROM cases")} == {outcomes[0], outcomes[3]}
        assert t.verify() is None
        before = t.state_hash()
        t.rebuild()
        assert t.state_hash() == before


def test_concurrent_posts_are_grouped_and_all_stored(server, api_keys):
    async def flood(n: int) -> list[int]:
        async with aiohttp.ClientSession() as http:
            async def one(i: int) -> int:
                form = {"api_key": api_keys["kiosk"], "service_code": "signalement", "lat": "47.4", "long": "-0.5",
                        "attribute[category]": "autre", "description": f"report {i}"}
                async with http.post(f"{server.url}/open311/v2/requests.json", data=form) as r:
                    assert r.status == 201, await r.text()
                    return (await r.json())[0]["service_request_id"]
            return await asyncio.gather(*(one(i) for i in range(n)))
    ids = asyncio.run(flood(200))
    assert len(set(ids)) == 200
    with Terminal.open(server.home) as t:
        assert t.conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 200
        seqs = [s for (s,) in t.conn.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, 201))  # gapless even when grouped
        assert t.verify() is None


def test_beffroi_serve_runs_and_stops(home, api_keys):
    """The real console script: binds a free loopback port, answers, stops on SIGINT."""
    beffroi = str(Path(sys.executable).with_name("beffroi"))
    env = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
    proc = subprocess.Popen([beffroi, "serve", "--home", str(home), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)

        async def check():
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/api/v1/health") as r:
                    return r.status, await r.json()
        status, health = asyncio.run(check())
        assert status == 200 and health["terminal"] == "MAIRIE-01"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()

