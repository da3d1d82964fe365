"""One way for tests to wait: until a condition holds, polling, with a bound.
Tests wait for conditions, never for a fixed time, and assert no duration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def _polls(within: float, what: str) -> Iterator[None]:
    """Yield until ``within`` seconds have passed, then fail naming ``what``;
    the caller checks its condition and pauses its own way between yields."""
    deadline = time.monotonic() + within
    while True:
        yield
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")


def wait_until(condition: Callable[[], T], within: float = 20.0, what: str = "the condition",
               every: float = 0.02) -> T:
    """Return the condition's first truthy value; fail after ``within`` seconds."""
    for _ in _polls(within, what):
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError("unreachable")


async def settle(pilot, condition: Callable[[], T], within: float = 5.0, what: str = "the screen") -> T:
    """The same inside a Textual Pilot test: let the app run between checks."""
    for _ in _polls(within, what):
        if value := condition():
            return value
        await pilot.pause(0.02)
    raise AssertionError("unreachable")


async def wait_until_async(condition: Callable[[], T], within: float = 20.0, what: str = "the condition") -> T:
    for _ in _polls(within, what):
        if value := condition():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("unreachable")
