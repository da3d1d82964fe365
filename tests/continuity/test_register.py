"""Offline numbering from ranges given in the incident order, and the
numbered register PDF read back with pypdf."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from pypdf import PdfReader

from continuity import incident, register
from hub.demo import sample_fields
from hub.mode import RangeExhausted
from hub.roles import Principal
from tests.conftest import run_cli

from .conftest import NOW, agent_session

LATER = NOW + dt.timedelta(minutes=5)
TODAY = dt.date.today()
SPLIT = {"MAIRIE-01": [1, 1200], "MAIRIE-02": [1201, 2400], "MAIRIE-03": [2401, 3600]}


class Counter:
    """One terminal's agent serving citizens: case openings and payments."""

    def __init__(self, terminal, rng: random.Random) -> None:
        self.terminal, self.rng = terminal, rng
        self.desk = agent_session(terminal)
        self.citizen = self.desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                                   address="3 rue Pasteur", postcode="49000")
        self.bill = None

    def act(self) -> None:
        if self.bill is not None and self.rng.random() < 0.3:
            self.desk.payments.take(self.bill["id"], 100, "cash")
            return
        code = self.rng.choice(["signalement", "encombrants", "acte-naissance", "facture-municipale"])
        case = self.desk.cases.open(code, self.citizen["id"], sample_fields(code, self.rng, self.citizen, TODAY))
        if code == "facture-municipale":
            self.bill = case


def test_three_terminals_never_share_a_number(city, admin):
    terminals = [city.terminal(name) for name in SPLIT]
    order = admin.order(ranges=SPLIT)
    rng = random.Random(11)
    counters = [Counter(t, rng) for t in terminals]
    for t in terminals:
        incident.apply(t, order, LATER)
    schedule = [i for i in range(3) for _ in range(1000)]
    rng.shuffle(schedule)   # random interleaving of the three counters' acts
    for start in range(0, len(schedule), 100):
        for i in schedule[start:start + 100]:
            counters[i].act()
    for t in terminals:
        city.sync(t)
    city.sync(terminals[0])
    conn = terminals[0].conn
    assert conn.execute("SELECT count(*) FROM register").fetchone()[0] == 3000
    assert conn.execute("SELECT count(*) FROM (SELECT number FROM register GROUP BY number HAVING count(*) > 1)"
                        ).fetchone()[0] == 0
    for t in terminals:
        first, last = SPLIT[t.name]
        numbers = [n for (n,) in conn.execute("SELECT number FROM register WHERE origin=? ORDER BY number", (t.id,))]
        assert numbers == list(range(first, first + 1000))   # gapless inside its range
        assert t.mode().register_left == last - first + 1 - 1000


def test_a_range_running_out_warns_then_refuses_cleanly(city, admin):
    t = city.terminal("MAIRIE-01")
    counter = Counter(t, random.Random(3))
    incident.apply(t, admin.order(ranges={"MAIRIE-01": [40, 52]}), LATER)
    for _ in range(2):
        counter.act()
    assert not t.mode().register_low
    while t.mode().register_left:
        counter.act()
    assert t.mode().register_low and t.mode().register_next == 53
    before = t.journal.count(), t.state_hash()
    with pytest.raises(RangeExhausted) as caught:
        counter.desk.cases.open("signalement", counter.citizen["id"],
                                sample_fields("signalement", random.Random(1), counter.citizen, TODAY))
    assert "no number is ever reused" in caught.value.en and "aucun numéro" in caught.value.fr
    assert (t.journal.count(), t.state_hash()) == before
    # a newer order with a new range lets the counter serve again
    incident.apply(t, admin.order(ranges={"MAIRIE-01": [900, 999]}), LATER)
    counter.act()
    assert t.conn.execute("SELECT max(number) FROM register").fetchone()[0] == 900


def test_receipts_keep_their_gapless_terminal_numbers(terminal):
    counter = Counter(terminal, random.Random(5))
    case = counter.desk.cases.open("facture-municipale", counter.citizen["id"],
                                   sample_fields("facture-municipale", random.Random(5), counter.citizen, TODAY))
    counter.desk.payments.take(case["id"], 100, "cash")
    incident.isolate_here(terminal, Principal.ops("luc"), "panne", NOW)
    paid = counter.desk.payments.take(case["id"], 100, "card")
    assert paid["receipt_number"] == "MAIRIE-01-000002"


def pdf_text(path) -> tuple[str, int]:
    reader = PdfReader(str(path))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def test_register_pdf_lists_every_isolated_act_in_order_with_the_head_hash(terminal, tmp_path):
    counter = Counter(terminal, random.Random(8))
    counter.act()                       # online: not in the register
    incident.isolate_here(terminal, Principal.ops("luc"), "rançongiciel", NOW)
    for _ in range(150):                # several pages
        counter.act()
    info = register.print_register(terminal, tmp_path / "register.pdf")
    text, pages = pdf_text(tmp_path / "register.pdf")
    seq, head_hash = terminal.journal.heads()[terminal.id]
    assert info["acts"] == 150 and info["pages"] == pages > 1 and info["head"] == head_hash
    assert head_hash in text.replace("\n", "") and f"#{seq}" in text
    assert f"Page {pages}/{pages}" in text and "Signature de l'agent" in text
    numbers = [int(m) for m in re.findall(r"^\s*(\d+) \d{4}-\d\d-\d\d \d\d:\d\d", text, re.M)]
    assert numbers == list(range(1, 151))
    paid = terminal.conn.execute("SELECT coalesce(sum(amount_cents), 0) FROM register").fetchone()[0]
    assert info["total_cents"] == paid and f"total {register.euros(paid)} EUR" in text
    tracking = terminal.conn.execute("SELECT tracking_code FROM cases c JOIN register r ON r.case_id = c.id"
                                     " ORDER BY r.number LIMIT 1").fetchone()[0]
    assert f"{tracking[:4]}-{tracking[4:]}" in text


def test_register_print_cli(tmp_path, terminal):
    counter = Counter(terminal, random.Random(9))
    incident.isolate_here(terminal, Principal.ops("luc"), "rançongiciel", NOW)
    counter.act()
    home = terminal.home
    out = tmp_path / "r.pdf"
    done = run_cli("register", "print", "--out", str(out), "--day", dt.date.today().isoformat(), "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert pdf_text(out)[0].count("Hélène Dupont") == 1
    bad = run_cli("register", "print", "--day", "30/11/2026", home=home)
    assert bad.returncode == 2 and bad.stderr.startswith("beffroi: error: --day")
    yesterday = run_cli("register", "print", "--out", str(tmp_path / "y.pdf"), "--json",
                        "--day", (dt.date.today() - dt.timedelta(days=1)).isoformat(), home=home)
    assert '"acts": 0' in yesterday.stdout
