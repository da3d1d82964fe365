"""One back-office simulator: an aiohttp service with its own SQLite store.

Protocol (what :class:`continuity.connectors.HttpConnector` speaks):

- ``POST /v1/items`` with ``Idempotency-Key`` and ``{"key", "kind", "payload"}``
  → ``200 {"key", "reference", "duplicate"}``. A key already recorded answers
  the reference it got the first time: the back office records each act once,
  however many times it is sent. A payload it does not take → ``422``.
- ``GET /v1/health``, ``GET /v1/stats`` (records, requests, redeliveries),
  ``GET /v1/records``, ``POST /v1/faults`` (change the failure modes live).

Failure modes (:class:`Faults`), drawn from an injected random generator:
``down`` (503 to everything but the fault switch), ``slow_s``,
``error_rate`` (500 before recording), ``after_commit_error_rate`` (records,
then answers 500: the item will come again — a duplicate delivery),
``lost_rate`` (records, then drops the connection: the answer is lost after
commit), ``timeout_rate`` (records, then answers only after ``hang_s``),
``malformed_rate`` (records, then answers a body that proves nothing), and
``poison_keys`` (always 500 for these keys).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from aiohttp import web

from .systems import System

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    number INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    reference TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    key TEXT,
    at REAL NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_key ON requests (key);
"""


