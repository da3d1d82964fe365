"""Fixtures for the counter and kiosk apps: a small city built through the hub
with frozen randomness and a frozen clock, so every screenshot is the same on
every run and every machine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub.clock import SeededEntropy
from hub.roles import Principal
from hub.terminal import Terminal

# Monday 2 March 2026, 09:00 in Angers (08:00 UTC): data is made from here on.
EPOCH = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
# What the apps' clocks say while the screenshots are taken.
NOW = EPOCH + dt.timedelta(hours=3)
SIZE = (110, 34)


class TickingClock:
    """The terminals' clock in these tests: it starts at EPOCH and ticks one
    second per read, so every event has its own time; its monotonic side moves
    only when a test says so (the kiosk's idle delay)."""

    def __init__(self) -> None:
        self.tick = 0
        self.mono = 0.0

    def time(self) -> float:
        self.tick += 1
        return EPOCH.timestamp() + self.tick

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.mono += seconds


class StepCPU:
    """The footprint's CPU counter in these tests: a quarter millisecond per read."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        self.ns += 250_000
        return self.ns


class FrozenWorld:
    """Seeded ids and tracking codes and a ticking clock, injected into every
    terminal and app of a test (``Terminal.init(..., **world.terminal)``,
    ``CounterApp(home, **world.app)``)."""

    def __init__(self, seed: int = 1789) -> None:
        self.clock = TickingClock()
        self.entropy = SeededEntropy(seed)
        self.cpu = StepCPU()

    @property
    def terminal(self) -> dict:
        return {"clock": self.clock, "entropy": self.entropy, "cpu_ns": self.cpu}

    @property
    def app(self) -> dict:
        return {"terminal_clock": self.clock, "entropy": self.entropy}


PEOPLE = [
    dict(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12", postcode="49000",
         phone="06 12 34 56 78", address="3 rue Pasteur", email="helene.dupont@exemple.fr"),
    dict(first_name="Jean", last_name="Dupont", birth_date="1950-07-01", postcode="49100",
         phone="06 98 76 54 32", address="12 avenue Jean-Jaurès"),
    dict(first_name="Karim", last_name="Benali", birth_date="1992-11-30", postcode="49000",
         phone="07 11 22 33 44", address="8 place de la Mairie"),
]


def build_city(home: Path, world: FrozenWorld | None = None) -> dict:
    """A terminal home with agents, citizens, cases in several states, a
    payment, a vault document, waiting tickets and one replication conflict."""
    world = world or FrozenWorld()
    with Terminal.init(home, "MAIRIE-01", "Ville d'Angers", **world.terminal) as terminal:
        system = terminal.session(Principal.system())
        system.agents.enroll("agent", "Claire Moreau", "246810", "agent")
        system.agents.enroll("ops", "Julien Faure", "135790", "ops")
        desk = terminal.session(Principal.agent("agent"))
        people = [desk.citizens.register(**p) for p in PEOPLE]
        helene = people[0]
        report = desk.cases.open("signalement", helene["id"], {
            "category": "eclairage", "location": "3 rue Pasteur", "description": "Lampadaire éteint"})
        desk.cases.note(report["id"], "Signalé aussi par un voisin.")
        birth = desk.cases.open("acte-naissance", helene["id"], {
            "last_name": "Dupont", "first_names": "Hélène", "birth_date": "1985-03-12",
            "copy_kind": "integrale", "relationship": "titulaire", "delivery": "guichet"})
        desk.cases.move(birth["id"], "in_review")
        bill = desk.cases.open("facture-municipale", helene["id"], {
            "bill_kind": "cantine", "bill_reference": "FAC-2026-00042", "amount_cents": "4250"})
        payment = desk.payments.take(bill["id"], 4250, "card")
        from fpdf import FPDF
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(0, 10, "Justificatif de domicile")
        pdf.set_creation_date(EPOCH)
        desk.vault.deposit(helene["id"], "justificatif-domicile.pdf", bytes(pdf.output()), "domicile")
        for family in ("E", "V", "E", "P"):
            desk.queue.issue(family)
        other = people[2]
        disputed = desk.cases.open("acte-naissance", other["id"], {
            "last_name": "Benali", "first_names": "Karim", "birth_date": "1992-11-30",
            "copy_kind": "extrait-filiation", "relationship": "titulaire", "delivery": "courrier"})
        _conflict(terminal, home.parent / "annexe", disputed["id"], world)
        return {"citizens": people, "report": report, "birth": birth, "bill": bill, "payment": payment,
                "disputed": disputed}


def _conflict(terminal: Terminal, annex_home: Path, case_id: str, world: FrozenWorld) -> None:
    """Another terminal moves the same case while this one does too, offline;
    merging their journals records the conflict the inbox lists."""
    with Terminal.init(annex_home, "ANNEXE-02", "Ville d'Angers", **world.terminal) as annex:
        annex.accept(list(terminal.journal.events()))
        annex.session(Principal.agent("agent")).cases.move(case_id, "rejected", "pièce manquante")
        terminal.session(Principal.agent("agent")).cases.move(case_id, "in_review")
        terminal.accept(list(annex.journal.events(annex.id)))


def set_mode(home: Path, name: str, since: dt.datetime = NOW - dt.timedelta(hours=2, minutes=5), **ranges) -> None:
    """Record a mode change in the journal as continuity does (a mode.changed
    event, dated ``since`` by the terminal's clock; ``register=``/``tickets=``
    ranges as an order gives them)."""
    from hub.clock import FrozenClock
    with Terminal.open(home, clock=FrozenClock(since)) as terminal:
        terminal.session(Principal.system()).modes.change(name, "test: mode set by the fixture", **ranges)


@pytest.fixture
def frozen() -> FrozenWorld:
    return FrozenWorld()


@pytest.fixture
def city(tmp_path: Path, frozen: FrozenWorld) -> tuple[Path, dict]:
    home = tmp_path / "city"
    return home, build_city(home, frozen)


def frozen_clock() -> dt.datetime:
    return NOW


@pytest.fixture
def ops_city(tmp_path: Path, frozen: FrozenWorld):
    from .ops_city import OpsCity
    kit = OpsCity(tmp_path, frozen)
    yield kit
    kit.close()
