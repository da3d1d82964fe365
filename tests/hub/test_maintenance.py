"""Taking a kiosk out of service is IT staff's act, and a journal event."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import Forbidden, Invalid
from hub.roles import Principal
from hub.terminal import Terminal


@pytest.fixture
def terminal(tmp_path: Path):
    with Terminal.init(tmp_path / "home", "BORNE-HALL") as terminal:
        system = terminal.session(Principal.system())
        system.agents.enroll("ops", "Julien Faure", "135790", "ops")
        system.agents.enroll("claire", "Claire Moreau", "246810", "agent")
        yield terminal


def events(terminal) -> list:
    return [e for e in terminal.journal.events() if e.type == "kiosk.maintenance_opened"]


def test_an_ops_principal_leaving_a_kiosk_is_journalled(terminal):
    ops = terminal.session(Principal.system()).agents.login("ops", "135790")
    before = terminal.state_hash()
    record = terminal.session(ops).maintenance.leave_kiosk("BORNE-HALL", "pin")
    [event] = events(terminal)
    assert event.actor == "ops:ops" and event.aggregate == f"terminal:{terminal.id}"
    assert event.data == {"kiosk": "BORNE-HALL", "method": "pin", "by": "ops"}
    assert record["seq"] == event.seq
    # A record, not state: the projections (and their hash) do not change, rebuilt or not.
    assert terminal.state_hash() == before
    terminal.rebuild()
    assert terminal.state_hash() == before
    assert terminal.verify() is None     # the chain, with the new event, is intact


@pytest.mark.parametrize("principal,error,code", [
    (Principal.agent("claire"), Forbidden, "not_ops"),
    (Principal.kiosk("BORNE-HALL"), Forbidden, "not_ops"),
    (Principal.system(), Forbidden, "not_ops"),
])
def test_no_one_but_ops_takes_a_kiosk_out_of_service(terminal, principal, error, code):
    with pytest.raises(error) as refused:
        terminal.session(principal).maintenance.leave_kiosk("BORNE-HALL", "pin")
    assert refused.value.code == code and "ops" in refused.value.fr
    assert events(terminal) == []


@pytest.mark.parametrize("kiosk,method", [("BORNE-HALL", "password"), ("", "pin"), ("../etc", "card")])
def test_bad_maintenance_records_are_refused(terminal, kiosk, method):
    with pytest.raises(Invalid):
        terminal.session(Principal.ops("ops")).maintenance.leave_kiosk(kiosk, method)
    assert events(terminal) == []
