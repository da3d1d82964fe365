"""The outbox: items born with their event, delivered exactly once against real
simulators that fail, never blocked by one bad item."""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from continuity.backoffice.simulator import Faults
from continuity.connectors import Connectors
from continuity.outbox import Outbox, Policy
from hub.errors import Invalid, NotFound
from hub.roles import Principal
from hub.terminal import Terminal

from ..conftest import run_cli
from .conftest import AGENT, TODAY, ManualClock, make_reports, running


def test_item_is_written_with_its_event_or_not_at_all(terminal: Terminal) -> None:
    session = terminal.session(AGENT)
    person = session.citizens.register(first_name="Ana", last_name="Roy", birth_date="1980-01-02")
    events_before = terminal.journal.count()
    with pytest.raises(RuntimeError), terminal.group():
        session.cases.open("signalement", person["id"], {"category": "eclairage", "location": "1 rue X",
                                                         "description": "Lampadaire éteint"})
        raise RuntimeError("power cut before commit")
    assert terminal.journal.count() == events_before
    assert Outbox(terminal).items() == []

    case = session.cases.open("signalement", person["id"], {"category": "eclairage", "location": "1 rue X",
                                                            "description": "Lampadaire éteint"})
    [item] = Outbox(terminal).items()
    event = terminal.conn.execute("SELECT origin, seq FROM events WHERE aggregate=? AND type='case.opened'",
                                  (f"case:{case['id']}",)).fetchone()
    assert (item.key, item.connector, item.state, item.case_id) == (f"{event[0]}-{event[1]}", "travaux", "queued",
                                                                     case["id"])
    assert item.payload["case"]["tracking_code"] == case["tracking_code"]
    assert item.payload["citizen"]["last_name"] == "Roy"


def test_which_acts_reach_which_back_office(terminal: Terminal) -> None:
    from hub.demo import sample_fields
    session = terminal.session(AGENT)
    person = session.citizens.register(first_name="Ana", last_name="Roy", birth_date="1980-01-02",
                                       address="1 rue X", postcode="49000")
    rng = random.Random(3)
    opened = {code: session.cases.open(code, person["id"], sample_fields(code, rng, person, TODAY))
              for code in ("acte-naissance", "declaration-prealable", "signalement", "encombrants",
                           "facture-municipale", "inscription-scolaire")}
    session.payments.take(opened["facture-municipale"]["id"], opened["facture-municipale"]["fee_cents"], "cash")
    session.cases.move(opened["acte-naissance"]["id"], "in_review")
    session.cases.move(opened["encombrants"]["id"], "scheduled")
    got = sorted((i.connector, i.kind, i.case_id) for i in Outbox(terminal).items())
    assert got == sorted([
        ("etat-civil", "case.opened", opened["acte-naissance"]["id"]),
        ("etat-civil", "case.status_changed", opened["acte-naissance"]["id"]),
        ("urbanisme", "case.opened", opened["declaration-prealable"]["id"]),
        ("travaux", "case.opened", opened["signalement"]["id"]),
        ("tresor", "payment.taken", opened["facture-municipale"]["id"]),
    ])


def test_only_the_originating_terminal_holds_items_and_they_are_not_state(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "a", "A") as a, Terminal.init(tmp_path / "b", "B") as b:
        make_reports(a, 3)
        b.accept(list(a.journal.events()))
        assert b.state_hash() == a.state_hash()
        assert len(Outbox(a).items()) == 3
        assert Outbox(b).items() == []       # merged events never enqueue: B does not deliver A's acts
        before = a.state_hash()
        a.conn.execute("UPDATE outbox SET state='sent', reference='X'")
        assert a.state_hash() == before
        a.rebuild()
        assert len(Outbox(a).items()) == 3   # a rebuild of the projections leaves the outbox alone


