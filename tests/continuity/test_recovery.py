"""Recovery: a person registered twice offline becomes a merge proposal an
agent accepts or rejects (an event, replicated; nothing dropped); the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from continuity.outbox import Outbox
from continuity.recovery import Recovery, decide, proposals, report, write_pdf
from hub import footprint
from hub.errors import Forbidden, Invalid, NotFound
from hub.roles import Principal
from hub.terminal import Terminal

from .conftest import AGENT, make_reports, running

TWIN = {"first_name": "Louise", "last_name": "Bernard", "birth_date": "1990-05-06"}


def twins(tmp_path: Path) -> tuple[Terminal, Terminal]:
    a, b = Terminal.init(tmp_path / "a", "A"), Terminal.init(tmp_path / "b", "B")
    a.session(AGENT).citizens.register(**TWIN, postcode="49000")
    b.session(AGENT).citizens.register(**{**TWIN, "first_name": "LOUISE", "last_name": "Bérnard"})
    b.session(AGENT).citizens.register(first_name="Louise", last_name="Bernard", birth_date="1991-05-06")  # not her
    a.accept(list(b.journal.events()))
    b.accept(list(a.journal.events()))
    return a, b


def test_a_person_registered_twice_offline_is_proposed_for_merging(tmp_path: Path) -> None:
    a, b = twins(tmp_path)
    with a, b:
        [p] = proposals(a.conn)
        assert [x.id for x in proposals(b.conn)] == [p.id]
        assert p.keep["first_name"] == "Louise" and p.duplicate["first_name"] == "LOUISE"
        assert p.decision is None
        hash_before = a.state_hash()
        decided = decide(a.session(AGENT), p.id, accept=True)
        assert (decided.decision, decided.decided_by) == ("accepted", "agent:agent")
        assert proposals(a.conn) == []
        assert a.state_hash() != hash_before       # the duplicate is now marked merged…
        assert a.conn.execute("SELECT count(*) FROM citizens WHERE birth_date='1990-05-06'").fetchone()[0] == 2
        b.accept(list(a.journal.events()))
        assert proposals(b.conn) == []              # the decision travels like any act
        assert proposals(b.conn, include_decided=True)[0].decision == "accepted"
        with pytest.raises(Invalid, match="already accepted"):
            decide(b.session(AGENT), p.id, accept=False)


def test_merge_decisions_are_checked(tmp_path: Path) -> None:
    a, b = twins(tmp_path)
    with a, b:
        [p] = proposals(a.conn)
        events = a.journal.count()
        with pytest.raises(NotFound):
            decide(a.session(AGENT), "nobody+nobody", accept=True)
        with pytest.raises(Forbidden):
            decide(a.session(Principal.kiosk("k1")), p.id, accept=True)
        assert a.journal.count() == events
        assert decide(a.session(AGENT), p.id, accept=False).decision == "rejected"


class StepCPU:
    """The footprint's CPU counter: 2 ms per read (one write: 2 ms)."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        self.ns += 2_000_000
        return self.ns


async def test_recovery_drains_and_reports(tmp_path: Path) -> None:
    with Terminal.init(tmp_path / "t", "T", cpu_ns=StepCPU()) as t:
        t.pending = footprint.Pending(every_ms=3_600_000, most=1_000)   # the CPU counts wait in memory throughout
        since = t.journal.clock.now()
        make_reports(t, 3)
        exchanged = []

        async def exchange() -> None:
            exchanged.append(True)
        async with running(tmp_path) as office:
            from continuity.connectors import Connectors
            async with Connectors({"travaux": office.url}) as connectors:
                r = await Recovery(t, Outbox(t), since).run(connectors, exchange=exchange)
        assert exchanged == [True]
        assert r["outbox"]["delivered"] == 3 and r["outbox"]["pending"] == 0
        assert r["offline_cases_by_service"] == {"signalement": 3}
        assert r["offline_acts"] == 4             # the citizen and three cases
        pdf = write_pdf([r], tmp_path / "report.pdf")
        text = PdfReader(pdf).pages[0].extract_text()
        assert "T (" in text and r["state_hash"] in text
        # The footprint of the incident's days: the three reports and their citizen.
        assert r["footprint"]["total"]["cases"] == 3 and r["footprint"]["total"]["events"] == 4
        assert {s["name"]: s["events"] for s in r["footprint"]["services"]}["signalement"] == 3
        # Its CPU time is the pending counts' (three reports: 6 ms), none of them written yet.
        assert {s["name"]: s["cpu_seconds"] for s in r["footprint"]["services"]}["signalement"] == \
            pytest.approx(0.006)
        assert t.conn.execute("SELECT count(*) FROM footprint WHERE cpu_ns > 0").fetchone()[0] == 0
        assert "footprint" in text and f"{r['footprint']['total']['events']} events" in text
        assert report(t, since, {})["outbox"]["by_connector"] == {"travaux": {"sent": 3}}


def test_recovery_refuses_a_damaged_journal(tmp_path: Path) -> None:
    import asyncio
    with Terminal.init(tmp_path / "t", "T") as t:
        make_reports(t, 1)
        t.conn.execute("UPDATE events SET data=replace(data, 'Jeanne', 'Jeannot') WHERE seq=1")
        with pytest.raises(Invalid, match="damaged"):
            asyncio.run(Recovery(t, Outbox(t)).run({}))
