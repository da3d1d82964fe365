"""The event journal: hash chain, verify, and merging other terminals' events."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import journal
from hub.journal import COLUMNS, Event, ForkError, JournalError
from hub.roles import Principal
from hub.terminal import Terminal


def _fill(desk, n: int = 5) -> None:
    for i in range(n):
        desk.citizens.register(first_name=f"Jean{i}", last_name="Martin", birth_date="1970-01-01")


def _db(terminal: Terminal) -> sqlite3.Connection:
    return sqlite3.connect(terminal.home / "journal.db")


def test_events_are_chained_and_gapless(desk):
    _fill(desk, 4)
    events = list(desk.terminal.journal.events(desk.terminal.id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev == journal.GENESIS
    for before, after in zip(events, events[1:]):
        assert after.prev == before.hash
        assert after.hlc > before.hlc
    assert all(e.hash == e.computed_hash() for e in events)
    assert desk.terminal.verify() is None


def _tampered(desk, *statements: str):
    """Fill the journal, edit its file behind the hub's back, and verify."""
    _fill(desk)
    with _db(desk.terminal) as db:
        for statement in statements:
            db.execute(statement)
    problem = desk.terminal.verify()
    assert problem is not None
    return problem


def test_verify_names_an_edited_event(desk):
    problem = _tampered(desk, "UPDATE events SET data = replace(data, 'Jean2', 'Jean9') WHERE data LIKE '%Jean2%'")
    assert problem.seq == 4 and "hash" in problem.reason


def test_verify_names_a_deleted_event(desk):
    problem = _tampered(desk, "DELETE FROM events WHERE seq = 3")
    assert problem.seq == 4 and "expected #3" in problem.reason


def test_verify_sees_the_newest_events_deleted(desk):
    assert "missing" in _tampered(desk, "DELETE FROM events WHERE seq >= 5").reason


def test_verify_names_reordered_events(desk):
    problem = _tampered(desk, "UPDATE events SET seq = -1 WHERE seq = 3", "UPDATE events SET seq = 3 WHERE seq = 4",
                        "UPDATE events SET seq = 4 WHERE seq = -1")
    assert problem.seq == 3


def test_verify_names_an_inserted_event(desk):
    _fill(desk)
    origin = desk.terminal.id
    with _db(desk.terminal) as db:
        row = db.execute("SELECT * FROM events WHERE origin=? AND seq=6", (origin,)).fetchone()
        # Make room at #3 (through negative numbers, as the key is unique).
        db.execute("UPDATE events SET seq = -(seq + 1) WHERE seq >= 3 AND origin=?", (origin,))
        db.execute("UPDATE events SET seq = -seq WHERE seq < 0")
        db.execute("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", (row[0], 3, *row[2:]))
        db.execute("UPDATE heads SET seq = seq + 1")
    problem = desk.terminal.verify()
    assert problem is not None and problem.seq == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_found(tmp_path_factory, data):
    home = tmp_path_factory.mktemp("home")
    with Terminal.init(home, "T1") as terminal:
        desk = terminal.session(Principal.system())
        c = desk.citizens.register(first_name="Zoé", last_name="Côté", birth_date="1990-05-01")
        desk.cases.open("signalement", c["id"], {"category": "eclairage", "location": "48.85,2.35",
                                                 "description": "Lampadaire éteint"})
        rows = terminal.conn.execute("SELECT origin, seq FROM events").fetchall()
    origin, seq = data.draw(st.sampled_from(rows))
    column = data.draw(st.sampled_from(COLUMNS))
    db = sqlite3.connect(home / "journal.db")
    db.text_factory = bytes
    value = db.execute(f"SELECT {column} FROM events WHERE origin=? AND seq=?", (origin, seq)).fetchone()[0]
    if isinstance(value, int):
        new = value ^ (1 << data.draw(st.integers(0, 7)))
    else:
        raw = bytearray(value)
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[at]))
        new = bytes(raw)
    try:
        with db:
            db.execute(f"UPDATE events SET {column}=? WHERE origin=? AND seq=?", (new, origin, seq))
    except sqlite3.IntegrityError:
        return  # the database itself refused the change (duplicate key): nothing to verify
    db.close()
    assert journal.verify(str(home / "journal.db")) is not None


