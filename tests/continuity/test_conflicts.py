"""Conflicts after an incident have a person: assigned (an event, replicated),
resolved, listed by `beffroi conflicts`; recovery ends only when each has one.
An accepted merge shows the duplicate's cases and documents under the kept
record; a rejected one changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from continuity import conflicts, transitions
from continuity.outbox import Outbox
from continuity.recovery import Recovery, decide, proposals, report
from hub import access
from hub.clock import FrozenClock
from hub.demo import sample_fields
from hub.errors import Forbidden, Invalid, NotFound
from hub.roles import Principal
from hub.terminal import Terminal

from ..conftest import run_cli
from .conftest import TODAY

TWIN = {"first_name": "Louise", "last_name": "Bernard", "birth_date": "1990-05-06"}
AGENT = Principal.agent("claire")


def _staff(t: Terminal) -> None:
    system = t.session(Principal.system())
    system.agents.enroll("claire", "Claire Moreau", "24681012", "agent")
    system.agents.enroll("paul", "Paul Girard", "13579246", "agent")


def _sync(*terminals: Terminal) -> None:
    for a in terminals:
        for b in terminals:
            if a is not b:
                b.accept(list(a.journal.events()))


def two_offline(tmp_path: Path) -> tuple[Terminal, Terminal, dict, dict]:
    """Two terminals cut off from each other: one case moved on both, one
    person registered on both, each with a case (and a vault document)."""
    # One clock that moves between the two registrations: the record kept is
    # the one registered first, and the same millisecond would leave it to the
    # ids' random bits.
    clock = FrozenClock(dt.datetime.combine(TODAY, dt.time(9), dt.UTC))
    a, b = Terminal.init(tmp_path / "a", "A", clock=clock), Terminal.init(tmp_path / "b", "B", clock=clock)
    a.config["office"] = "accueil"      # what enrolment in an office writes
    _staff(a)
    rng = random.Random(3)
    sa = a.session(AGENT)
    jeanne = sa.citizens.register(first_name="Jeanne", last_name="Martin", birth_date="1970-01-01",
                                  address="3 rue Pasteur", postcode="49000")
    shared = sa.cases.open("encombrants", jeanne["id"], sample_fields("encombrants", rng, jeanne, TODAY))
    _sync(a, b)
    sa.cases.move(shared["id"], "scheduled")
    b.session(AGENT).cases.move(shared["id"], "cancelled")
    keep = sa.citizens.register(**TWIN, postcode="49000", address="5 rue des Écoles")
    clock.advance(60)
    dup = b.session(AGENT).citizens.register(**{**TWIN, "first_name": "LOUISE"}, address="2 place du Ralliement",
                                             postcode="49100")
    sa.cases.open("encombrants", keep["id"], sample_fields("encombrants", rng, keep, TODAY))
    b.session(AGENT).cases.open("signalement", dup["id"], sample_fields("signalement", rng, dup, TODAY))
    b.session(AGENT).vault.deposit(dup["id"], "facture.pdf", b"%PDF-1.4\n% a bill\n%%EOF\n", "domicile")
    _sync(a, b)
    return a, b, keep, dup


def test_conflicts_are_assigned_and_resolved_as_replicated_events(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    with a, b:
        found = conflicts.listing(a.conn)
        assert {c.kind for c in found} == {"case", "merge"} and {c.state for c in found} == {"open"}
        assert conflicts.counts(a.conn) == {"open": 2, "assigned": 0, "resolved": 0}
        case_conflict = next(c for c in found if c.kind == "case")
        merge = next(c for c in found if c.kind == "merge")
        assert merge.id == f"{keep['id']}+{dup['id']}"

        assigned = conflicts.assign(a.session(AGENT), case_conflict.id, "Paul Girard", note="il connaît le dossier")
        assert (assigned.state, assigned.assigned_to, assigned.assigned_by) == ("assigned", "paul", "agent:claire")
        conflicts.assign(a.session(AGENT), merge.id, "office:accueil")
        _sync(a, b)
        assert [c.to_dict() for c in conflicts.listing(b.conn)] == [c.to_dict() for c in conflicts.listing(a.conn)]
        assert [c.id for c in conflicts.listing(b.conn, assigned_to="paul")] == [case_conflict.id]
        # At terminal A (office accueil) an agent sees the office's conflict, Paul his own too;
        # at terminal B (no office) Paul sees only his.
        assert [c.id for c in conflicts.for_agent(a.session(AGENT))] == [merge.id]
        assert {c.id for c in conflicts.for_agent(a.session(Principal.agent("paul")))} == {case_conflict.id, merge.id}
        assert [c.id for c in conflicts.for_agent(b.session(Principal.agent("paul")))] == [case_conflict.id]

        # Reassigning is one more event: the latest wins, everywhere.
        conflicts.assign(b.session(AGENT), case_conflict.id, "claire")
        _sync(a, b)
        assert conflicts.get(a.conn, case_conflict.id).assigned_to == "claire"

        done = conflicts.resolve(b.session(Principal.agent("paul")), case_conflict.id, "gardé le rendez-vous")
        assert (done.state, done.resolution, done.resolved_by) == ("resolved", "gardé le rendez-vous", "agent:paul")
        decided = conflicts.resolve(a.session(AGENT), merge.id, "même personne, pièce d'identité vue", merge="accept")
        assert (decided.state, decided.resolution) == ("resolved", "accepted")
        _sync(a, b)
        assert conflicts.counts(b.conn) == conflicts.counts(a.conn) == {"open": 0, "assigned": 0, "resolved": 2}
        assert a.state_hash() == b.state_hash()
        before = a.state_hash()
        a.rebuild()
        assert a.state_hash() == before          # assignments and merges fold again identically


def test_wrong_assignments_and_resolutions_are_refused_with_nothing_stored(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    with a, b:
        case_conflict = next(c for c in conflicts.listing(a.conn) if c.kind == "case")
        merge = next(c for c in conflicts.listing(a.conn) if c.kind == "merge")
        events, digest = a.journal.count(), a.state_hash()
        refusals = [
            (lambda: conflicts.assign(a.session(AGENT), "nope#1", "claire"), NotFound, "no conflict"),
            (lambda: conflicts.assign(a.session(AGENT), case_conflict.id, "nobody"), Invalid, "neither an enrolled"),
            (lambda: conflicts.assign(a.session(AGENT), case_conflict.id, "office:"), Invalid, "neither"),
            (lambda: conflicts.assign(a.session(Principal.kiosk("k")), case_conflict.id, "claire"), Forbidden, "kiosk"),
            (lambda: conflicts.resolve(a.session(AGENT), merge.id, "vu"), Invalid, "--merge accept"),
            (lambda: conflicts.resolve(a.session(AGENT), case_conflict.id, "vu", merge="accept"), Invalid, "not a merge"),
            (lambda: conflicts.resolve(a.session(AGENT), case_conflict.id, "  "), Invalid, "one line"),
            (lambda: conflicts.resolve(a.session(AGENT), case_conflict.id, "a\nb"), Invalid, "one line"),
        ]
        for call, error, words in refusals:
            with pytest.raises(error, match=words) as caught:
                call()
            assert caught.value.fr                 # every refusal says it in French too
        assert (a.journal.count(), a.state_hash()) == (events, digest)
        conflicts.resolve(a.session(AGENT), case_conflict.id, "vu")
        with pytest.raises(Invalid, match="already resolved"):
            conflicts.assign(a.session(AGENT), case_conflict.id, "claire")


def test_an_accepted_merge_shows_the_duplicates_cases_under_the_kept_record(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    with a, b:
        desk = a.session(AGENT)
        own = {c["id"] for c in desk.cases.for_citizen(keep["id"])}
        theirs = {c["id"] for c in desk.cases.for_citizen(dup["id"])}
        assert len(own) == len(theirs) == 1
        assert len(desk.citizens.search("louise bernard")) == 2
        decide(desk, proposals(a.conn)[0].id, accept=True)
        _sync(a, b)
        for t in (a, b):
            s = t.session(AGENT)
            assert {c["id"] for c in s.cases.for_citizen(keep["id"])} == own | theirs
            assert [d["name"] for d in s.vault.for_citizen(keep["id"])] == ["facture.pdf"]
            assert [c["id"] for c in s.citizens.search("louise bernard")] == [keep["id"]]
            assert s.citizens.get(dup["id"])["merged_into"] == keep["id"]   # kept, marked, never deleted
            assert s.citizens.get(keep["id"])["merged_into"] is None
            exported = access.export(s, keep["id"])          # the right of access covers both records
            assert {c["id"] for c in exported["cases"]} == own | theirs
            assert [d["name"] for d in exported["documents"]] == ["facture.pdf"]
            assert {e["aggregate"] for e in exported["events"]} >= {f"citizen:{keep['id']}", f"citizen:{dup['id']}"}
            assert t.conn.execute("SELECT count(*) FROM events WHERE aggregate=?",
                                  (f"citizen:{dup['id']}",)).fetchone()[0] >= 2
        assert a.state_hash() == b.state_hash()


def test_the_kept_citizen_reads_the_duplicates_documents_at_a_kiosk_only_after_the_merge(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    with a, b:
        [document] = b.session(AGENT).vault.for_citizen(dup["id"])
        kiosk = a.session(Principal.kiosk("borne-1"))
        kiosk.narrow(citizen_id=keep["id"])          # as the citizen card does
        assert kiosk.vault.for_citizen(keep["id"]) == []
        with pytest.raises(Forbidden):
            kiosk.vault.get(document["id"])
        decide(a.session(AGENT), proposals(a.conn)[0].id, accept=True)
        assert [d["id"] for d in kiosk.vault.for_citizen(keep["id"])] == [document["id"]]
        assert kiosk.vault.get(document["id"])["name"] == "facture.pdf"
        stranger = a.session(Principal.kiosk("borne-2"))
        stranger.narrow(citizen_id=dup["id"])        # the merged record's own card reaches nothing more
        with pytest.raises(Forbidden):
            stranger.vault.for_citizen(keep["id"])


def test_a_rejected_merge_changes_nothing(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    with a, b:
        desk = a.session(AGENT)
        own = [c["id"] for c in desk.cases.for_citizen(keep["id"])]
        digest = a.state_hash()
        decide(desk, proposals(a.conn)[0].id, accept=False)
        assert a.state_hash() == digest
        assert [c["id"] for c in desk.cases.for_citizen(keep["id"])] == own
        assert len(desk.citizens.search("louise bernard")) == 2
        assert desk.citizens.get(dup["id"])["merged_into"] is None


def test_recovery_waits_until_every_conflict_has_a_person(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    with a, b:
        ops = a.session(Principal.ops("ops"))
        transitions.move(ops, "isolated", "exercice", order={"id": "local-1", "kind": "local"}, local=True)
        transitions.move(ops, "recovery", "fin d'exercice")
        recovery = Recovery(a, Outbox(a))
        assert recovery.drained() and recovery.finish() == "recovery"     # two conflicts nobody has
        for c in conflicts.listing(a.conn):
            conflicts.assign(a.session(AGENT), c.id, "office:accueil")
        assert recovery.finish() == "online"
        r = report(a, 0, {})
        assert {k: r["conflicts"][k] for k in conflicts.STATES} == {"open": 0, "assigned": 2, "resolved": 0}
        assert {c["assigned_to"] for c in r["conflicts"]["items"]} == {"office:accueil"}


def test_the_conflicts_command(tmp_path: Path) -> None:
    a, b, keep, dup = two_offline(tmp_path)
    a.close()
    b.close()
    home = str(tmp_path / "a")
    listed = run_cli("conflicts", "--home", home, "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["counts"] == {"open": 2, "assigned": 0, "resolved": 0}
    case_id = next(c["id"] for c in data["conflicts"] if c["kind"] == "case")
    merge_id = next(c["id"] for c in data["conflicts"] if c["kind"] == "merge")

    done = run_cli("conflicts", "assign", case_id, "--to", "paul", "--home", home)
    assert done.returncode == 0 and f"conflict {case_id} assigned to paul" in done.stdout
    mine = json.loads(run_cli("conflicts", "--assigned-to", "paul", "--json", "--home", home).stdout)
    assert [c["id"] for c in mine["conflicts"]] == [case_id]
    done = run_cli("conflicts", "resolve", merge_id, "--note", "deux personnes", "--merge", "reject", "--home", home)
    assert done.returncode == 0 and "resolved: rejected" in done.stdout
    text = run_cli("conflicts", "--home", home).stdout
    assert "open 0  assigned 1  resolved 1" in text and "→ paul" in text

    with Terminal.open(tmp_path / "a") as t:
        events = t.journal.count()
    for argv, words in ((("conflicts", "assign", "nope#1", "--to", "paul"), "no conflict nope#1"),
                        (("conflicts", "assign", case_id, "--to", "ghost"), "neither an enrolled agent"),
                        (("conflicts", "resolve", merge_id, "--note", "encore", "--merge", "accept"), "already resolved"),
                        (("conflicts", "--state", "lost"), "invalid choice")):
        refused = run_cli(*argv, "--home", home)
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines()[-1].startswith("beffroi: error:") and words in refused.stderr
    with Terminal.open(tmp_path / "a") as t:
        assert t.journal.count() == events
