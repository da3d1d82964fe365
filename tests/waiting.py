"""One way for tests to wait: until a condition holds, polling, with a bound.
Tests wait for conditions, never for a fixed time, and assert no duration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], within: float = 20.0, what: str = "the condition",
               every: float = 0.02) -> T:
    """Return the condition's first truthy value; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


async def settle(pilot, condition: Callable[[], T], within: float = 5.0, what: str = "the screen") -> T:
    """The same inside a Textual Pilot test: let the app run between checks."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def wait_until_async(condition: Callable[[], T], within: float = 20.0, what: str = "the condition") -> T:
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
