"""What a card holder does with their own card: change the PIN (the counter
offers it while the card still has the factory PIN) and unblock it with the
PUK after too many wrong PINs. Each runs in one PC/SC transaction."""

from __future__ import annotations

from collections.abc import Callable

from .errors import FactoryPin
from .piv import PivCard, pin_block, puk_block
from .reader import Pcsc

FACTORY_PIN = "123456"


def change_pin(old: str, new: str, reader: str | None = None) -> str:
    """Change the PIN of the card in ``reader``; a wrong old PIN costs a try. Returns the reader."""
    pin_block(old), pin_block(new)
    return _on_card(reader, new, lambda card: card.change_pin(old, new))


def unblock(puk: str, new_pin: str, reader: str | None = None) -> str:
    """Set a new PIN with the PUK, giving back every PIN try; a wrong PUK costs a PUK try."""
    puk_block(puk), pin_block(new_pin)
    return _on_card(reader, new_pin, lambda card: card.unblock_pin(puk, new_pin))


def _on_card(reader: str | None, new_pin: str, act: Callable[[PivCard], object]) -> str:
    """Refuse the factory PIN as a new one, then select PIV and ``act`` in one
    PC/SC transaction on the card in ``reader``; returns the reader's name."""
    if new_pin == FACTORY_PIN:
        raise FactoryPin()
    with Pcsc() as pcsc:
        name = pcsc.pick(reader)
        with pcsc.connect(name) as link, link.transaction():
            card = PivCard(link)
            card.select()
            act(card)
    return name
