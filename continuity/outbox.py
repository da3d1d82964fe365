"""Delivering the outbox: every item reaches its back office exactly once.

The items are written by the hub in the same transaction as their event
(``hub.outbox``); this module moves them through their states:

    queued → sending → sent (+ the back office's reference)
                     ↘ failed (+ reason) → … retried with backoff → dead after N tries
                     ↘ waiting (the back office refused the content: a person must act)
    failed / dead / waiting → aside (a person decided it will not be sent: who, why, when;
                                     a retry takes it back)

Rules learnt from OpenCRVS's lost records and stuck outboxes:

- only an answer that names the item's key and a reference is success; a 5xx,
  a timeout, a dropped connection, a malformed or ambiguous answer is a
  failure to retry, never a success;
- a retry carries the same idempotency key, and the back office deduplicates,
  so an answer lost after the back office committed costs nothing;
- an item being sent holds a *lease*: if the terminal crashes before the
  acknowledgement, the lease runs out and the item is sent again (same key);
- items never wait for each other: each is sent on its own, a failing one is
  rescheduled alone (exponential backoff with full jitter), the others go on.

Time and randomness are injected (``clock``, ``rng``, ``sleep``) so tests and the
drill drive them.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hub import outbox as items_rule
from hub.errors import Invalid, NotFound

if TYPE_CHECKING:
    from hub.terminal import Terminal

    from .connectors import Connector

STATES = ("queued", "sending", "sent", "failed", "dead", "waiting", "aside")
PENDING = ("queued", "sending", "failed")   # what a drain waits for


class Transient(Exception):
    """Worth retrying: the back office is down, slow, erring, or answered
    something that does not prove it recorded the item."""


class Refused(Exception):
    """The back office read the item and refused it: retrying the same bytes
    would fail again, so it waits for a person."""


@dataclass(frozen=True)
class Policy:
    max_tries: int = 8          # then the item is dead and shown in `beffroi outbox dead`
    base_s: float = 2.0         # first retry after up to this long…
    cap_s: float = 600.0        # …doubling each time, never more than this
    lease_s: float = 60.0       # an item `sending` longer than this was lost in a crash
    timeout_s: float = 10.0     # one send
    concurrency: int = 16       # sends in flight at once, on one keep-alive session


@dataclass(frozen=True)
class Item:
    id: int
    key: str
    origin: str
    seq: int
    connector: str
    kind: str
    case_id: str | None
    payload: dict[str, Any]
    state: str
    tries: int
    due_at: float
    reference: str | None
    reason: str | None
    created_hlc: int
    sent_at: float | None
    aside_by: str | None = None
    aside_why: str | None = None
    aside_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def summary(self) -> dict[str, Any]:
        """What a person needs to see, without the payload."""
        return {k: v for k, v in self.to_dict().items() if k != "payload"}


_COLUMNS = ("id, key, origin, seq, connector, kind, case_id, payload, state, tries, due_at, reference, reason,"
            " created_hlc, sent_at, aside_by, aside_why, aside_at")


def _item(row: tuple) -> Item:
    values = list(row)
    values[7] = json.loads(values[7])
    return Item(*values)


@dataclass
class Pass:
    """What one delivery pass did."""
    sent: int = 0
    failed: int = 0
    dead: int = 0
    waiting: int = 0

    def add(self, other: "Pass") -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.waiting += other.waiting


class Outbox:
    def __init__(self, terminal: "Terminal", *, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, policy: Policy = Policy()) -> None:
        self.terminal = terminal
        self.conn = terminal.conn
        self.clock = clock
        self.rng = rng or random.Random()
        self.policy = policy

    # --- reading ----------------------------------------------------------

    def items(self, state: str | None = None, case_id: str | None = None) -> list[Item]:
        where, args = [], []
        if state is not None:
            if state not in STATES:
                raise Invalid(f"state must be one of {', '.join(STATES)}",
                              f"l'état doit être l'un de {', '.join(STATES)}")
            where.append("state=?")
            args.append(state)
        if case_id is not None:
            where.append("case_id=?")
            args.append(case_id)
        sql = f"SELECT {_COLUMNS} FROM outbox" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        return [_item(r) for r in self.conn.execute(sql, args)]

    def get(self, item_id: int) -> Item:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id=?", (item_id,)).fetchone()
        if row is None:
            raise NotFound(f"no outbox item {item_id}; list them with `beffroi outbox`",
                           f"aucun élément {item_id} dans la boîte d'envoi ; listez-les avec `beffroi outbox`",
                           "unknown_item")
        return _item(row)

    def counts(self) -> dict[str, int]:
        found = dict(self.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        return {state: found.get(state, 0) for state in STATES}

    def _pending_sql(self, what: str, names: list[str] | None) -> tuple[str, list[Any]]:
        sql = f"SELECT {what} FROM outbox WHERE state IN ({','.join('?' * len(PENDING))})"
        args: list[Any] = list(PENDING)
        if names is not None:
            sql += f" AND connector IN ({','.join('?' * len(names))})"
            args += names
        return sql, args

    def pending(self, names: list[str] | None = None) -> int:
        """Items not yet settled (queued, sending, failed), for some connectors or all."""
        return self.conn.execute(*self._pending_sql("count(*)", names)).fetchone()[0]

    def next_due(self, names: list[str] | None = None) -> float | None:
        return self.conn.execute(*self._pending_sql("min(due_at)", names)).fetchone()[0]

    # --- a person acts ------------------------------------------------------

    def retry(self, item_id: int) -> Item:
        """Send a failed, dead, waiting or set-aside item again now (same key:
        the back office still deduplicates). A sent item is never resent."""
        item = self.get(item_id)
        if item.state in ("sent", "sending", "queued"):
            raise Invalid(f"item {item_id} is {item.state}: only failed, dead, waiting or set-aside items can be "
                          "retried",
                          f"l'élément {item_id} est {item.state} : seuls les éléments en échec, morts, en attente ou "
                          "mis de côté peuvent être renvoyés", "not_retryable")
        before = item.reason if item.state != "aside" else f"set aside by {item.aside_by}: {item.aside_why}"
        with self.terminal.journal.transaction():
            self.conn.execute("UPDATE outbox SET state='queued', tries=0, due_at=?, reason=?, aside_by=NULL,"
                              " aside_why=NULL, aside_at=NULL WHERE id=?",
                              (self.clock(), f"retried by hand after: {before}", item_id))
        return self.get(item_id)

    def set_aside(self, item_id: int, by: str, why: str) -> Item:
        """A person decides an item will not be sent (the act was redone on
        paper, the back office holds it under another key…). It stops counting
        as pending, keeps the back office's last error, and says who and why;
        :meth:`retry` takes it back."""
        why = (why or "").strip()
        if not why:
            raise Invalid("setting an item aside needs a reason (who will read it: the back office's staff)",
                          "mettre un élément de côté demande un motif (il sera lu par le service destinataire)",
                          "reason_needed")
        item = self.get(item_id)
        if item.state not in ("failed", "dead", "waiting"):
            raise Invalid(f"item {item_id} is {item.state}: only failed, dead or waiting items can be set aside",
                          f"l'élément {item_id} est {item.state} : seuls les éléments en échec, morts ou en attente "
                          "peuvent être mis de côté", "not_settable_aside")
        with self.terminal.journal.transaction():
            self.conn.execute("UPDATE outbox SET state='aside', aside_by=?, aside_why=?, aside_at=? WHERE id=?"
                              " AND state IN ('failed','dead','waiting')", (by, why, self.clock(), item_id))
        return self.get(item_id)

    def recover(self, origin: str | None = None) -> int:
        """Rebuild the items of ``origin``'s events (default: this terminal's):
        how a restored terminal takes over a wiped one's outbox. Items already
        present are kept as they are; the rebuilt ones carry the original keys,
        so what the back office already holds is recognised, not recorded twice."""
        origin = origin or self.terminal.id
        with self.terminal.journal.transaction():
            return items_rule.rederive(self.conn, self.terminal.journal.events(origin), self.terminal.catalog)

    # --- delivery -------------------------------------------------------------

    def claim(self, connectors: Mapping[str, Any], limit: int = 1000) -> list[Item]:
        """Take the items due now, for the connectors we have, and lease them.
        A `sending` item whose lease ran out was interrupted (a crash between
        send and acknowledgement) and is taken again."""
        if not connectors:
            return []
        now = self.clock()
        names = list(connectors)
        marks = ",".join("?" * len(names))
        with self.terminal.journal.transaction():
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE state IN ('queued','failed','sending') AND due_at<=?"
                f" AND connector IN ({marks}) ORDER BY due_at, id LIMIT ?", (now, *names, limit)).fetchall()
            ids = [r[0] for r in rows]
            self.conn.executemany("UPDATE outbox SET state='sending', tries=tries+1, due_at=? WHERE id=?",
                                  [(now + self.policy.lease_s, i) for i in ids])
        return [replace(_item(r), state="sending", tries=r[9] + 1) for r in rows]

    def backoff(self, tries: int) -> float:
        """Full jitter: anywhere up to the doubled delay, so items that failed
        together do not all come back together."""
        return self.rng.uniform(0, min(self.policy.cap_s, self.policy.base_s * 2 ** max(0, tries - 1)))

    def _decide(self, item: Item, state: str, reason: str | None, reference: str | None, now: float) -> tuple:
        if state == "failed" and item.tries >= self.policy.max_tries:
            state = "dead"
            reason = f"{reason} (gave up after {item.tries} tries)"
        due = now + self.backoff(item.tries) if state == "failed" else now
        return state, reason, reference, due, state, now, item.id

    def settle(self, outcomes: list[tuple[Item, str, str | None, str | None]]) -> list[str]:
        """Record the outcomes of sends, all in one transaction (one fsync for a
        whole pass). Losing them in a crash is safe: the items stay `sending`,
        their lease runs out, and they are sent again with the same keys."""
        now = self.clock()
        rows = [self._decide(item, state, reason, reference, now) for item, state, reason, reference in outcomes]
        with self.terminal.journal.transaction():
            # Only if we still hold the lease: a slower copy of this attempt
            # must not overwrite what a later one recorded.
            self.conn.executemany(
                "UPDATE outbox SET state=?, reason=?, reference=coalesce(?, reference), due_at=?,"
                " sent_at=CASE WHEN ?='sent' THEN ? ELSE sent_at END WHERE id=? AND state='sending'", rows)
        return [row[0] for row in rows]

    async def attempt(self, item: Item, connector: "Connector") -> tuple[Item, str, str | None, str | None]:
        """Send one claimed item: (item, outcome, reason, reference), nothing written."""
        try:
            reference = await asyncio.wait_for(connector.send(item), self.policy.timeout_s)
        except Refused as exc:
            return item, "waiting", f"refused by {item.connector}: {exc}", None
        except (Transient, TimeoutError) as exc:
            return item, "failed", str(exc) or f"no answer from {item.connector} in time", None
        except Exception as exc:  # noqa: BLE001 — any surprise is a failure to retry, never success
            return item, "failed", f"{type(exc).__name__}: {exc}", None
        return item, "sent", None, reference

    async def send_one(self, item: Item, connector: "Connector") -> str:
        """Send one claimed item and record the outcome; returns the new state."""
        return self.settle([await self.attempt(item, connector)])[0]

    def off(self) -> bool:
        """Connectors are off while the terminal is isolated: the back offices
        are down or must not be trusted until the incident ends."""
        return self.terminal.mode().name == "isolated"

    async def deliver(self, connectors: Mapping[str, "Connector"], limit: int = 256) -> Pass:
        """One pass: send up to ``limit`` due items, each on its own, at most
        ``policy.concurrency`` at once, then record every outcome together.
        Nothing leaves while isolated."""
        if self.off():
            return Pass()
        claimed = self.claim(connectors, limit)
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(item: Item):
            async with gate:
                return await self.attempt(item, connectors[item.connector])

        result = Pass()
        for state in self.settle(list(await asyncio.gather(*(one(item) for item in claimed)))):
            setattr(result, state, getattr(result, state) + 1)
        return result

    async def drain(self, connectors: Mapping[str, "Connector"], *, paused: Callable[[], bool] | None = None,
                    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, deadline_s: float | None = None,
                    idle_s: float = 0.05) -> Pass:
        """Deliver until nothing is pending (every item sent, dead or waiting
        for a person), or until ``deadline_s`` of injected time has passed.
        While ``paused()`` (by default: while isolated) nothing is sent."""
        paused = paused or self.off
        total = Pass()
        start = self.clock()
        names = list(connectors)
        while names and self.pending(names):
            if deadline_s is not None and self.clock() - start > deadline_s:
                break
            if paused():
                await sleep(idle_s)
                continue
            done = await self.deliver(connectors)
            total.add(done)
            if not (done.sent or done.failed or done.dead or done.waiting):
                due = self.next_due(names)
                await sleep(max(idle_s, (due or self.clock()) - self.clock()))
        return total