async def test_delivery_records_the_back_office_reference(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 5)
        async with running(tmp_path) as office, Connectors({"travaux": office.url}) as connectors:
            done = await Outbox(t).drain(connectors)
            held = {r["key"]: r["reference"] for r in office.records()}
        assert done.sent == 5
        items = Outbox(t).items()
        assert {i.state for i in items} == {"sent"}
        assert {i.key: i.reference for i in items} == held
        assert all(i.reference.startswith("TRV-") for i in items)


@pytest.mark.parametrize("fault", ["error_rate", "malformed_rate", "lost_rate", "after_commit_error_rate"])
async def test_a_failed_or_unproven_answer_is_never_success(tmp_path: Path, fault: str) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 4)
        clock = ManualClock()
        box = Outbox(t, clock=clock, rng=random.Random(1), policy=Policy(base_s=1, timeout_s=2))
        async with running(tmp_path, faults=Faults(**{fault: 1.0})) as office, \
                Connectors({"travaux": office.url}) as connectors:
            done = await box.deliver(connectors)
            assert (done.sent, done.failed) == (0, 4)
            assert {i.state for i in box.items()} == {"failed"}
            assert all(i.reason and i.due_at > clock() for i in box.items())
            office.faults.update({fault: 0.0})
            await box.drain(connectors, sleep=clock.sleep)
            held = {r["key"]: r["reference"] for r in office.records()}
            assert office.stats()["duplicates"] == 0
        assert {i.key: i.reference for i in box.items()} == held     # once each, with the back office's own reference


async def test_refused_content_waits_for_a_person_and_can_be_retried(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 1)
        box = Outbox(t)
        # The works items pointed by mistake at the treasury: it refuses them (422).
        async with running(tmp_path, "tresor") as wrong, Connectors({"travaux": wrong.url}) as connectors:
            done = await box.deliver(connectors)
            assert wrong.stats()["records"] == 0
        [item] = box.items()
        assert (done.waiting, item.state) == (1, "waiting")
        assert "refused" in item.reason
        assert box.retry(item.id).state == "queued"
        with pytest.raises(Invalid):
            box.retry(item.id)
        with pytest.raises(NotFound):
            box.retry(999)


async def test_a_poison_item_never_delays_the_others(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 20)
        clock = ManualClock()
        box = Outbox(t, clock=clock, rng=random.Random(2), policy=Policy(max_tries=3, base_s=5))
        poison = box.items()[0]     # the oldest one: a FIFO outbox would be stuck behind it
        first_pass = clock()
        async with running(tmp_path, faults=Faults(poison_keys=[poison.key])) as office, \
                Connectors({"travaux": office.url}) as connectors:
            done = await box.deliver(connectors)
            assert (done.sent, done.failed) == (19, 1)
            await box.drain(connectors, sleep=clock.sleep)
        items = {i.key: i for i in box.items()}
        assert items.pop(poison.key).state == "dead"
        assert all(i.state == "sent" and i.sent_at == first_pass for i in items.values())
        assert box.items(state="dead")[0].reason.endswith("(gave up after 3 tries)")


async def test_a_crash_between_send_and_acknowledgement_resends_with_the_same_key(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 3)
        clock = ManualClock()
        policy = Policy(lease_s=60)
        async with running(tmp_path) as office, Connectors({"travaux": office.url}) as connectors:
            crashed = Outbox(t, clock=clock, policy=policy)
            claimed = crashed.claim(connectors)
            for item in claimed:       # the back office records them; the terminal dies before writing "sent"
                await connectors["travaux"].send(item)
            del crashed
            t.close()
            with Terminal.open(tmp_path / "t") as again:
                box = Outbox(again, clock=clock, policy=policy)
                assert (await box.deliver(connectors)).sent == 0   # the lease still holds
                clock.t += 61
                assert (await box.deliver(connectors)).sent == 3
                stats = office.stats()
                assert (stats["records"], stats["redeliveries"], stats["duplicates"]) == (3, 3, 0)
                held = {r["key"]: r["reference"] for r in office.records()}
                assert {i.key: i.reference for i in box.items()} == held


