"""Recovery runs by itself once the incident is ended, and the back offices'
health feeds reachability: a real SoR, the real simulators (told to go down
through their fault switch), real `beffroi sync --watch` processes."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from continuity import conflicts, incident
from continuity.backoffice.city import ThreadBackoffices
from continuity.connectors import configure
from continuity.publish import publish
from continuity.reachability import Reachability
from continuity.resume import after_order
from continuity.watch import Watch
from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal
from tests.conftest import run_cli
from tests.replication.conftest import ThreadSoR
from tests.waiting import wait_until

from .conftest import AGENT, TODAY

BEFFROI = str(Path(sys.executable).with_name("beffroi"))


def _down(url: str, down: bool) -> None:
    """The simulator's own fault switch, as a test harness flips it."""
    request = urllib.request.Request(f"{url}/v1/faults", data=json.dumps({"down": down}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def _offices(tmp_path: Path, *homes: Path) -> ThreadBackoffices:
    offices = ThreadBackoffices(tmp_path / "bo")
    urls = offices.start()
    for home in homes:
        for name, url in urls.items():
            configure(home, name, url)
    return offices


def _reports(t: Terminal, n: int, seed: int = 0) -> list[dict]:
    """n reports for the works service, all from one citizen (no twin to merge)."""
    session = t.session(AGENT)
    found = session.citizens.search("jeanne martin")
    person = found[0] if found else session.citizens.register(
        first_name="Jeanne", last_name="Martin", birth_date="1970-01-01", address="3 rue Pasteur", postcode="49000")
    rng = random.Random(seed)
    return [session.cases.open("signalement", person["id"], sample_fields("signalement", rng, person, TODAY))
            for _ in range(n)]


def _delivered_once(offices: ThreadBackoffices, *homes: Path) -> int:
    sent = 0
    for home in homes:
        with Terminal.open(home) as t:
            sent += t.conn.execute("SELECT count(*) FROM outbox WHERE state='sent'").fetchone()[0]
            assert t.conn.execute("SELECT count(*) FROM outbox WHERE state!='sent'").fetchone()[0] == 0
    stats = offices.stats().values()
    assert sent == sum(s["records"] for s in stats) and sum(s["duplicates"] for s in stats) == 0
    return sent


def _restart_sor(city) -> str:
    from replication.blobs import FileStore
    city.server = ThreadSoR(city.sor_home, FileStore(city.sor_home / "blobs"))
    return city.server.url


def _rounds_until(watch: Watch, mode: str, most: int = 10) -> int:
    for n in range(1, most + 1):
        if watch.round()["mode"] == mode:
            return n
    raise AssertionError(f"still {watch.terminal.mode().name} after {most} rounds, not {mode}")


def test_every_back_office_down_degrades_one_down_only_warns(city, tmp_path) -> None:
    t = city.terminal("MAIRIE-01")
    offices = _offices(tmp_path, t.home)
    watch = Watch(t, [city.url], interval=0.1, reachability=Reachability(first_retry=0.01))
    try:
        first = watch.round()
        assert first["mode"] == "online" and set(first["backoffices"].values()) == {True}
        assert set(first["backoffices"]) == {"etat-civil", "urbanisme", "tresor", "travaux"}
        # One back office down: a warning about its items, never degraded.
        _down(offices.urls["tresor"], True)
        for _ in range(4):
            summary = watch.round()
            assert summary["mode"] == "online" and summary["backoffices"]["tresor"] is False
            assert any("back office tresor does not answer" in w for w in summary["warnings"])
        # Every back office down (the SoR answering): degraded after the third failed round.
        for url in offices.urls.values():
            _down(url, True)
        assert _rounds_until(watch, "degraded") == 3
        assert "no back office answers" in t.mode().reason
        _down(offices.urls["travaux"], False)              # one answers again: back online at once
        assert _rounds_until(watch, "online") == 1
        for url in offices.urls.values():
            _down(url, False)
        # The SoR down, the back offices up: degraded as well; back when it answers.
        city.server.stop()
        assert _rounds_until(watch, "degraded") == 3
        watch.urls = [_restart_sor(city)]
        assert _rounds_until(watch, "online") == 1
        reasons = [json.loads(d)["reason"] for (d,) in t.conn.execute(
            "SELECT data FROM events WHERE type='mode.changed' ORDER BY seq")]
        assert len(reasons) == 4 and "no back office answers" in reasons[0] and "unreachable" in reasons[2]
    finally:
        watch.close()
        offices.close()


def test_recovery_runs_by_itself_and_waits_for_what_is_missing(city, admin, tmp_path) -> None:
    one, two = city.terminal("MAIRIE-01"), city.terminal("MAIRIE-02")
    offices = _offices(tmp_path, one.home, two.home)
    try:
        shared = _reports(one, 1)[0]
        for t in (one, two, one):
            city.sync(t)
        declared = admin.order("declare", ranges={"MAIRIE-01": (1, 500), "MAIRIE-02": (501, 1000)})
        for t in (one, two):
            incident.apply(t, declared, incident.now_at(t))
        _reports(one, 2, seed=1)                           # more items for the works service, made offline
        one.session(AGENT).cases.move(shared["id"], "acknowledged")
        two.session(AGENT).cases.move(shared["id"], "rejected")   # the same case moved on two terminals
        city.server.stop()

        # The end order on a USB stick while the SoR is still down: recovery starts at once.
        from continuity.orders import verify
        end = admin.order("end", ends=verify(declared, incident.pinned_city(one), incident.now_at(one)).id)
        incident.apply(one, end, incident.now_at(one))
        done = after_order(one)
        assert done["mode"] == "recovery" and done["exchanged"] is False
        assert done["outbox"]["delivered"] >= 3 and done["outbox"]["pending"] == 0   # the back offices answer
        assert [w.split(" (")[0] for w in done["waiting_for"]] == ["an exchange of segments with the SoR or a relay"]
        assert Path(done["files"][0]).exists() and Path(done["files"][1]).read_bytes().startswith(b"%PDF")
        shown = run_cli("mode", "--home", str(one.home))
        assert shown.returncode == 0 and "recovery waits for an exchange of segments" in shown.stdout

        # The SoR is back; the other terminal pushes; the watch loop exchanges and surfaces the conflict.
        url = _restart_sor(city)
        incident.apply(two, end, incident.now_at(two))
        city.sync(two, url)
        watch = Watch(one, [url], interval=0.1, reachability=Reachability(first_retry=0.01))
        try:
            summary = watch.round()
            assert summary["mode"] == "recovery"
            assert summary["recovery"]["waiting_for"] == [
                "1 conflict(s) to assign to an agent or office (`beffroi conflicts`)"]
            [conflict] = conflicts.listing(one.conn)
            one.session(Principal.system()).agents.enroll("claire", "Claire Moreau", "24681012", "agent")
            conflicts.assign(one.session(Principal.ops("it")), conflict.id, "claire")
            summary = watch.round()
            assert summary["mode"] == "online" and summary["mode_changed"] and summary["recovery"]["waiting_for"] == []
        finally:
            watch.close()
        report = json.loads((one.home / "recovery" / "recovery-report.json").read_text())[0]
        assert report["mode"] == "online" and report["conflicts"]["assigned"] == 1
        assert _delivered_once(offices, one.home) >= 3      # (MAIRIE-02 never ran its recovery here)
    finally:
        offices.close()


def test_sync_watch_applies_a_published_end_order_and_comes_back_online(city, admin, tmp_path) -> None:
    t = city.terminal("MAIRIE-03")
    home = t.home
    _reports(t, 2)
    t.close()
    offices = _offices(tmp_path, home)
    watcher = subprocess.Popen([BEFFROI, "sync", "--watch", "--interval", "0.2", "--home", str(home)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def mode() -> str:
        return json.loads(run_cli("mode", "--json", "--home", str(home)).stdout)["mode"]
    try:
        wait_until(lambda: mode() == "online", what="the first rounds")
        declared = admin.order("declare", ranges={"MAIRIE-03": (1, 100)})
        asyncio.run(publish(city.url, declared))
        wait_until(lambda: mode() == "isolated", what="the watch loop to apply the published declare order")
        from continuity.orders import verify
        with Terminal.open(home) as again:
            end = admin.order("end", ends=verify(declared, incident.pinned_city(again), incident.now_at(again)).id)
            _reports(again, 1, seed=4)
        asyncio.run(publish(city.url, end))
        wait_until(lambda: mode() == "online", what="recovery to run and finish by itself")
        with Terminal.open(home) as again:
            moves = [json.loads(d)["mode"] for (d,) in again.conn.execute(
                "SELECT data FROM events WHERE type='mode.changed' ORDER BY seq")]
            assert moves == ["isolated", "recovery", "online"]
        assert _delivered_once(offices, home) == 3
        report = json.loads((home / "recovery" / "recovery-report.json").read_text())[0]
        assert report["mode"] == "online" and report["outbox"]["delivered"] == 3
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
        offices.close()
    assert watcher.returncode == 0, err
    assert "recovery waits for" in out or "mode is now online" in out
