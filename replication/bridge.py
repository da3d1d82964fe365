"""The SoR index's one synchronous SQL text, run over psycopg's async driver.

The index's rules (fork detection, idempotent upload, invitations, grants)
are written once, in ``replication.index.Rows``, for the single-city SQLite
index and the shared PostgreSQL one, and the CLI and the office relays call
them synchronously. A shared SoR node must not block its event loop on the
database, so there it runs the same code over ``psycopg.AsyncConnection``:
the rules run in a greenlet, and each statement hands its coroutine back to
the event loop's greenlet, which awaits it and resumes the rules with the
result. This is SQLAlchemy's way of running its synchronous ORM over asyncpg
and psycopg's async API (``greenlet_spawn`` / ``await_only``), kept to the
few lines the index needs, rather than a second, ``async`` copy of every
rule to keep in step by hand.

Outside :func:`run`, nothing here applies: :func:`blocking` calls straight
through and the synchronous engines never see a greenlet.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")


class _Rules(greenlet.greenlet):
    """The greenlet the index's synchronous code runs in; ``loop`` is the
    event loop's greenlet, which awaits on its behalf."""

    def __init__(self, fn: Callable[..., Any], loop: greenlet.greenlet) -> None:
        super().__init__(fn, loop)
        self.loop = loop


def inside() -> bool:
    return isinstance(greenlet.getcurrent(), _Rules)


def wait(awaitable: Awaitable[T]) -> T:
    """Inside :func:`run`: the awaitable's result, awaited by the event loop."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Rules):
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("bridge.wait() outside bridge.run(): the async index is for the SoR node's event loop")
    return current.loop.switch(awaitable)


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, synchronous code whose statements go through :func:`wait`."""
    rules = _Rules(fn, greenlet.getcurrent())
    step = rules.switch(*args)
    while not rules.dead:
        try:
            value = await step
        except BaseException:   # into the rules, which may roll back and still await
            step = rules.throw(*sys.exc_info())
        else:
            step = rules.switch(value)
    return step


def blocking(fn: Callable[..., T], *args: Any) -> T:
    """A blocking call (a blob store's put): in a thread when inside
    :func:`run`, so the event loop goes on; a plain call otherwise."""
    if inside():
        return wait(asyncio.to_thread(fn, *args))
    return fn(*args)


@contextmanager
def entered(manager: AbstractAsyncContextManager[T]) -> Iterator[T]:
    """An ``async with`` for synchronous code inside :func:`run`."""
    value = wait(manager.__aenter__())
    try:
        yield value
    except BaseException as exc:
        if not wait(manager.__aexit__(type(exc), exc, exc.__traceback__)):
            raise
    else:
        wait(manager.__aexit__(None, None, None))