async def test_a_restored_terminal_takes_over_the_outbox_without_redelivering(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "wiped", "W") as wiped, Terminal.init(tmp_path / "new", "N") as restored:
        make_reports(wiped, 4)
        async with running(tmp_path) as office, Connectors({"travaux": office.url}) as connectors:
            box = Outbox(wiped)
            box.claim(connectors, limit=2)   # two reach the back office, then the disk dies
            for item in box.items()[:2]:
                await connectors["travaux"].send(item)
            restored.accept(list(wiped.journal.events()))
            taken = Outbox(restored)
            assert taken.recover(wiped.id) == 4
            assert taken.recover(wiped.id) == 0       # twice changes nothing
            assert (await taken.drain(connectors)).sent == 4
            stats = office.stats()
        assert (stats["records"], stats["duplicates"]) == (4, 0)


def test_state_filter_is_checked(terminal: Terminal) -> None:
    with pytest.raises(Invalid):
        Outbox(terminal).items(state="lost")


async def test_items_wait_while_paused(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 2)
        clock = ManualClock()
        box = Outbox(t, clock=clock)
        async with running(tmp_path) as office, Connectors({"travaux": office.url}) as connectors:
            done = await box.drain(connectors, paused=lambda: True, sleep=clock.sleep, deadline_s=5)
            assert done.sent == 0 and office.stats()["requests"] == 0
            assert (await box.drain(connectors, sleep=clock.sleep)).sent == 2


rates = st.floats(min_value=0, max_value=0.25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 8), seed=st.integers(0, 2**16), error=rates, after_commit=rates, lost=rates,
       malformed=rates, timeout=st.floats(0, 0.1),
       crashes=st.lists(st.sampled_from(["after_claim", "after_send", "pass"]), max_size=4))
def test_every_item_reaches_its_back_office_exactly_once(n, seed, error, after_commit, lost, malformed, timeout,
                                                          crashes) -> None:
    """Against a back office failing at random (before or after recording, answers
    lost or garbled), with the terminal crashing at any point: each item is
    recorded exactly once and the terminal holds the reference the back office gave."""
    faults = Faults(error_rate=error, after_commit_error_rate=after_commit, lost_rate=lost,
                    malformed_rate=malformed, timeout_rate=timeout, hang_s=0.3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        asyncio.run(_exactly_once(root, n, seed, faults, crashes))


async def _exactly_once(root: Path, n: int, seed: int, faults: Faults, crashes: list[str]) -> None:
    clock = ManualClock()
    policy = Policy(max_tries=10_000, base_s=1, lease_s=30, timeout_s=0.1)
    with Terminal.init(root / "t", "T") as t:
        make_reports(t, n, seed)
    async with running(root, faults=faults, seed=seed) as office, \
            Connectors({"travaux": office.url}, timeout_s=0.1) as connectors:
        for crash in crashes:
            with Terminal.open(root / "t") as t:
                box = Outbox(t, clock=clock, rng=random.Random(seed), policy=policy)
                if crash == "pass":
                    await box.deliver(connectors)
                    continue
                for item in box.claim(connectors):
                    if crash == "after_send":
                        try:
                            await connectors["travaux"].send(item)
                        except Exception:  # noqa: BLE001 — the crash comes whatever the answer
                            pass
            clock.t += policy.lease_s + 1   # the terminal restarts once the leases have run out
        with Terminal.open(root / "t") as t:
            box = Outbox(t, clock=clock, rng=random.Random(seed), policy=policy)
            await box.drain(connectors, sleep=clock.sleep)
            items = box.items()
        held = {r["key"]: r["reference"] for r in office.records()}
        assert {i.state for i in items} == {"sent"}
        assert {i.key: i.reference for i in items} == held
        assert len(held) == n and office.stats()["duplicates"] == 0


async def test_many_sends_in_flight_still_deliver_each_item_exactly_once(tmp_path: Path) -> None:
    """32 sends in flight on one session, against a back office failing every
    way, after a crash that left a batch sent but unacknowledged: each item is
    recorded once, with the reference the terminal holds."""
    faults = Faults(error_rate=0.1, after_commit_error_rate=0.1, lost_rate=0.1, malformed_rate=0.1,
                    timeout_rate=0.02, hang_s=0.3)
    clock = ManualClock()
    policy = Policy(max_tries=10_000, base_s=1, lease_s=30, timeout_s=0.2, concurrency=32)
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 300, seed=3)
        async with running(tmp_path, faults=faults, seed=3) as office, \
                Connectors({"travaux": office.url}, timeout_s=0.2) as connectors:
            box = Outbox(t, clock=clock, rng=random.Random(3), policy=policy)
            crashed = box.claim(connectors, limit=100)
            await asyncio.gather(*(box.attempt(item, connectors["travaux"]) for item in crashed))
            clock.t += policy.lease_s + 1   # the terminal restarts once the leases have run out
            await box.drain(connectors, sleep=clock.sleep)
            held = {r["key"]: r["reference"] for r in office.records()}
            stats = office.stats()
        items = box.items()
        assert {i.state for i in items} == {"sent"}
        assert {i.key: i.reference for i in items} == held
        assert len(held) == 300 and stats["duplicates"] == 0 and stats["redeliveries"] > 0


