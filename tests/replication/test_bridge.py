"""``replication.bridge``: the index's synchronous rules over an async driver.
Real asyncio, no database: what the rules see of awaits, errors, async
context managers, cancellation and blocking calls."""

from __future__ import annotations

import asyncio
import threading
import warnings
from contextlib import asynccontextmanager

import pytest

from replication import bridge


def test_the_rules_get_each_awaited_result_in_order():
    seen = []

    async def later(value):
        await asyncio.sleep(0)
        seen.append(value)
        return value * 2

    def rules(a, b):
        return bridge.wait(later(a)) + bridge.wait(later(b))

    assert asyncio.run(bridge.run(rules, 1, 10)) == 22
    assert seen == [1, 10]


def test_an_error_leaves_through_the_async_context_which_still_awaits_its_exit():
    journal = []

    @asynccontextmanager
    async def transaction():
        journal.append("begin")
        try:
            yield
        except ValueError:
            await asyncio.sleep(0)          # a rollback is itself awaited
            journal.append("rollback")
            raise
        journal.append("commit")

    def rules(fail):
        with bridge.entered(transaction()):
            if fail:
                raise ValueError("refused")
        return "stored"

    assert asyncio.run(bridge.run(rules, False)) == "stored"
    with pytest.raises(ValueError, match="refused"):
        asyncio.run(bridge.run(rules, True))
    assert journal == ["begin", "commit", "begin", "rollback"]


def test_an_error_of_the_awaited_statement_is_raised_in_the_rules():
    async def failing():
        raise KeyError("unique violation")

    def rules():
        try:
            bridge.wait(failing())
        except KeyError:
            return "fork recorded"

    assert asyncio.run(bridge.run(rules)) == "fork recorded"


def test_a_cancelled_request_unwinds_the_rules():
    journal = []

    async def main():
        waiting = asyncio.Event()

        async def forever():
            waiting.set()
            await asyncio.Event().wait()

        def rules():
            try:
                bridge.wait(forever())
            finally:
                journal.append("unwound")

        task = asyncio.create_task(bridge.run(rules))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert journal == ["unwound"]


def test_outside_the_bridge_wait_is_refused_and_closes_the_coroutine():
    async def statement():
        return 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")     # a coroutine never awaited would warn
        with pytest.raises(RuntimeError, match="outside bridge.run"):
            bridge.wait(statement())


def test_blocking_calls_leave_the_event_loop_only_inside_the_bridge():
    loop_thread = threading.get_ident()
    assert bridge.blocking(threading.get_ident) == loop_thread
    inside = asyncio.run(bridge.run(lambda: bridge.blocking(threading.get_ident)))
    assert inside != threading.get_ident()
