"""Queue tickets while isolated: each terminal numbers them from the ticket
range the incident order (or its enrolment grant) gave it, so two kiosks of
one office cut off from each other never hand out the same number; a range
running low warns, an exhausted one refuses with nothing stored."""

from __future__ import annotations

import datetime as dt
import json
import random
from contextlib import ExitStack

import pytest
from pypdf import PdfReader

from continuity import incident
from hub.mode import TicketRangeExhausted
from hub.roles import Principal
from tests.conftest import run_cli

from .conftest import NOW

LATER = NOW + dt.timedelta(minutes=5)
TICKETS = {"KIOSQUE-01": [100, 499], "KIOSQUE-02": [500, 899], "ACCUEIL-03": [900, 1299]}


def kiosk(terminal):
    return terminal.session(Principal.kiosk(terminal.name)).queue


def test_three_terminals_issue_interleaved_tickets_without_a_duplicate(city, admin):
    terminals = [city.terminal(name) for name in TICKETS]
    families = list(terminals[0].catalog.families)
    rng = random.Random(12)
    online = kiosk(terminals[0]).issue("E")
    assert online["number"] == 1 and online["label"] == "E001"   # online: daily numbers, as before
    order = admin.order(tickets=TICKETS)
    for t in terminals:
        incident.apply(t, order, LATER)
    schedule = [i for i in range(3) for _ in range(300)]
    rng.shuffle(schedule)
    with ExitStack() as stack:
        for t in terminals:
            stack.enter_context(t.group())
        for i in schedule:
            kiosk(terminals[i]).issue(rng.choice(families))
    for t in terminals:
        city.sync(t)
    city.sync(terminals[0])
    conn = terminals[0].conn
    assert conn.execute("SELECT count(*) FROM queue_tickets").fetchone()[0] == 901
    assert conn.execute("SELECT count(*) FROM (SELECT number FROM queue_tickets WHERE ranged=1 GROUP BY number"
                        " HAVING count(*) > 1)").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM (SELECT label FROM queue_tickets GROUP BY day, label"
                        " HAVING count(*) > 1)").fetchone()[0] == 0
    for t in terminals:
        first, last = TICKETS[t.name]
        numbers = [n for (n,) in conn.execute("SELECT number FROM queue_tickets WHERE origin=? AND ranged=1"
                                              " ORDER BY number", (t.id,))]
        assert numbers == list(range(first, first + 300))   # gapless inside its range
        assert t.mode().tickets_left == last - first + 1 - 300 and not t.mode().tickets_low


def test_a_ticket_range_running_out_warns_then_refuses_with_nothing_stored(city, admin):
    t = city.terminal("KIOSQUE-01")
    incident.apply(t, admin.order(tickets={"KIOSQUE-01": [700, 730]}), LATER)
    queue = kiosk(t)
    for _ in range(20):
        queue.issue("E")
    assert not t.mode().tickets_low and t.mode().tickets_left == 11
    queue.issue("U")
    assert t.mode().tickets_low   # 10 left: the banner and `beffroi mode` warn
    shown = run_cli("mode", "--json", home=t.home)
    assert json.loads(shown.stdout)["tickets"] == {"first": 700, "last": 730, "next": 721, "left": 10, "low": True}
    assert "queue tickets: numbers 700–730, next 721, 10 left — LOW" in run_cli("mode", home=t.home).stdout
    while t.mode().tickets_left:
        queue.issue("S")
    before = t.journal.count(), t.state_hash()
    with pytest.raises(TicketRangeExhausted) as caught:
        queue.issue("E")
    assert "700–730" in caught.value.en and "aucun ticket" in caught.value.fr
    assert (t.journal.count(), t.state_hash()) == before
    refused = run_cli("queue", "issue", "E", home=t.home)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("beffroi: error: ") and refused.stderr.count("\n") == 1
    assert (t.journal.count(), t.state_hash()) == before
    # a newer order with a new range: tickets again, never a number used before
    incident.apply(t, admin.order(tickets={"KIOSQUE-01": [2000, 2999]}), LATER)
    assert queue.issue("E")["label"] == "E2000"
    labels = [r for (r,) in t.conn.execute("SELECT label FROM queue_tickets")]
    assert len(labels) == len(set(labels)) == 32


def test_the_api_refuses_an_exhausted_range_with_the_reason(city, admin):
    import requests

    from api import keys
    from tests.api.conftest import Running, auth
    t = city.terminal("KIOSQUE-02")
    incident.apply(t, admin.order(tickets={"KIOSQUE-02": [5, 5]}), LATER)
    api_key = keys.create(t.conn, "test-kiosk", "kiosk")["api_key"]
    server = Running(t.home)
    try:
        url = f"{server.url}/api/v1/queue/tickets"
        first = requests.post(url, json={"family": "E"}, headers=auth(api_key), timeout=10)
        assert first.status_code == 201 and first.json()["label"] == "E005"
        before = t.journal.count(), t.state_hash()
        again = requests.post(url, json={"family": "E"}, headers=auth(api_key), timeout=10)
        assert again.status_code == 409 and again.json()["error"]["code"] == "ticket_range_exhausted"
        assert "aucun ticket" in again.json()["error"]["fr"] and "5–5" in again.json()["error"]["en"]
        assert (t.journal.count(), t.state_hash()) == before
    finally:
        server.stop()


def test_without_a_ticket_range_tickets_keep_the_daily_numbers_and_mode_says_so(terminal):
    incident.isolate_here(terminal, Principal.ops("luc"), "panne", NOW)
    assert kiosk(terminal).issue("E")["label"] == "E001" and terminal.mode().tickets_left is None
    assert "no ticket range" in run_cli("mode", home=terminal.home).stdout


def test_the_declare_command_puts_ticket_ranges_in_the_order(sor_home, tmp_path):
    out = tmp_path / "usb" / "incident.json"
    missing = run_cli("incident", "declare", "--admin", str(sor_home / "admin"), "--reason", "r", "--out", str(out))
    assert missing.returncode == 2 and "not a folder" in missing.stderr
    out.parent.mkdir()
    done = run_cli("incident", "declare", "--admin", str(sor_home / "admin"), "--reason", "rançongiciel",
                   "--range", "K1=1-100", "--tickets", "K1=100-499", "--tickets", "K2=500-899", "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_bytes())["doc"]
    assert doc["tickets"] == {"K1": [100, 499], "K2": [500, 899]} and doc["ranges"] == {"K1": [1, 100]}
    for bad in (["--tickets", "K1=100-499", "--tickets", "K2=499-600"], ["--tickets", "K1=9-1"],
                ["--tickets", "K1"], ["--tickets", "K1=1-100", "--tickets", "K1=200-300"]):
        refused = run_cli("incident", "declare", "--admin", str(sor_home / "admin"), "--reason", "r",
                          "--out", str(tmp_path / "bad.json"), *bad)
        assert refused.returncode == 2 and refused.stderr.startswith("beffroi: error: --tickets") \
            or "overlap" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1 and not (tmp_path / "bad.json").exists()


def test_the_printed_ticket_shows_the_ranged_number(city, admin):
    from tui.ticket import render_ticket
    t = city.terminal("KIOSQUE-01")
    incident.apply(t, admin.order(tickets={"KIOSQUE-01": [100, 499]}), LATER)
    ticket = kiosk(t).issue("V")
    pdf = t.home / "ticket.pdf"
    pdf.write_bytes(render_ticket(t, ticket, 0))
    text = PdfReader(str(pdf)).pages[0].extract_text()
    assert "V100" in text and t.name in text