async def test_the_back_office_commits_concurrent_requests_together_and_each_key_once(tmp_path: Path) -> None:
    """The simulator's group commit (requests arriving together are written in
    one transaction): the same key sent three times at once is recorded once,
    every copy is answered with that one reference, numbers have no gap."""
    import aiohttp
    keys = [f"T:{n}" for n in range(40)]
    async with running(tmp_path) as office, aiohttp.ClientSession() as http:
        async def post(key: str) -> dict:
            body = {"key": key, "kind": "case.opened", "payload": {"case": {"service": "signalement"}}}
            async with http.post(f"{office.url}/v1/items", json=body, headers={"Idempotency-Key": key}) as r:
                assert r.status == 200
                return await r.json()
        answers = await asyncio.gather(*(post(k) for k in keys * 3))
        records = office.records()
        stats = office.stats()
    by_key: dict[str, set[str]] = {}
    for answer in answers:
        by_key.setdefault(answer["key"], set()).add(answer["reference"])
    held = {r["key"]: r["reference"] for r in records}
    assert {k: {ref} for k, ref in held.items()} == by_key and set(held) == set(keys)
    assert sorted(r["number"] for r in records) == list(range(1, 41))
    assert stats["redeliveries"] == 80 and stats["duplicates"] == 0
    assert sum(a["duplicate"] for a in answers) == 80


def test_cli_lists_retries_and_refuses_cleanly(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "h", "H") as t:
        make_reports(t, 2)
    home = str(tmp_path / "h")
    listed = json.loads(run_cli("outbox", "--home", home, "--json", check=True).stdout)
    assert listed["counts"]["queued"] == 2
    assert len(listed["items"]) == 2 and "payload" not in listed["items"][0]
    for args, needle in [(("outbox", "retry", "1"), "only failed, dead, waiting or set-aside"),
                         (("outbox", "aside", "1", "--why", "refait sur papier"), "only failed, dead or waiting"),
                         (("outbox", "aside", "1", "--why", "  "), "needs a reason"),
                         (("outbox", "aside", "42", "--why", "x"), "no outbox item 42"),
                         (("outbox", "aside", "1"), "--why"),
                         (("outbox", "retry", "42"), "no outbox item 42"),
                         (("outbox", "connect", "impots", "http://127.0.0.1:1"), "unknown connector"),
                         (("outbox", "connect", "tresor", "ftp://x"), "not an http(s) URL"),
                         (("outbox", "deliver"), "no back office configured"),
                         (("outbox", "--state", "lost"), "invalid choice")]:
        refused = run_cli(*args, "--home", home)
        assert refused.returncode == 2, args
        assert refused.stderr.startswith("beffroi: error: ") and needle in refused.stderr
        assert refused.stderr.count("\n") == 1
    assert json.loads(run_cli("outbox", "--home", home, "--json").stdout) == listed   # nothing changed
    assert run_cli("outbox", "dead", "--home", home).stdout.strip() == "no dead item"


