"""Virtual cards for the demo home: the demo agents (``agent``/246810 and
``ops``/135790, as in :mod:`hub.demo`) get a card each, and one can be inserted
into a free vpcd reader so a new user logs in with the demo PIN.

    inserted = card.demo.insert_demo_card(home)   # raises CardError if pcscd cannot run
    ...
    inserted.remove()
"""

from __future__ import annotations

import json
from pathlib import Path

from hub.demo import DEMO_AGENTS

from . import ca, slots
from .reader import Pcsc
from .virtual import Insertion, VirtualCard


def ensure_demo_cards(home: Path) -> list[str]:
    """Issue the demo agents' cards once; returns their ids."""
    for uid, name, pin, role in DEMO_AGENTS:
        path = ca.card_path(home, uid)
        # A demo home from before card files had PUK and data objects gets new cards.
        if not path.exists() or json.loads(path.read_text("utf-8")).get("format") != 2:
            ca.issue(home, uid, name, role, pin)
    return [uid for uid, *_ in DEMO_AGENTS]


class DemoCard:
    def __init__(self, insertion: Insertion, slot: slots.Slot) -> None:
        self.insertion, self.slot, self.reader = insertion, slot, slot.reader

    def remove(self) -> None:
        self.insertion.remove()
        self.slot.release()


def insert_demo_card(home: Path, uid: str = "agent", timeout: float = 5.0) -> DemoCard:
    """Insert the demo card of ``uid`` in a free reader slot, once pcscd sees it."""
    ensure_demo_cards(home)
    slots.ensure_pcscd()
    slot = slots.claim(timeout=timeout)
    insertion = Insertion(VirtualCard.of(home, uid), slot.port)
    try:
        insertion.insert()
        with Pcsc() as pcsc:
            pcsc.wait(slot.reader, present=True, timeout=timeout)
    except BaseException:
        insertion.remove()
        slot.release()
        raise
    return DemoCard(insertion, slot)
