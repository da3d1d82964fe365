"""Card fixtures: the real pcscd (started if nobody runs it), one vpcd reader
slot owned per test (a lock file, so two xdist workers — or anyone else on the
machine — never share a reader), and virtual cards inserted into it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from card import ca, slots
from card.reader import Pcsc
from card.virtual import Insertion, VirtualCard
from hub.terminal import Terminal


@pytest.fixture(scope="session")
def pcscd():
    slots.ensure_pcscd()


@pytest.fixture
def slot(pcscd):
    owned = slots.claim()
    yield owned
    owned.release()


@pytest.fixture
def counter(tmp_path: Path):
    """A counter terminal whose home holds the demo city CA and Claire's agent card."""
    with Terminal.init(tmp_path / "counter", "MAIRIE-01") as t:
        ca.issue(t.home, "claire", "Claire Moreau", "agent", "246810")
        yield t


class Reader:
    """The test's reader slot: insert and remove virtual cards, waiting for pcscd
    to see each change (it polls every 400 ms) rather than sleeping."""

    def __init__(self, slot: slots.Slot) -> None:
        self.slot = slot
        self.name = slot.reader
        self.inserted: Insertion | None = None

    def insert(self, home: Path, uid: str, behaviour: str = "honest") -> VirtualCard:
        self.remove()
        card = VirtualCard.of(home, uid, behaviour)
        self.inserted = Insertion(card, self.slot.port).insert()
        with Pcsc() as pcsc:
            pcsc.wait(self.name, present=True, timeout=5)
        return card

    def remove(self, wait: bool = True) -> None:
        if self.inserted is None:
            return
        self.inserted.remove()
        self.inserted = None
        if wait:
            with Pcsc() as pcsc:
                pcsc.wait(self.name, present=False, timeout=5)


@pytest.fixture
def reader(slot):
    r = Reader(slot)
    yield r
    r.remove()


@pytest.fixture
def issue():
    """Issue a card in any home, with optional validity dates."""
    def _issue(home: Path, uid: str, role: str = "agent", pin: str = "246810", name: str | None = None,
               days: tuple[float, float] | None = None) -> dict:
        now = dt.datetime.now(dt.UTC)
        dates = {} if days is None else {"not_before": now + dt.timedelta(days=days[0]),
                                         "not_after": now + dt.timedelta(days=days[1])}
        return ca.issue(home, uid, name or uid.title(), role, pin, **dates)
    return _issue