async def test_connectors_are_off_while_isolated(tmp_path: Path) -> None:
    from continuity import transitions
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 2)
        ops = t.session(Principal.ops("ops"))
        transitions.move(ops, "isolated", "exercice", order={"id": "local-1", "kind": "local"}, local=True)
        box = Outbox(t)
        async with running(tmp_path) as office, Connectors({"travaux": office.url}) as connectors:
            assert (await box.deliver(connectors)).sent == 0
            assert (await box.drain(connectors, deadline_s=0)).sent == 0
            assert office.stats()["requests"] == 0
            transitions.move(ops, "recovery", "incident over")
            assert (await box.drain(connectors)).sent == 2   # recovery drains


async def test_a_person_sets_an_item_aside_and_takes_it_back(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 2)
        clock = ManualClock()
        box = Outbox(t, clock=clock, policy=Policy(max_tries=1))
        first, second = box.items()
        async with running(tmp_path, "travaux", Faults(poison_keys=[first.key])) as site, \
                Connectors({"travaux": site.url}) as connectors:
            await box.drain(connectors)
        error = box.get(first.id).reason
        assert box.get(first.id).state == "dead" and box.pending() == 0
        with pytest.raises(Invalid):
            box.set_aside(second.id, "ops", "déjà livré")          # sent: nothing to set aside
        aside = box.set_aside(first.id, "julien", "signalement refait sur papier")
        assert (aside.state, aside.aside_by, aside.aside_why, aside.aside_at) == \
            ("aside", "julien", "signalement refait sur papier", clock())
        assert aside.reason == error and box.counts()["aside"] == 1 and box.counts()["dead"] == 0
        with pytest.raises(Invalid):
            box.set_aside(first.id, "julien", "encore")             # already aside
        back = box.retry(first.id)
        assert (back.state, back.aside_by, back.tries) == ("queued", None, 0)
        assert "set aside by julien: signalement refait sur papier" in back.reason
    home = str(tmp_path / "t")
    listed = run_cli("outbox", "--home", home, check=True).stdout
    assert "queued" in listed


def test_an_outbox_from_before_set_aside_is_widened_in_place(tmp_path: Path) -> None:
    import sqlite3
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 2)
        before = [(i.id, i.key, i.state, i.payload) for i in Outbox(t).items()]
    with sqlite3.connect(tmp_path / "t" / "journal.db") as db:   # the table as an older release made it
        sql = db.execute("SELECT sql FROM sqlite_master WHERE name='outbox'").fetchone()[0]
        old = sql.replace(", 'aside'", "").split("    aside_by")[0].rstrip().rstrip(",") + "\n)"
        keep = "id, key, origin, seq, connector, kind, case_id, payload, state, tries, due_at, reference, reason," \
               " created_hlc, sent_at"
        db.execute("ALTER TABLE outbox RENAME TO today")
        db.execute("DROP INDEX outbox_due")
        db.execute("DROP INDEX outbox_case")
        db.execute(old)
        db.execute(f"INSERT INTO outbox ({keep}) SELECT {keep} FROM today")
        db.execute("DROP TABLE today")
        assert "'aside'" not in db.execute("SELECT sql FROM sqlite_master WHERE name='outbox'").fetchone()[0]
    with Terminal.open(tmp_path / "t") as t:
        box = Outbox(t)
        assert [(i.id, i.key, i.state, i.payload) for i in box.items()] == before
        t.conn.execute("UPDATE outbox SET state='dead' WHERE id=?", (before[0][0],))
        assert box.set_aside(before[0][0], "ops", "refait").state == "aside"
        names = {r[1] for r in t.conn.execute("PRAGMA index_list(outbox)")}
        assert {"outbox_due", "outbox_case"} <= names
