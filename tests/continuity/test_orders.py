"""Incident orders: applied at the terminals they name, refused (with nothing
written) when forged, altered, replayed, older, expired or for another city."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from continuity import incident
from continuity.orders import OrderRefused
from continuity.transitions import TransitionRefused
from hub.errors import NotFound
from hub.roles import Principal
from hub.terminal import Terminal

from .conftest import NOW, forged_key, journal_snapshot

LATER = NOW + dt.timedelta(minutes=5)


def test_declare_isolates_only_the_terminal_that_applies_it(city, admin):
    t1, t2 = city.terminal("MAIRIE-01"), city.terminal("MAIRIE-02")
    order = admin.order(ranges={"MAIRIE-01": [1, 500], "MAIRIE-02": [501, 1000]})
    result = incident.apply(t1, order, LATER)
    assert result["mode"] == "isolated" and result["register"]["first"] == 1
    assert t1.mode().name == "isolated" and t1.mode().order_id == result["order"]
    assert t2.mode().name == "online"
    # t1's mode event reaches t2 by replication: t2 knows t1 is isolated, and stays online itself
    city.sync(t1)
    city.sync(t2)
    assert t2.mode().name == "online"
    seen = {row["terminal"]: row["mode"] for row in t2.session(Principal.system()).modes.terminals()}
    assert seen == {t1.id: "isolated"}
    # the same order, applied at t2, isolates t2 with its own range
    assert incident.apply(t2, order, LATER)["register"]["first"] == 501
    event = t2.session(Principal.system()).modes.timeline(t2.id)[-1]
    assert event["order"]["by"] == "DSI Ville de Test" and event["from"] == "online"
    assert event["reason"] == "rançongiciel au centre de données"


def test_end_moves_to_recovery_and_needs_an_incident(city, admin):
    t1 = city.terminal("MAIRIE-01")
    declare = admin.order()
    end = admin.order("end", ends=incident.orders.verify(declare, admin.city, LATER).id)
    with pytest.raises(TransitionRefused):
        incident.apply(t1, end, LATER)
    assert t1.journal.count() == 0
    incident.apply(t1, declare, LATER)
    assert incident.apply(t1, end, LATER)["mode"] == "recovery"
    kinds = [e["order"]["kind"] for e in t1.session(Principal.system()).modes.timeline()]
    assert kinds == ["declare", "end"]


def refused(terminal: Terminal, raw: bytes, now: dt.datetime = LATER, error=OrderRefused) -> str:
    before = journal_snapshot(terminal)
    mode = terminal.mode()
    with pytest.raises(error) as caught:
        incident.apply(terminal, raw, now)
    assert journal_snapshot(terminal) == before and terminal.mode() == mode
    assert caught.value.fr and caught.value.en != caught.value.fr
    return caught.value.en


def test_refusals_change_nothing(city, admin, other_admin):
    t1 = city.terminal("MAIRIE-01")
    first, second = admin.order(), admin.order()
    # forged: right city and fingerprint, wrong key
    assert "not signed by the city admin key" in refused(t1, admin.order(key=forged_key()))
    # another city's valid order
    assert "Ville Voisine" in refused(t1, other_admin.order())
    # expired
    assert "expired" in refused(t1, first, now=NOW + dt.timedelta(days=31))
    # dated in the future
    assert "future" in refused(t1, first, now=NOW - dt.timedelta(hours=1))
    # scope without this terminal
    assert "does not include" in refused(t1, admin.order(scope="terminals:MAIRIE-09"))
    assert "does not include" in refused(t1, admin.order(scope="office:Quartier-Nord"))
    incident.apply(t1, second, LATER)
    # replayed, then older than the one applied
    assert "already applied" in refused(t1, second)
    assert "older" in refused(t1, first)
    assert incident.orders.verify(first, admin.city, LATER).id  # the old one is still well signed


def test_a_terminal_that_never_enrolled_refuses_orders(tmp_path, admin):
    lone = Terminal.init(tmp_path / "lone", "LONE")
    try:
        assert "enrol it first" in refused(lone, admin.order(), error=NotFound)
    finally:
        lone.close()


@pytest.fixture(scope="module")
def signed_order(tmp_path_factory):
    from replication.index import init_city

    from .conftest import Admin
    home = tmp_path_factory.mktemp("city") / "sor"
    init_city(home, "Ville de Test", shares=2, threshold=2)
    admin = Admin(home)
    return admin, admin.order(ranges={"MAIRIE-01": [1, 10]})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_is_refused(signed_order, data):
    """Property: whatever byte of a valid order changes, to whatever value, the
    terminal refuses it (the verification is what apply runs before writing)."""
    admin, raw = signed_order
    position = data.draw(st.integers(0, len(raw) - 1), "position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != raw[position]), "value")
    tampered = raw[:position] + bytes([value]) + raw[position + 1:]
    with pytest.raises(OrderRefused):
        incident.orders.verify(tampered, admin.city, LATER)
    assert incident.orders.verify(raw, admin.city, LATER).id  # and the original still holds


def test_truncated_or_extended_orders_are_refused(signed_order):
    admin, raw = signed_order
    for bad in (raw[:-2], raw[:10], b"", raw + b" ", raw.rstrip(b"\n") + b"\n\n", b"\xff" + raw):
        with pytest.raises(OrderRefused):
            incident.orders.verify(bad, admin.city, LATER)


def test_isolate_here_is_for_ops_only_and_recorded_as_local(city):
    t1 = city.terminal("MAIRIE-01")
    with pytest.raises(OrderRefused):
        incident.isolate_here(t1, Principal.agent("claire"), "panne réseau", LATER)
    assert t1.journal.count() == 0
    result = incident.isolate_here(t1, Principal.ops("luc"), "panne réseau", LATER, new_id=lambda: "LOCAL-1")
    assert result["mode"] == "isolated" and result["order"] == "LOCAL-1"
    last = t1.session(Principal.system()).modes.timeline()[-1]
    assert last["local"] is True and last["actor"] == "ops:luc" and last["order"]["kind"] == "local"
    # no range from an order: local numbers, unique with the terminal's name on each line
    assert t1.mode().register_first == 1
