"""Number ranges in the enrolment grant: the admin signs them into the
terminal's certificate (`sor approve --register-range/--ticket-range`), the
terminal pins them with the device list at sync, and an isolate order that
gives no range — notably the ops agent's local order — falls back on them. An
edited grant is refused, at the SoR's feed and in the terminal's own store."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from continuity import incident
from continuity.orders import OrderRefused
from hub.errors import HubError
from hub.roles import Principal
from replication import keys
from replication.local import Local
from tests.conftest import run_cli

from .conftest import NOW

LATER = NOW + dt.timedelta(minutes=5)


def approve(city, t, *ranges: str):
    device = city.index().device(t.id)
    shown = keys.fingerprint(keys.unb64(device["sign_pub"]))
    return run_cli("sor", "approve", t.name, "--fingerprint", shown, *ranges, home=city.sor_home)


@pytest.fixture
def granted(city):
    """A terminal approved with both ranges, synced once (it pinned its grant)."""
    t = city.terminal("MAIRIE-01", approve=False)
    done = approve(city, t, "--register-range", "1-5000", "--ticket-range", "100-499", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ranges"] == {"register": [1, 5000], "tickets": [100, 499]}
    city.sync(t)
    return t


def test_a_local_order_uses_the_ranges_of_the_grant(granted):
    incident.isolate_here(granted, Principal.ops("luc"), "rançongiciel", NOW)
    mode = granted.mode()
    assert (mode.register_first, mode.register_last, mode.tickets_first, mode.tickets_last) == (1, 5000, 100, 499)
    assert granted.session(Principal.kiosk("k")).queue.issue("E")["label"] == "E100"


def test_an_order_without_ranges_falls_back_on_the_grant_and_one_with_ranges_wins(city, admin, granted):
    incident.apply(granted, admin.order(), LATER)
    assert (granted.mode().register_first, granted.mode().tickets_first) == (1, 100)
    incident.apply(granted, admin.order(ranges={"MAIRIE-01": [7000, 7999]}, tickets={"MAIRIE-01": [800, 899]}),
                   LATER)
    assert (granted.mode().register_first, granted.mode().tickets_first) == (7000, 800)


def test_overlapping_or_malformed_grant_ranges_are_refused_and_the_terminal_stays_pending(city, granted):
    t = city.terminal("MAIRIE-02", approve=False)
    for bad, said in ((["--ticket-range", "450-600"], "overlaps terminal MAIRIE-01"),
                      (["--register-range", "5000-6000"], "overlaps terminal MAIRIE-01"),
                      (["--ticket-range", "600"], "--ticket-range takes FIRST-LAST"),
                      (["--register-range", "9-1"], "--register-range takes FIRST-LAST")):
        refused = approve(city, t, *bad)
        assert refused.returncode == 2 and said in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
        assert city.index().device(t.id)["status"] == "pending"
    assert approve(city, t, "--ticket-range", "500-899").returncode == 0


def test_a_grant_edited_in_the_terminal_store_is_refused_and_nothing_changes(granted):
    local = Local(granted.home)
    listing = local.get("devices")
    [mine] = [d for d in listing["devices"] if d["id"] == granted.id]
    mine["certificate"]["doc"]["ranges"]["tickets"] = [1, 999_999]   # a wider range, as an intruder would like
    local.set("devices", listing)
    local.close()
    before = granted.journal.count(), granted.state_hash()
    with pytest.raises(OrderRefused) as caught:
        incident.isolate_here(granted, Principal.ops("luc"), "rançongiciel", NOW)
    assert "not the one the city admin signed" in caught.value.en and "modifiée" in caught.value.fr
    assert (granted.journal.count(), granted.state_hash()) == before and granted.mode().name == "online"


def test_a_grant_edited_at_the_sor_is_refused_at_sync_and_the_pinned_one_kept(city, granted):
    pinned = Local(granted.home)
    kept = pinned.get("devices")
    pinned.close()
    conn = sqlite3.connect(city.sor_home / "index.db")
    (text,) = conn.execute("SELECT certificate FROM devices WHERE id=?", (granted.id,)).fetchone()
    cert = json.loads(text)
    cert["doc"]["ranges"]["register"] = [1, 9_999_999]
    with conn:
        conn.execute("UPDATE devices SET certificate=? WHERE id=?", (json.dumps(cert), granted.id))
    conn.close()
    with pytest.raises(HubError) as caught:
        city.sync(granted)
    assert "not signed by the city admin key" in caught.value.en
    local = Local(granted.home)
    assert local.get("devices") == kept
    local.close()
    incident.isolate_here(granted, Principal.ops("luc"), "rançongiciel", NOW)
    assert granted.mode().register_last == 5000
