"""Hybrid logical clock: wall-clock milliseconds that never go backwards and
that move past every timestamp a terminal has seen, so event order respects
causality even when terminal clocks disagree.

A timestamp is one integer, ``millis << 16 | counter``: it sorts as it should
in SQLite and in Python without any parsing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

COUNTER_BITS = 16
_COUNTER_MASK = (1 << COUNTER_BITS) - 1


def pack(millis: int, counter: int) -> int:
    return (millis << COUNTER_BITS) | counter


def millis(hlc: int) -> int:
    return hlc >> COUNTER_BITS


class HybridClock:
    def __init__(self, last: int = 0, wall: Callable[[], float] = time.time) -> None:
        self.last = last
        self._wall = wall

    def now(self) -> int:
        """A timestamp greater than every one issued or observed before."""
        wall = pack(int(self._wall() * 1000), 0)
        self.last = wall if wall > self.last else self.last + 1
        return self.last

    def observe(self, remote: int) -> None:
        """Move past a timestamp received from another terminal."""
        if remote > self.last:
            self.last = remote