@dataclass
class Faults:
    down: bool = False
    slow_s: float = 0.0
    error_rate: float = 0.0
    after_commit_error_rate: float = 0.0
    lost_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_s: float = 30.0
    malformed_rate: float = 0.0
    poison_keys: list[str] = field(default_factory=list)

    @classmethod
    def mixed(cls, rate: float) -> "Faults":
        """``rate`` of requests fail, spread over every way of failing."""
        share = rate / 5
        return cls(error_rate=share, after_commit_error_rate=share, lost_rate=share, timeout_rate=share,
                   malformed_rate=share, hang_s=2.0)

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}")
            if name == "poison_keys":
                if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                    raise ValueError("poison_keys must be a list of keys")
            elif name == "down":
                if not isinstance(value, bool):
                    raise ValueError("down must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            elif name.endswith("_rate") and value > 1:
                raise ValueError(f"{name} must be between 0 and 1")
            setattr(self, name, value)


class Simulator:
    def __init__(self, system: System, path: Path, faults: Faults | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.time) -> None:
        self.system = system
        self.faults = faults or Faults()
        self.rng = rng or random.Random()
        self.clock = clock
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # A simulator: crash-safe (WAL), not power-cut-safe; a real back office is its own business.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._waiting: list[tuple[str, str, dict[str, Any], asyncio.Future]] = []

    def close(self) -> None:
        self.db.close()

    # --- the store -------------------------------------------------------

    def record(self, key: str, kind: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Record an item once; (its reference, whether it was already held)."""
        return self.record_many([(key, kind, payload)])[0]

    def record_many(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, bool]]:
        """Record several items in one transaction (the same key twice: the
        second is a duplicate of the first); for each, (reference, already held)."""
        now = self.clock()
        year = dt.datetime.fromtimestamp(now, dt.UTC).year
        answers = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            number = self.db.execute("SELECT coalesce(max(number), 0) FROM records").fetchone()[0]
            for key, kind, payload in items:
                row = self.db.execute("SELECT reference FROM records WHERE key=?", (key,)).fetchone()
                if row is None:
                    number += 1
                    reference = self.system.reference(number, year)
                    self.db.execute("INSERT INTO records VALUES (?,?,?,?,?,?)",
                                    (number, key, reference, kind, json.dumps(payload, ensure_ascii=False), now))
                answers.append((row[0], True) if row else (reference, False))
            self.db.executemany("INSERT INTO requests (key, at, outcome) VALUES (?,?,?)",
                                [(key, now, "duplicate" if held else "recorded")
                                 for (key, _, _), (_, held) in zip(items, answers)])
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return answers

    async def _recorded(self, key: str, kind: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Record through the group commit: the requests that arrived while the
        loop was busy are written in one transaction, and each is answered only
        once that transaction has committed (as with one commit each)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiting.append((key, kind, payload, waiter))
        if len(self._waiting) == 1:
            loop.call_soon(self._commit_waiting)
        return await waiter

    def _commit_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            answers = self.record_many([(key, kind, payload) for key, kind, payload, _ in batch])
        except Exception as exc:  # noqa: BLE001 — each waiting request answers 500, nothing was recorded
            for *_, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for (*_, waiter), answer in zip(batch, answers):
            if not waiter.done():   # a client that went away: recorded all the same, as a real back office
                waiter.set_result(answer)

    def log(self, key: str | None, outcome: str) -> None:
        self.db.execute("INSERT INTO requests (key, at, outcome) VALUES (?,?,?)", (key, self.clock(), outcome))

    def stats(self) -> dict[str, Any]:
        records = self.db.execute("SELECT count(*) FROM records").fetchone()[0]
        outcomes = dict(self.db.execute("SELECT outcome, count(*) FROM requests GROUP BY outcome").fetchall())
        return {"system": self.system.name, "records": records,
                "requests": sum(outcomes.values()),
                # The same act received again (a retry after a lost answer): deduplicated.
                "redeliveries": outcomes.get("duplicate", 0),
                # The same key recorded twice: impossible by the UNIQUE key; counted to prove it.
                "duplicates": self.db.execute(
                    "SELECT count(*) FROM (SELECT key FROM records GROUP BY key HAVING count(*) > 1)").fetchone()[0],
                "outcomes": outcomes}

    def records(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT number, key, reference, kind, received_at FROM records ORDER BY number")
        return [dict(zip(("number", "key", "reference", "kind", "received_at"), r)) for r in rows]

    # --- HTTP ------------------------------------------------------------

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    async def receive(self, request: web.Request) -> web.StreamResponse:
        f = self.faults
        if f.down:
            return web.json_response({"error": "down"}, status=503)
        if f.slow_s:
            await asyncio.sleep(f.slow_s)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        key = request.headers.get("Idempotency-Key")
        if not isinstance(body, dict) or not key or body.get("key") != key \
                or not isinstance(body.get("kind"), str) or not isinstance(body.get("payload"), dict):
            self.log(key, "malformed request")
            return web.json_response({"error": "need Idempotency-Key and {key, kind, payload} with the same key"},
                                     status=400)
        if key in f.poison_keys or self._draw(f.error_rate):
            self.log(key, "500 before recording")
            return web.json_response({"error": "internal error"}, status=500)
        why = self.system.refusal(body["kind"], body["payload"])
        if why:
            self.log(key, "refused")
            return web.json_response({"error": why}, status=422)
        reference, duplicate = await self._recorded(key, body["kind"], body["payload"])
        if self._draw(f.after_commit_error_rate):
            return web.json_response({"error": "internal error"}, status=500)
        if self._draw(f.lost_rate):
            assert request.transport is not None
            request.transport.abort()   # recorded, but the answer never leaves
            return web.Response(status=500)
        if self._draw(f.timeout_rate):
            await asyncio.sleep(f.hang_s)
        if self._draw(f.malformed_rate):
            garbage = self.rng.choice([b"<html>OK</html>", b'{"status": "ok"}', b'{"key": "other", "reference": "X"}',
                                       json.dumps({"key": key, "reference": ""}).encode()])
            return web.Response(body=garbage, status=200, content_type="application/json")
        return web.json_response({"key": key, "reference": reference, "duplicate": duplicate})

    async def health(self, request: web.Request) -> web.Response:
        if self.faults.down:
            return web.json_response({"status": "down"}, status=503)
        return web.json_response({"status": "ok", "system": self.system.name})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def get_records(self, request: web.Request) -> web.Response:
        return web.json_response(self.records())

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults.update(await request.json())
        except (ValueError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(asdict(self.faults))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/items", self.receive)
        app.router.add_get("/v1/health", self.health)
        app.router.add_get("/v1/stats", self.get_stats)
        app.router.add_get("/v1/records", self.get_records)
        app.router.add_post("/v1/faults", self.set_faults)
        return app