def _other_terminal(tmp_path, name="MAIRIE-02"):
    t = Terminal.init(tmp_path / name, name)
    s = t.session(Principal.system())
    c = s.citizens.register(first_name="Léa", last_name="Petit", birth_date="2001-02-03")
    s.cases.open("signalement", c["id"], {"category": "chaussee", "location": "12 rue Pasteur",
                                          "description": "Nid-de-poule"})
    return t


def test_accept_is_idempotent_and_folds(terminal, tmp_path):
    other = _other_terminal(tmp_path)
    events = list(other.journal.events(other.id))
    assert len(terminal.accept(events)) == len(events)
    digest = terminal.state_hash()
    assert terminal.accept(events) == []
    assert terminal.state_hash() == digest
    assert terminal.rebuild() == len(events)
    assert terminal.state_hash() == digest == other.state_hash()
    assert terminal.verify() is None


def test_accept_refuses_a_fork_and_stores_nothing(terminal, tmp_path):
    other = _other_terminal(tmp_path)
    events = list(other.journal.events(other.id))
    terminal.accept(events)
    forged = Event(**{**events[1].body(), "data": {**events[1].data, "service": "encombrants"}})
    forged = Event(**{**forged.body(), "hash": forged.computed_hash()})
    before = terminal.journal.count()
    with pytest.raises(ForkError):
        terminal.accept([forged])
    assert terminal.journal.count() == before


def test_accept_refuses_tampered_gapped_and_self_events(terminal, tmp_path):
    other = _other_terminal(tmp_path)
    events = list(other.journal.events(other.id))
    tampered = Event(**{**events[0].to_dict(), "actor": "agent:mallory"})
    with pytest.raises(JournalError, match="does not match its hash"):
        terminal.accept([tampered])
    with pytest.raises(JournalError, match="gap"):
        terminal.accept(events[1:])
    own = Event(**{**events[0].body(), "origin": terminal.id})
    own = Event(**{**own.body(), "hash": own.computed_hash()})
    with pytest.raises(ForkError):
        terminal.accept([own])
    assert terminal.journal.count() == 0


def test_event_from_untrusted_dict_is_strict():
    good = {"origin": "A", "seq": 1, "hlc": 5, "actor": "agent:x", "type": "t", "aggregate": "a",
            "data": {}, "prev": "0" * 64, "hash": "h"}
    assert Event.from_dict(good).seq == 1
    for bad in ({**good, "seq": "1"}, {**good, "seq": True}, {**good, "data": []}, {**good, "extra": 1},
                {k: v for k, v in good.items() if k != "hash"}, {**good, "origin": ""}, [good]):
        with pytest.raises(JournalError):
            Event.from_dict(bad)


def test_hlc_moves_past_remote_events(terminal, tmp_path):
    other = _other_terminal(tmp_path)
    events = list(other.journal.events(other.id))
    future = max(e.hlc for e in events)
    terminal.accept(events)
    s = terminal.session(Principal.system())
    s.citizens.register(first_name="Noël", last_name="Roux", birth_date="1960-12-25")
    mine = list(terminal.journal.events(terminal.id))
    assert mine[-1].hlc > future


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)),
    actor=st.text(min_size=1, max_size=10), hlc=st.integers(0, 2**62))
def test_fast_canonical_text_is_canonical_json_of_the_body(data, actor, hlc):
    from hub import canonical
    event = Event("T\u00e9", 3, hlc, actor, "case.opened", "case:\u2603", data, "0" * 64)
    assert event.canonical_text() == canonical.dumps(event.body())
