"""Group commit: many HTTP writes, one transaction, one fsync.

The journal commits with ``synchronous=FULL``: each commit waits for the disk.
One commit per request caps a terminal at a few hundred writes a second, so
the server gathers the writes that arrive while the previous commit is on disk
and commits them together. Each write still runs through its hub session as
usual; inside a group its ``writing()`` block is a savepoint, so a refused
write rolls back alone and the others commit. No response is sent before the
group's COMMIT has returned: an acknowledged write is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hub.terminal import Terminal

GROUP_LIMIT = 256  # writes per transaction: bounds how long one commit holds the lock


class Committer:
    """Runs write functions in groups, one transaction per group.

    The Python work of each write runs on the event loop (it is short, and one
    thread avoids trading the GIL back and forth); waiting for the write lock
    (BEGIN IMMEDIATE, when another process writes the same home) and for the
    disk (COMMIT) runs on a helper thread, so the loop keeps parsing requests
    meanwhile, and those requests form the next group.
    """

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beffroi-commit")
        self.pending: list[tuple[Callable[[], Any], asyncio.Future]] = []
        self.flushing: asyncio.Task | None = None

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` inside the next group; returns once its group is committed."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((fn, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        conn = self.terminal.conn
        while self.pending:
            batch, self.pending = self.pending[:GROUP_LIMIT], self.pending[GROUP_LIMIT:]
            try:
                await loop.run_in_executor(self.pool, conn.execute, "BEGIN IMMEDIATE")
            except BaseException as exc:  # the home stayed locked: nothing of the group was tried
                self._settle(batch, [(False, exc)] * len(batch))
                continue
            outcomes = self._apply([fn for fn, _ in batch])
            try:
                await loop.run_in_executor(self.pool, conn.execute, "COMMIT")
            except BaseException as exc:  # the COMMIT failed: nothing of the group is stored
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                outcomes = [(False, exc)] * len(batch)
            self._settle(batch, outcomes)

    def _apply(self, fns: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.terminal.savepoints():
            for fn in fns:
                try:
                    outcomes.append((True, fn()))
                except Exception as exc:  # refused alone: its savepoint is rolled back
                    outcomes.append((False, exc))
        return outcomes

    @staticmethod
    def _settle(batch, outcomes) -> None:
        for (_, future), (ok, value) in zip(batch, outcomes):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
