"""The footprint of every démarche, measured on real homes: journal events and
bytes (recomputed here from the rows), the hub's CPU time per write (from an
injected counter, so the expected figure is known), pages and bytes sent; the
estimate from the factors; the CLI's refusals. CPU counts wait in memory
(``footprint.Pending``): written on the interval of the injected clock, after
enough writes, inside a group's transaction, at close — and every report adds
what still waits, never twice."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from dataclasses import asdict

import pytest

from hub import footprint
from hub.clock import FrozenClock
from hub.demo import sample_fields
from hub.roles import Principal
from hub.terminal import Terminal
from tests.conftest import run_cli
from tests.hub.test_domain import BULKY

STEP = 300_000   # ns the injected counter moves at each read


class Counter:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        self.ns += STEP
        return self.ns


def person(desk) -> dict:
    return desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                  address="3 rue Pasteur", postcode="49000")


def rows_bytes(home, where: str = "1") -> int:
    with sqlite3.connect(home / "journal.db") as db:
        rows = db.execute(f"SELECT origin, type, aggregate, actor, data, prev, hash FROM events e WHERE {where}")
        return sum(sum(len(v) for v in row) + 24 for row in rows)


@pytest.fixture
def work(tmp_path):
    """Three bulky-waste requests, one of them moved, and a citizen."""
    home = tmp_path / "home"
    with Terminal.init(home, "MAIRIE-01", cpu_ns=Counter()) as t:
        desk = t.session(Principal.agent("agent"))
        citizen = person(desk)
        cases = [desk.cases.open("encombrants", citizen["id"], BULKY) for _ in range(3)]
        desk.cases.move(cases[0]["id"], "scheduled")
        t.count_footprint("encombrants", pages=2)
    return home, cases


def test_each_demarche_is_measured_from_its_own_work(work):
    home, cases = work
    with Terminal.open(home) as t:
        data = footprint.report(t.conn, footprint.Factors())
    bulky = {s["name"]: s for s in data["services"]}["encombrants"]
    other = {s["name"]: s for s in data["services"]}[footprint.OTHER]
    assert bulky["cases"] == 3 and bulky["events"] == 4                  # 3 opened + 1 move
    assert bulky["journal_bytes"] == rows_bytes(home, "aggregate LIKE 'case:%'")
    assert other["events"] == 1 and other["journal_bytes"] == rows_bytes(home, "aggregate LIKE 'citizen:%'")
    assert bulky["cpu_seconds"] == pytest.approx(4 * STEP / 1e9)          # one write per event here
    assert bulky["pages"] == 2 and other["pages"] == 0
    assert data["total"]["events"] == 5 and data["total"]["journal_bytes"] == rows_bytes(home)
    assert [t["events"] for t in data["terminals"]] == [5]


def test_the_estimate_follows_the_factors(work):
    home, _ = work
    factors = footprint.Factors(wh_per_cpu_second=2.0, wh_per_gb_sent=0.0, wh_per_gb_year_stored=1e6,
                                g_co2e_per_kwh=100.0, g_co2e_per_page=5.0)
    with Terminal.open(home) as t:
        bulky = {s["name"]: s for s in footprint.report(t.conn, factors)["services"]}["encombrants"]
    wh = bulky["cpu_seconds"] * 2.0 + bulky["journal_bytes"] / 1e9 * 1e6
    assert bulky["wh"] == pytest.approx(wh, rel=1e-6)
    assert bulky["g_co2e"] == pytest.approx(wh / 1000 * 100.0 + 2 * 5.0, rel=1e-6)


def test_counting_can_be_switched_off_and_since_filters(work, tmp_path):
    home = tmp_path / "off"
    with Terminal.init(home, "MAIRIE-02", cpu_ns=None) as t:
        person(t.session(Principal.agent("agent")))
        data = footprint.report(t.conn, footprint.Factors())
        assert data["total"]["events"] == 1 and data["total"]["cpu_seconds"] == 0
        assert footprint.report(t.conn, footprint.Factors(), "2999-01-01")["total"]["events"] == 0
        with pytest.raises(footprint.Invalid):
            footprint.report(t.conn, footprint.Factors(), "hier")


def test_cli_prints_the_table_and_json(work):
    home, _ = work
    result = run_cli("footprint", home=home)
    assert result.returncode == 0, result.stderr
    assert "Bulky-waste pick-up" in result.stdout and "total" in result.stdout
    as_json = json.loads(run_cli("footprint", "--json", home=home).stdout)
    with Terminal.open(home) as t:
        assert as_json["services"] == footprint.report(t.conn, footprint.Factors())["services"]
    (home / "footprint.json").write_text(json.dumps({"g_co2e_per_kwh": 500}))
    tuned = json.loads(run_cli("footprint", "--json", home=home).stdout)
    assert tuned["factors"] == {**asdict(footprint.Factors()), "g_co2e_per_kwh": 500}


@pytest.mark.parametrize("args,content,message", [
    (["--since", "yesterday"], None, "since: a date"),
    ([], "{not json", "footprint.json is not readable JSON"),
    ([], json.dumps({"g_co2e_per_kwh": -1}), "non-negative numbers"),
    ([], json.dumps({"watts": 3}), "non-negative numbers"),
])
def test_cli_refuses_bad_input_in_one_line(work, args, content, message):
    home, _ = work
    if content is not None:
        (home / "footprint.json").write_text(content)
    before = (home / "journal.db").read_bytes()
    result = run_cli("footprint", *args, home=home)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("beffroi: error:") and message in lines[0]
    assert (home / "journal.db").read_bytes() == before


# --- pending CPU counts ----------------------------------------------------------

REPORT = {"category": "eclairage", "location": "3 rue Pasteur", "description": "Lampadaire éteint"}


def table_cpu(home) -> dict[str, int]:
    """The CPU counts the table holds, read by another connection (committed only)."""
    with sqlite3.connect(home / "journal.db") as db:
        return dict(db.execute("SELECT service, sum(cpu_ns) FROM footprint WHERE cpu_ns > 0 GROUP BY 1"))


def reported_cpu(t: Terminal) -> dict[str, int]:
    data = footprint.report(t.conn, footprint.Factors(), pending=t.pending)
    return {s["name"]: round(s["cpu_seconds"] * 1e9) for s in data["services"] if s["cpu_seconds"]}


@pytest.fixture
def frozen_terminal(tmp_path):
    clock = FrozenClock(dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))
    with Terminal.init(tmp_path / "home", "MAIRIE-01", clock=clock, cpu_ns=Counter()) as t:
        yield t, clock


def test_cpu_counts_wait_in_memory_until_the_interval_of_the_terminals_clock(frozen_terminal):
    t, clock = frozen_terminal
    desk = t.session(Principal.agent("agent"))
    citizen = person(desk)                                                # write 1, at 09:00:00
    assert table_cpu(t.home) == {} and reported_cpu(t) == {footprint.OTHER: STEP}
    clock.advance(4.999)
    case = desk.cases.open("signalement", citizen["id"], REPORT)          # write 2: 4.999 s later, still waiting
    assert table_cpu(t.home) == {}
    assert reported_cpu(t) == {footprint.OTHER: STEP, "signalement": STEP}
    clock.advance(0.001)
    desk.cases.move(case["id"], "acknowledged")                            # write 3: 5 s after the first
    assert t.pending.counts == {}
    assert table_cpu(t.home) == {footprint.OTHER: STEP, "signalement": 2 * STEP}
    assert reported_cpu(t) == {footprint.OTHER: STEP, "signalement": 2 * STEP}    # not twice
    # The day written is the events' day (the clock's), not the machine's.
    assert {r[0] for r in t.conn.execute("SELECT day FROM footprint")} == {"2026-11-30"}


def test_enough_writes_are_written_at_once_whatever_the_clock(frozen_terminal):
    t, _clock = frozen_terminal
    t.pending = footprint.Pending(most=3)
    desk = t.session(Principal.agent("agent"))
    citizen = person(desk)
    desk.cases.open("signalement", citizen["id"], REPORT)
    assert table_cpu(t.home) == {}
    desk.cases.open("signalement", citizen["id"], REPORT)                 # the third write
    assert table_cpu(t.home) == {footprint.OTHER: STEP, "signalement": 2 * STEP} and t.pending.counts == {}
    desk.cases.open("signalement", citizen["id"], REPORT)
    assert table_cpu(t.home) == {footprint.OTHER: STEP, "signalement": 2 * STEP}
    assert reported_cpu(t) == {footprint.OTHER: STEP, "signalement": 3 * STEP}


def test_a_clean_close_writes_every_pending_count_and_a_reopen_reads_the_same(tmp_path):
    home = tmp_path / "home"
    rng = random.Random(3)
    with Terminal.init(home, "MAIRIE-01", cpu_ns=Counter()) as t:
        desk = t.session(Principal.agent("agent"))
        citizen = person(desk)
        for code in ("signalement", "encombrants", "signalement"):
            desk.cases.open(code, citizen["id"], sample_fields(code, rng, citizen, t.today()))
        t.count_footprint("encombrants", pages=1)         # a direct write: the pending counts ride along
        desk.cases.open("signalement", citizen["id"], REPORT)
        before = footprint.report(t.conn, footprint.Factors(), pending=t.pending)
        assert t.pending.counts                            # the last write still waits
    assert table_cpu(home) == {footprint.OTHER: STEP, "signalement": 3 * STEP, "encombrants": STEP}
    with Terminal.open(home) as again:
        assert again.pending.counts == {}
        assert footprint.report(again.conn, footprint.Factors(), pending=again.pending) == before
    result = run_cli("footprint", "--json", home=home)
    assert json.loads(result.stdout)["services"] == before["services"]


def test_a_group_writes_the_due_counts_in_its_own_transaction(frozen_terminal):
    t, _clock = frozen_terminal
    t.pending = footprint.Pending(most=2)
    desk = t.session(Principal.agent("agent"))
    with t.group():
        citizen = person(desk)
        desk.cases.open("signalement", citizen["id"], REPORT)             # due: into the group's transaction
        assert t.pending.counts == {}
        assert table_cpu(t.home) == {}                                    # not committed yet
        assert reported_cpu(t) == {footprint.OTHER: STEP, "signalement": STEP}   # this connection sees them, once
    assert table_cpu(t.home) == {footprint.OTHER: STEP, "signalement": STEP}


def test_a_case_opened_elsewhere_is_looked_up_once_and_counted_to_its_service(tmp_path):
    home = tmp_path / "home"
    with Terminal.init(home, "MAIRIE-01", cpu_ns=Counter()) as t:
        desk = t.session(Principal.agent("agent"))
        case = desk.cases.open("signalement", person(desk)["id"], REPORT)
        assert t.services.known == {f"case:{case['id']}": "signalement"}   # learnt at the act, no query
    with Terminal.open(home, cpu_ns=Counter()) as t:
        assert t.services.known == {}
        t.session(Principal.agent("agent")).cases.move(case["id"], "acknowledged")
        assert t.services.known == {f"case:{case['id']}": "signalement"}
        assert reported_cpu(t) == {footprint.OTHER: STEP, "signalement": 2 * STEP}


def test_what_a_write_touched_decides_the_demarches(tmp_path):
    with Terminal.init(tmp_path / "home", "MAIRIE-01", cpu_ns=Counter()) as t:
        desk = t.session(Principal.agent("agent"))
        case = desk.cases.open("signalement", person(desk)["id"], REPORT)
        services = footprint.Services(size=4)
        agg = f"case:{case['id']}"
        assert services.of(t.conn, {agg}) == ("signalement",)                       # looked up
        assert services.of(t.conn, {agg, "citizen:x"}) == (footprint.OTHER, "signalement")
        assert services.of(t.conn, {"case:" + "0" * 26}) == (footprint.OTHER,)       # no such case
        assert services.of(t.conn, {"ticket:1"}) == (footprint.OTHER,)
        for n in range(5):                                                          # bounded
            services.learn(f"case:{n}", "encombrants")
        assert len(services.known) <= 4 and services.of(t.conn, {agg}) == ("signalement",)


def test_counting_off_keeps_nothing_pending(tmp_path):
    with Terminal.init(tmp_path / "home", "MAIRIE-01", cpu_ns=None) as t:
        desk = t.session(Principal.agent("agent"))
        desk.cases.open("signalement", person(desk)["id"], REPORT)
        assert t.pending.counts == {} and t.services.known == {}
