"""Any sequence of valid commands, then a rebuild, gives the same state-hash."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.demo import FIRST, LAST, sample_fields
from hub.errors import HubError
from hub.roles import Principal
from hub.terminal import Terminal

SERVICES = ["encombrants", "acte-naissance", "signalement", "facture-municipale", "inscription-scolaire",
            "declaration-prealable", "coffre-fort"]

command = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(FIRST), st.sampled_from(LAST), st.integers(0, 20000)),
    st.tuples(st.just("open"), st.sampled_from(SERVICES), st.integers(0, 50), st.integers(0, 10**6)),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 5)),
    st.tuples(st.just("edit"), st.integers(0, 50), st.sampled_from(LAST)),
    st.tuples(st.just("pay"), st.integers(0, 50), st.integers(1, 20000), st.sampled_from(["cash", "card", "cheque"])),
    st.tuples(st.just("note"), st.integers(0, 50), st.text(min_size=1, max_size=40)),
    st.tuples(st.just("ticket"), st.sampled_from("EUVSPD")),
    st.tuples(st.just("call"),),
)


def _run(session, cmd, people, cases) -> None:
    kind = cmd[0]
    if kind == "register":
        born = dt.date(1940, 1, 1) + dt.timedelta(days=cmd[3])
        people.append(session.citizens.register(first_name=cmd[1], last_name=cmd[2], birth_date=born.isoformat())["id"])
    elif kind == "open" and people:
        person = session.citizens.get(people[cmd[2] % len(people)])
        fields = sample_fields(cmd[1], random.Random(cmd[3]), {**person, "address": "1 rue Pasteur"}, dt.date.today())
        cases.append(session.cases.open(cmd[1], person["id"], fields)["id"])
    elif kind == "move" and cases:
        case = session.cases.get(cases[cmd[1] % len(cases)])
        if case["allowed"]:
            session.cases.move(case["id"], case["allowed"][cmd[2] % len(case["allowed"])])
    elif kind == "edit" and people:
        session.citizens.edit(people[cmd[1] % len(people)], last_name=cmd[2])
    elif kind == "pay" and cases:
        session.payments.take(cases[cmd[1] % len(cases)], cmd[2], cmd[3])
    elif kind == "note" and cases and cmd[2].strip():
        session.cases.note(cases[cmd[1] % len(cases)], cmd[2])
    elif kind == "ticket":
        session.queue.issue(cmd[1])
    elif kind == "call":
        session.queue.call_next()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=st.lists(command, min_size=1, max_size=30))
def test_rebuild_gives_the_same_state_hash(tmp_path_factory, commands):
    with Terminal.init(tmp_path_factory.mktemp("home"), "T1") as terminal:
        session = terminal.session(Principal.agent("claire"))
        people: list[str] = []
        cases: list[str] = []
        for cmd in commands:
            try:
                _run(session, cmd, people, cases)
            except HubError:
                pass  # a refused command writes nothing; the hash must still hold
        before = terminal.state_hash()
        terminal.rebuild()
        assert terminal.state_hash() == before
        assert terminal.verify() is None
