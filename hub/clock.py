"""Time and randomness as the terminal sees them, and the hybrid logical clock.

A terminal takes a :class:`Clock` and an :class:`Entropy` (the real ones by
default), so tests freeze time without patching module globals, and a
continuity drill can run hours of an incident in seconds.

Hybrid logical clock: wall-clock milliseconds that never go backwards and
that move past every timestamp a terminal has seen, so event order respects
causality even when terminal clocks disagree. A timestamp is one integer,
``millis << 16 | counter``: it sorts as it should in SQLite and in Python
without any parsing.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Where a terminal reads the time."""

    def time(self) -> float:
        """Seconds since the epoch (UTC), as :func:`time.time`."""
        ...

    def monotonic(self) -> float:
        """Seconds that only go forward, for timeouts and idle delays."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FrozenClock:
    """A clock that moves only when told to: tests and drills."""

    def __init__(self, at: float | dt.datetime) -> None:
        self._now = at.timestamp() if isinstance(at, dt.datetime) else float(at)
        self._mono = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds


class Entropy(Protocol):
    """Where a terminal draws random bytes for identifiers and codes (never for
    keys or nonces: those always come from the operating system)."""

    def bytes(self, n: int) -> bytes:
        ...


class SystemEntropy:
    def bytes(self, n: int) -> bytes:
        return os.urandom(n)


class SeededEntropy:
    """Reproducible bytes: tests and drills only."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def bytes(self, n: int) -> bytes:
        with self._lock:
            return self._random.randbytes(n)


def today(clock: Clock) -> dt.date:
    """The calendar day at the terminal (its local time zone), by its clock."""
    return dt.datetime.fromtimestamp(clock.time()).date()

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
