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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from hub.terminal import Terminal, Writer

GROUP_LIMIT = 256  # writes per transaction: bounds how long one commit holds the lock


class GroupTerminal(Terminal):
    """A terminal whose writes can be grouped into one outer transaction."""

    _group = False

    @contextmanager
    def group(self) -> Iterator[None]:
        with self.journal.transaction():
            self._group = True
            try:
                yield
            finally:
                self._group = False

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        if not self._group:
            with super().writing() as writer:
                yield writer
            return
        self.conn.execute("SAVEPOINT writing")
        try:
            yield Writer(self)
        except BaseException:
            self.conn.execute("ROLLBACK TO writing")
            self.conn.execute("RELEASE writing")
            raise
        self.conn.execute("RELEASE writing")


class Committer:
    """Runs write functions on one thread that owns the writing connection,
    gathering those that queue up into one group commit."""

    def __init__(self, terminal: GroupTerminal) -> None:
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
        while self.pending:
            batch, self.pending = self.pending[:GROUP_LIMIT], self.pending[GROUP_LIMIT:]
            try:
                outcomes = await loop.run_in_executor(self.pool, self._commit, [fn for fn, _ in batch])
            except BaseException as exc:  # the COMMIT itself failed: nothing of the group is stored
                outcomes = [(False, exc)] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _commit(self, fns: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        with self.terminal.group():
            for fn in fns:
                try:
                    outcomes.append((True, fn()))
                except Exception as exc:  # refused alone: its savepoint is rolled back
                    if self.terminal.conn.in_transaction is False:
                        raise
                    outcomes.append((False, exc))
        return outcomes

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the writing thread outside any group (reads that must
        see this connection's view, maintenance)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
