"""The SoR index on PostgreSQL, for a SoR shared by many cities and served by
several stateless nodes.

Each city lives in its own schema (``city_<id>``) with the same tables as the
single-city SQLite index: a city's rows cannot be reached from another city's
connection (its ``search_path`` names one schema), so tenant isolation does
not rest on every query remembering a ``WHERE city=…``. The ``cities`` table in
``public`` lists them with their *public* keys only; admin keys and recovery
shares are written to the folder the operator names, never to the database.

Two nodes storing at once are kept apart by the database, not by the nodes:

- ``UNIQUE (origin, first)`` stores a position once; the placement is
  compared again inside the storing transaction, so different bytes at a
  taken position are a fork on every node;
- the feed position is taken from the city's one-row ``feed_position`` with
  ``UPDATE … RETURNING`` as the transaction's first write. The row stays
  locked until COMMIT, so positions are committed in the order they are
  given: a reader that saw position n can never later find n-1 appear (the
  classic skip of a sequence handed out before a slower transaction commits).
  It serialises the uploads of one city — a few milliseconds each, far below
  what a city sends — and leaves other cities' uploads free.

A node serves every city from one :class:`Pool`: psycopg's async
connection pool. Each unit of work — the checks and writes one request makes
— takes a pooled connection, points it at the city's schema and runs the
index's rules over it through ``replication.bridge``, so the node's event loop
never waits on PostgreSQL, and a city whose rows are locked holds one
connection, not the node. The CLI's admin commands use a synchronous
connection of their own (:class:`PgIndex` with a URL).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import bridge
from .index import Rows, Unavailable

SCHEMA = """
CREATE TABLE devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, sign_pub TEXT NOT NULL, kx_pub TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    requested_at DOUBLE PRECISION NOT NULL, certificate TEXT,
    office TEXT          -- as the terminal said at enrolment (signed into its certificate at approval)
);
CREATE TABLE epochs (epoch INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE wrapped (
    epoch INTEGER NOT NULL REFERENCES epochs, recipient TEXT NOT NULL, blob TEXT NOT NULL,
    PRIMARY KEY (epoch, recipient)
);
CREATE TABLE segments (
    pos BIGINT PRIMARY KEY,
    origin TEXT NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL, epoch INTEGER NOT NULL REFERENCES epochs,
    hash TEXT NOT NULL, prev TEXT NOT NULL, size INTEGER NOT NULL, blob TEXT NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL,
    UNIQUE (origin, first), CHECK (last >= first)
);
CREATE TABLE feed_position (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), pos BIGINT NOT NULL);
INSERT INTO feed_position VALUES (TRUE, 0);
CREATE TABLE forks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, origin TEXT NOT NULL, first BIGINT NOT NULL,
    stored_hash TEXT, offered_hash TEXT NOT NULL, offered_by TEXT NOT NULL, reason TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE nonces (key_id TEXT NOT NULL, nonce TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (key_id, nonce));
CREATE INDEX nonces_at ON nonces (at);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    name TEXT PRIMARY KEY, size INTEGER NOT NULL, epoch INTEGER NOT NULL, hash TEXT NOT NULL,
    stored_by TEXT NOT NULL, stored_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE erased_documents (name TEXT PRIMARY KEY, erased_by TEXT NOT NULL, erased_at DOUBLE PRECISION NOT NULL);
CREATE TABLE invites (digest TEXT PRIMARY KEY, name TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL, used_by TEXT);
CREATE TABLE orders (pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
    raw BYTEA NOT NULL, stored_at DOUBLE PRECISION NOT NULL);
