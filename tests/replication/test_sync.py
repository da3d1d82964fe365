"""Terminals converge through the SoR and through bundles; conflicts surface;
a wiped terminal comes back from the SoR and k shares."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal
from replication import bundle, segment
from replication.blobs import FileStore
from replication.enrolment import enroll
from replication.index import init_city
from replication.sync import Replicator
from tests.conftest import run_cli
from tests.waiting import wait_until

from .conftest import City, ThreadSoR


def desk(t: Terminal):
    return t.session(Principal.system())


def shared_case(t: Terminal) -> dict:
    s = desk(t)
    person = s.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12", postcode="49000",
                                 address="3 rue Pasteur")
    fields = sample_fields("declaration-prealable", random.Random(1), person, dt.date.today())
    return s.cases.open("declaration-prealable", person["id"], fields)


def journal_counts(t: Terminal) -> dict:
    return dict(t.conn.execute("SELECT origin, count(*) FROM events GROUP BY origin").fetchall())


def converge(city: City, terminals: list[Terminal]) -> None:
    for _ in range(2):
        for t in terminals:
            city.sync(t)
    hashes = {t.state_hash() for t in terminals}
    assert len(hashes) == 1
    counts = [journal_counts(t) for t in terminals]
    assert all(c == counts[0] for c in counts)
    for t in terminals:
        assert t.verify() is None


action = st.one_of(
    st.tuples(st.just("citizen"), st.integers(0, 2)),
    st.tuples(st.just("move"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("note"), st.integers(0, 2)),
    st.tuples(st.just("sync"), st.integers(0, 2)),
    st.tuples(st.just("bundle"), st.integers(0, 2), st.integers(0, 2)),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=3, max_size=14))
def test_three_terminals_converge_whatever_the_order(actions):
    root = Path(tempfile.mkdtemp(prefix="beffroi-conv-"))
    server = None
    try:
        init_city(root / "sor", "Ville", 2, 2)
        server = ThreadSoR(root / "sor", FileStore(root / "sor" / "blobs"))
        city = City(root, server.url, root / "sor")
        ts = [city.terminal(f"T{n}") for n in range(3)]
        case = shared_case(ts[0])
        for t in ts:
            city.sync(t)
        made = sum(journal_counts(t).get(t.id, 0) for t in ts)
        for act in actions:
            kind, i = act[0], act[1]
            t = ts[i]
            if kind == "citizen":
                desk(t).citizens.register(first_name="Jean", last_name=f"Martin{made}", birth_date="1970-01-01")
            elif kind == "move":
                allowed = desk(t).cases.get(case["id"]).get("allowed") or []
                if not allowed:
                    continue
                desk(t).cases.move(case["id"], allowed[act[2] % len(allowed)])
            elif kind == "note":
                desk(t).cases.note(case["id"], f"note {made}")
            elif kind == "sync":
                city.sync(t)
            elif kind == "bundle":
                path = root / f"bundle-{made}.bin"
                bundle.export(t, path)
                bundle.import_(ts[act[2]], path)
            made += 1
        total = sum(journal_counts(t).get(t.id, 0) for t in ts)
        converge(city, ts)
        assert sum(journal_counts(ts[0]).values()) == total   # nothing lost, nothing doubled
        city.close()
    finally:
        if server:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_offline_moves_of_one_case_become_a_conflict_on_every_terminal(city):
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    case = shared_case(t1)
    city.sync(t1), city.sync(t2)
    desk(t1).cases.move(case["id"], "incomplete")
    desk(t2).cases.move(case["id"], "under_review")
    city.sync(t1)
    report2 = city.sync(t2)
    city.sync(t1)
    assert t1.state_hash() == t2.state_hash()
    for t in (t1, t2):
        rows = t.conn.execute("SELECT kind, wanted_from, found FROM conflicts").fetchall()
        assert len(rows) == 1 and rows[0][0] == "status" and rows[0][1] == "submitted"
    assert report2.conflicts == 1


def test_bundle_import_twice_changes_nothing_and_damaged_bundles_are_refused(city, tmp_path):
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    city.sync(t1), city.sync(t2)          # both learn the registry and keys, then the network goes
    shared_case(t1)
    for n in range(30):
        desk(t1).citizens.register(first_name="Jean", last_name=f"Martin{n}", birth_date="1970-01-01")
    path = tmp_path / "stick.bin"
    info = bundle.export(t1, path)
    assert info["segments"] >= 1
    raw = path.read_bytes()
    before = (t2.state_hash(), t2.journal.count())
    for damaged in (raw[:-40], raw[: len(raw) // 2], raw[:-1] + bytes([raw[-1] ^ 1]), b"junk"):
        bad = tmp_path / "bad.bin"
        bad.write_bytes(damaged)
        result = run_cli("bundle", "import", str(bad), home=t2.home)
        assert result.returncode == 2 and result.stderr.startswith("beffroi: error:")
        assert len(result.stderr.strip().splitlines()) == 1
    assert (t2.state_hash(), t2.journal.count()) == before
    first = bundle.import_(t2, path)
    assert first.pulled_events == t1.journal.count() - sum(1 for _ in t1.journal.events(t2.id))
    after = (t2.state_hash(), t2.journal.count(), Replicator(t2).local.count())
    second = bundle.import_(t2, path)
    assert (second.pulled_segments, second.pulled_events) == (0, 0)
    assert (t2.state_hash(), t2.journal.count(), Replicator(t2).local.count()) == after
    assert t2.state_hash() == t1.state_hash()


def test_a_revoked_terminal_is_cut_off_and_its_later_segments_refused(city, tmp_path):
    t1, t2, t3 = city.terminal("T1"), city.terminal("T2"), city.terminal("T3")
    desk(t3).citizens.register(first_name="Jean", last_name="Avant", birth_date="1970-01-01")
    for t in (t3, t1, t2):
        city.sync(t)
    info = city.revoke("T3")
    desk(t3).citizens.register(first_name="Jean", last_name="Apres", birth_date="1970-01-01")
    result = run_cli("sync", "--sor", city.url, home=t3.home)
    assert result.returncode == 2 and "revoked" in result.stderr
    city.sync(t1)                                   # T1 learns the revocation and epoch 2
    assert max(Replicator(t1).trust().keys) == info["epoch"]
    path = tmp_path / "from-t3.bin"
    bundle.export(t3, path)
    before = t1.state_hash()
    result = run_cli("bundle", "import", str(path), home=t1.home)
    assert result.returncode == 2 and "revoked" in result.stderr
    assert t1.state_hash() == before
    # T1's next segments are sealed under the new epoch, whose key T3 never received
    desk(t1).citizens.register(first_name="Jean", last_name="Secret", birth_date="1970-01-01")
    city.sync(t1)
    rep = Replicator(t1)
    newest = list(rep.local.after(t1.id, 0))[-1][1]
    rep.close()
    assert segment.parse(newest).header.epoch == info["epoch"]
    assert info["epoch"] not in Replicator(t3).trust().keys


def test_wiped_terminal_is_restored_from_the_sor_and_two_shares(city, tmp_path):
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    shared_case(t1)
    desk(t2).citizens.register(first_name="Jean", last_name="Martin", birth_date="1970-01-01")
    for t in (t1, t2, t1):
        city.sync(t)
    want = t1.state_hash()
    home = t1.home
    city.terminals.remove(t1)
    t1.close()
    shutil.rmtree(home)
    shares = sorted((city.sor_home / "shares").glob("share-*.txt"))
    result = run_cli("restore", "--sor", city.url, "--share", str(shares[0]), home=home)
    assert result.returncode == 2 and "do not combine" in result.stderr and not home.exists()
    other = tmp_path / "other-city"
    init_city(other, "Autre", 2, 2)
    wrong = sorted((other / "shares").glob("share-*.txt"))
    result = run_cli("restore", "--sor", city.url, "--share", str(wrong[0]), "--share", str(wrong[1]), home=home)
    assert result.returncode == 2 and "recovery key" in result.stderr and not home.exists()
    result = run_cli("restore", "--sor", city.url, "--share", str(shares[2]), "--share", str(shares[0]),
                     "--json", home=home)
    assert result.returncode == 0, result.stderr
    with Terminal.open(home) as restored:
        assert restored.state_hash() == want == t2.state_hash()
        assert restored.verify() is None


def test_cli_refuses_bad_input_with_one_line(tmp_path, city):
    t = city.terminal("T1", approve=False)
    result = run_cli("sync", home=t.home)
    assert result.returncode == 2 and "approve" in result.stderr
    fresh = Terminal.init(tmp_path / "fresh", "FRESH")
    fresh.close()
    for args in (["sync"], ["bundle", "import", str(tmp_path / "missing.bin")],
                 ["sor", "init", "--shares", "2", "--threshold", "3"]):
        home = fresh.home if args[0] != "sor" else tmp_path / "sor2"
        result = run_cli(*args, home=home)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("beffroi: error:")
    assert not (tmp_path / "sor2").exists()


def test_sync_watch_keeps_pulling_until_interrupted(city):
    import signal
    import subprocess
    import sys
    import threading
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    city.sync(t1)
    watch = subprocess.Popen([str(Path(sys.executable).with_name("beffroi")), "sync", "--watch", "--interval", "0.2",
                              "--home", str(t2.home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reading = threading.Thread(target=lambda: lines.extend(iter(watch.stdout.readline, "")), daemon=True)
    reading.start()
    try:
        desk(t1).citizens.register(first_name="Jean", last_name="Veilleur", birth_date="1970-01-01")
        city.sync(t1)
        wait_until(lambda: t2.state_hash() == t1.state_hash(), what="the watching terminal to converge")
        # The report line follows the merge's commit: wait for it, not for a time.
        wait_until(lambda: any("pulled 1 segment(s)" in line for line in lines), what="the watch's report line")
    finally:
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=20)
        reading.join(5)
    assert watch.returncode == 0, err


def test_a_segment_that_cannot_be_taken_yet_is_retried_not_skipped(city):
    """No key for its epoch (yet): the segment and the later ones of its origin
    wait aside, the feed moves on, and the next round takes them."""
    from replication.sync import Report
    t1, t2, t3 = city.terminal("T1"), city.terminal("T2"), city.terminal("T3")
    city.sync(t1)                                     # T1 learns its key, then seals one event per segment
    for n in range(3):
        desk(t1).citizens.register(first_name="Jean", last_name=f"Martin{n}", birth_date="1970-01-01")
        rep = Replicator(t1)
        rep.seal_pending(per_segment=1)
        rep.close()
    desk(t3).citizens.register(first_name="Jean", last_name="Autre", birth_date="1970-01-01")
    city.sync(t1), city.sync(t3)
    rep = Replicator(t2)
    try:
        async def keyless_round():
            async with rep.link(city.url) as link:
                trust = await rep.refresh(link)
                trust.keys = {}                       # as if the epoch key had not reached T2 yet
                report = Report()
                await rep.pull(link, trust, report)
                return report
        report = asyncio.run(keyless_round())
        assert report.pulled_events == 0 and any("no data key" in r for r in report.refused)
        waiting = rep.local.refused()
        assert {w["origin"] for w in waiting} == {t1.id, t3.id} and len(waiting) >= 4
        assert any(w["reason"].startswith("waits for") for w in waiting)
        again = asyncio.run(rep.sync(city.url))
        assert again.pulled_events == 4 and again.refused == []
        assert rep.local.refused() == []
    finally:
        rep.close()
    city.sync(t1)
    assert t2.state_hash() == t1.state_hash()


def test_two_syncs_of_one_terminal_at_once_make_no_fork(city):
    import subprocess
    import sys
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    city.sync(t1)
    for n in range(60):
        desk(t1).citizens.register(first_name="Jean", last_name=f"Double{n}", birth_date="1970-01-01")
    beffroi = str(Path(sys.executable).with_name("beffroi"))
    procs = [subprocess.Popen([beffroi, "sync", "--home", str(t1.home)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    index = city.index()
    try:
        assert index.counts()["forks"] == 0
    finally:
        index.close()
    city.sync(t2)
    assert t2.state_hash() == t1.state_hash()


def test_a_cloned_terminal_forks_alone_and_the_others_still_flow(city, tmp_path):
    """A terminal restored from a VM snapshot runs twice under one identity:
    its two histories fork. The fork is refused and shown; the SoR keeps the
    first, and every other terminal's events still get through."""
    t1, t2, t3 = city.terminal("T1"), city.terminal("T2"), city.terminal("T3")
    for t in (t1, t2, t3):
        city.sync(t)
    t1.close()
    city.terminals.remove(t1)
    shutil.copytree(t1.home, tmp_path / "clone")
    original, clone = Terminal.open(t1.home), Terminal.open(tmp_path / "clone")
    city.terminals += [original, clone]
    desk(original).citizens.register(first_name="Jean", last_name="Original", birth_date="1970-01-01")
    desk(clone).citizens.register(first_name="Jean", last_name="Clone", birth_date="1970-01-01")
    city.sync(original)                              # the SoR takes this history
    bundle.export(clone, tmp_path / "clone.bin")     # the clone's history reaches T2 by hand
    bundle.import_(t2, tmp_path / "clone.bin")
    with pytest.raises(Exception, match="fork"):
        city.sync(clone)                             # the SoR refuses the other history
    desk(t3).citizens.register(first_name="Jean", last_name="Tiers", birth_date="1970-01-01")
    city.sync(t3)
    report = city.sync(t2)
    assert any("fork" in r for r in report.refused)
    names = {r[0] for r in t2.conn.execute("SELECT last_name FROM citizens")}
    assert "Tiers" in names and "Clone" in names and "Original" not in names
    index = city.index()
    try:                                             # the SoR kept the first history it was given
        last, head = index.head(original.id)
    finally:
        index.close()
    rep = Replicator(original)
    assert rep.local.segment_hash_ending(original.id, last) == head
    rep.close()


def test_a_lost_replication_db_is_rebuilt_from_the_sor(city):
    t1, t2 = city.terminal("T1"), city.terminal("T2")
    for n in range(5):
        desk(t1).citizens.register(first_name="Jean", last_name=f"Perdu{n}", birth_date="1970-01-01")
        city.sync(t1)
    for suffix in ("", "-wal", "-shm"):
        (t1.home / f"replication.db{suffix}").unlink(missing_ok=True)
    asyncio.run(enroll(t1, city.url))                # the terminal learns its SoR again
    desk(t1).citizens.register(first_name="Jean", last_name="Apres", birth_date="1970-01-01")
    report = city.sync(t1)
    assert report.pushed == 1 and report.refused == []
    city.sync(t2)
    assert t2.state_hash() == t1.state_hash()
    index = city.index()
    try:
        assert index.counts()["forks"] == 0 and index.counts()["segments"] == 6
    finally:
        index.close()
