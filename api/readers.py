"""Reads off the event loop: a few read-only connections to the terminal
database, each used by one thread at a time.

WAL lets them read while the committer writes, so a heavy Open311 list or a
citizen search no longer holds up ``/api/v1/health`` or the next write: the
loop only hands the work to a thread and awaits its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from hub.catalog import Catalog
from hub.terminal import Terminal

READERS = 4  # threads and connections; SQLite releases the GIL while it reads

T = TypeVar("T")


class Readers:
    def __init__(self, home: Path, count: int = READERS, catalog: Catalog | None = None) -> None:
        self.pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="beffroi-read")
        self.free: asyncio.Queue[Terminal] = asyncio.Queue()
        self.all = [Terminal.open(home, catalog=catalog) for _ in range(count)]
        for terminal in self.all:
            self.free.put_nowait(terminal)

    async def run(self, fn: Callable[[Terminal], T]) -> T:
        """``fn(terminal)`` on a reading thread, with a connection of its own."""
        terminal = await self.free.get()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, terminal)
        finally:
            self.free.put_nowait(terminal)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for terminal in self.all:
            terminal.close()