"""

_PLACEHOLDER = re.compile(r"\?")


def _sql(sql: str) -> str:
    return _PLACEHOLDER.sub("%s", sql)


class Connection:
    """A psycopg connection that takes the ``?`` placeholders the shared SQL
    is written with (the index's SQL has no ``?`` or ``%`` in literals)."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Any = ()) -> psycopg.Cursor:
        return self.raw.execute(_sql(sql), params or None)

    def executemany(self, sql: str, rows: Any) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(_sql(sql), list(rows))

    def transaction(self) -> Any:
        return self.raw.transaction()

    def close(self) -> None:
        self.raw.close()


class Result:
    """A statement's rows, fetched as it ran: what the shared SQL reads of a cursor."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows, self.rowcount = iter(rows), rowcount

    def fetchone(self) -> Any:
        return next(self._rows, None)

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return self._rows


class AsyncConnection:
    """The same, over a pooled ``psycopg.AsyncConnection``, for the index's
    rules running inside ``bridge.run``: each statement is awaited by the
    event loop."""

    def __init__(self, raw: psycopg.AsyncConnection) -> None:
        self.raw = raw

    async def _execute(self, sql: str, params: Any) -> Result:
        cur = await self.raw.execute(_sql(sql), params or None)
        return Result(await cur.fetchall() if cur.description is not None else [], cur.rowcount)

    def execute(self, sql: str, params: Any = ()) -> Result:
        return bridge.wait(self._execute(sql, params))

    async def _executemany(self, sql: str, rows: list[Any]) -> None:
        async with self.raw.cursor() as cur:
            await cur.executemany(_sql(sql), rows)

    def executemany(self, sql: str, rows: Any) -> None:
        bridge.wait(self._executemany(sql, list(rows)))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with bridge.entered(self.raw.transaction()):
            yield

    def close(self) -> None:   # the pool's: given back when the unit of work ends
        pass


def schema_name(city_id: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{16}", city_id):
        raise ValueError(f"not a city id: {city_id!r}")
    return f"city_{city_id}"


def connect(url: str, city_id: str | None = None) -> psycopg.Connection:
    """Autocommit outside ``transaction()``; a city's connection sees its schema only."""
    options = f"-c search_path={schema_name(city_id)}" if city_id else None
    return psycopg.connect(url, autocommit=True, options=options) if options else \
        psycopg.connect(url, autocommit=True)


class PgIndex(Rows):
    """One city's index in a shared PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, city_id: str, mirror: Any = None, conn: Any = None,
                 nonces: list[int] | None = None) -> None:
        self.url, self.city_id, self.mirror = url, city_id, mirror
        self.conn = conn if conn is not None else Connection(connect(url, city_id))
        self._uses = nonces if nonces is not None else [0]

    def _mirror(self, fact: str, *args: Any) -> None:
        if self.mirror is not None:   # a bucket's put: off the event loop on a node
            bridge.blocking(getattr(self.mirror, fact), *args)

    @property
    def _nonces(self) -> int:   # shared by every view a pool gives of this city (Rows prunes every 1000)
        return self._uses[0]

    @_nonces.setter
    def _nonces(self, value: int) -> None:
        self._uses[0] = value

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.conn.transaction():
            yield self.conn

    def _next_position(self) -> int:
        return self.conn.execute("UPDATE feed_position SET pos = pos + 1 RETURNING pos").fetchone()[0]

    @staticmethod
    def create(url: str, city_id: str) -> PgIndex:
        """The city's schema and tables, in one transaction."""
        with connect(url) as conn, conn.transaction():
            conn.execute(f"CREATE SCHEMA {schema_name(city_id)}")
            conn.execute(f"SET LOCAL search_path = {schema_name(city_id)}")
            conn.execute(SCHEMA)
        return PgIndex(url, city_id)


T = TypeVar("T")
OPEN_SECONDS = 10.0   # a node's first connection, at start
WAIT_SECONDS = 10.0   # a request waiting for a free connection, then 503 (the terminal tries again)


class Pool:
    """A node's connections to the shared index, for every city it serves
    (see the module docstring). Opened and closed on the node's event loop."""

    def __init__(self, url: str, size: int = 8) -> None:
        self.url, self.size = url, size
        self.pool: AsyncConnectionPool | None = None
        self._schema: weakref.WeakKeyDictionary[psycopg.AsyncConnection, str] = weakref.WeakKeyDictionary()
        self._nonces: dict[str, list[int]] = {}

    async def open(self) -> None:
        """Connect now, so that a wrong URL or a down database stops the node at start."""
        self.pool = AsyncConnectionPool(self.url, min_size=1, max_size=self.size, kwargs={"autocommit": True},
                                        open=False, name="beffroi-sor", timeout=WAIT_SECONDS)
        await self.pool.open(wait=True, timeout=OPEN_SECONDS)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    @contextmanager
    def _connection(self, schema: str) -> Iterator[psycopg.AsyncConnection]:
        assert self.pool is not None, "Pool.open() first"
        with bridge.entered(self.pool.connection()) as raw:
            if self._schema.get(raw) != schema:   # a connection serves one city at a time, never two
                bridge.wait(raw.execute("SELECT set_config('search_path', %s, false)", (schema,)))
                self._schema[raw] = schema
            yield raw

    @contextmanager
    def city(self, city_id: str, mirror: Any = None) -> Iterator[PgIndex]:
        """A view of one city's index on a pooled connection (inside ``bridge.run``)."""
        with self._connection(schema_name(city_id)) as raw:
            yield PgIndex(self.url, city_id, mirror, AsyncConnection(raw), self._nonces.setdefault(city_id, [0]))

    @contextmanager
    def plain(self) -> Iterator[AsyncConnection]:
        """A pooled connection outside any city (the register of cities), inside ``bridge.run``."""
        with self._connection("public") as raw:
            yield AsyncConnection(raw)

    def _call(self, city_id: str, mirror: Any, fn: Callable[..., T], args: tuple) -> T:
        with self.city(city_id, mirror) as index:
            return fn(index, *args)

    async def run(self, city_id: str, mirror: Any, fn: Callable[..., T], *args: Any) -> T:
        """``fn(index, *args)`` on a pooled connection of the city, the event loop free meanwhile."""
        return await self.call(self._call, city_id, mirror, fn, args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, synchronous code that opens the pool's connections itself.
        A connection lost on the way (a restarted server) is dropped by the pool."""
        try:
            return await bridge.run(fn, *args)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise Unavailable(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from exc
