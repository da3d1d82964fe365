"""A SoR shared by many cities: the register of cities, and the app the
stateless nodes serve.

A city's terminals talk to ``<SoR URL>/cities/<slug>`` and sign paths as if
that were a single-city SoR; the node finds the city's schema, blob prefix
and keys from the path. Whatever is not a city's — an unknown city, another
city's key, a path that does not exist — gets the same 404, so a terminal
learns neither the names nor the number of the other cities.

The operator holds no city's key: ``city add`` writes the admin key pair and
the recovery shares to the folder it is given, for the city's IT staff to
take away; the database keeps public keys only.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from aiohttp import web

from hub.errors import Invalid, NotFound

from .blobs import BlobStore, FileStore, S3Store
from .index import City, Unavailable, make_city_keys
from .index_pg import PgIndex, Pool, connect

REGISTER = """
CREATE TABLE IF NOT EXISTS cities (
    id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, public TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, blobs TEXT
)
"""
PREFIX = "/cities/{city}"


def slug(name: str) -> str:
    """The city's part of its terminals' URL: ``Mérignac`` → ``merignac``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:64]


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not slug(name) or len(name) > 100:
        raise Invalid("a city name needs at least one letter or digit (100 characters at most)",
                      "un nom de ville demande au moins une lettre ou un chiffre (100 caractères au plus)")
    return name


def _register(url: str) -> psycopg.Connection:
    try:
        conn = connect(url)
    except psycopg.OperationalError as exc:
        raise NotFound(f"cannot reach the database {_safe(url)}: {str(exc).strip().splitlines()[0]}",
                       f"base de données {_safe(url)} injoignable : {str(exc).strip().splitlines()[0]}", "no_db")
    conn.execute(REGISTER)
    return conn


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def location(blobs: str | None) -> str | None:
    """Where a city's blobs are, as the register keeps it: an S3 URL without
    its credentials — a stolen database must not open the bucket, where
    deleting the blobs would destroy the SoR's truth (who writes there brings
    the credentials: a node's ``--s3``, or ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` for the admin commands) — or an absolute folder."""
    if not blobs:
        return None
    if blobs.startswith(("http://", "https://")):
        parts = urlsplit(blobs)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=host)).rstrip("/")
    return str(Path(blobs).resolve())


def register_city(conn: Any, city_id: str, city: City, now: float, blobs: str | None = None) -> None:
    conn.execute("INSERT INTO public.cities VALUES (?,?,?,?,?,?)",
                 (city_id, slug(city.name), city.name, json.dumps(city.public()), now, location(blobs)))


def city_store(recorded: str | None, city_id: str) -> BlobStore | None:
    """A city's prefix of its recorded bucket (or folder, as ``stores`` lays it out)."""
    if not recorded:
        return None
    if recorded.startswith(("http://", "https://")):
        return stores(recorded, None)(city_id)
    return stores(None, Path(recorded))(city_id)


def _mirror(blobs: str | None, city_id: str) -> Any:
    """Where the admin commands write a city's facts: where its segments are."""
    from .rebuild import Mirror
    store = city_store(blobs, city_id)
    return Mirror(store) if store is not None else None


def add_city(url: str, name: str, shares: int, threshold: int, out: Path, blobs: str | None = None,
             now: Callable[[], float] = time.time) -> dict[str, Any]:
    """Create a city: its keys under ``out`` (admin/, shares/), its schema,
    epoch 1, and with ``blobs`` (an S3 URL, or a folder) its signed document
    and epoch there, where the admin commands will mirror what they change."""
    name, out = _check_name(name), Path(out)
    if (out / "admin").exists() or (out / "shares").exists():
        raise Invalid(f"{out} already holds an admin key or shares: give an empty folder",
                      f"{out} contient déjà une clé d'administration ou des parts : donnez un dossier vide")
    with _register(url) as conn:
        taken = conn.execute("SELECT 1 FROM cities WHERE slug=%s OR name=%s", (slug(name), name)).fetchone()
    if taken:
        raise Invalid(f"a city named {name} is already in this SoR", f"une ville nommée {name} existe déjà dans ce SoR")
    info, admin, made = make_city_keys(out, name, shares, threshold)
    city_id = secrets.token_hex(8)
    index = PgIndex.create(url, city_id)
    index.mirror = _mirror(blobs, city_id)
    try:
        with index.transaction():
            if index.mirror:
                from .rebuild import sign_city
                index.mirror.city(sign_city(admin, info))
            index.new_epoch(admin, info, "city created")
            register_city(index.conn, city_id, info, now(), blobs)
    except psycopg.errors.UniqueViolation:   # another `city add` of the same name won the race
        index.close()
        _drop_schema(url, city_id)
        raise Invalid(f"a city named {name} is already in this SoR", f"une ville nommée {name} existe déjà dans ce SoR")
    index.close()
    return {**made, "slug": slug(name), "id": city_id, "admin": str(out / "admin"), "out": str(out)}


def _drop_schema(url: str, city_id: str) -> None:
    from .index_pg import schema_name
    with connect(url) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema_name(city_id)} CASCADE")


def list_cities(url: str) -> list[dict[str, Any]]:
    with _register(url) as conn:
        rows = conn.execute("SELECT id, slug, name, created_at FROM cities ORDER BY name").fetchall()
    out = []
    for city_id, city_slug, name, created in rows:
        index = PgIndex(url, city_id)
        try:
            out.append({"city": name, "slug": city_slug, "id": city_id, "created_at": created, **index.counts()})
        finally:
            index.close()
    return out


def find_city(url: str, key: str) -> tuple[str, City]:
    """(id, public keys) of the city named ``key`` (its name or its slug)."""
    city_id, city, _ = _find(url, key)
    return city_id, city


def _find(url: str, key: str) -> tuple[str, City, str | None]:
    with _register(url) as conn:
        row = conn.execute("SELECT id, public, blobs FROM cities WHERE slug=%s", (slug(key or ""),)).fetchone()
    if row is None:
        raise NotFound(f"no city {key} in this SoR (`beffroi sor city list`)",
                       f"aucune ville {key} dans ce SoR (`beffroi sor city list`)", "no_city")
    return row[0], City.from_public(json.loads(row[1])), row[2]


def open_city(url: str, key: str) -> tuple[City, PgIndex]:
    """A city's public keys and index; its facts mirrored to the bucket recorded at `city add --s3`."""
    city_id, city, blobs = _find(url, key)
    return city, PgIndex(url, city_id, _mirror(blobs, city_id))


def city_url(sor: str, name: str) -> str:
    """The URL a terminal of city ``name`` uses at a shared SoR."""
    return f"{sor.rstrip('/')}/cities/{slug(name)}"


def stores(s3_url: str | None, folder: Path | None) -> Callable[[str], BlobStore]:
    """Each city's blobs under its own prefix: ``cities/<id>/`` of the bucket
    (or of the folder, without S3)."""
    if s3_url:
        S3Store.from_url(s3_url)   # checks the URL (and the bucket) before any city is served
        return lambda city_id: S3Store.from_url(f"{s3_url.rstrip('/')}/cities/{city_id}")
    if folder is None:
        raise Invalid("a shared SoR needs --s3 URL or a --home folder for its blobs",
                      "un SoR partagé demande --s3 URL ou un dossier --home pour ses blobs")
    return lambda city_id: FileStore(Path(folder) / "cities" / city_id / "blobs")


class Cities:
    """The node's view of the register: a city's keys and store found the
    first time one of its terminals calls (in the database, so a city added
    after the node started is served too); its index is the node's pool."""

    def __init__(self, url: str, store_for: Callable[[str], BlobStore], pool: Pool, served: str | None = None) -> None:
        self.url, self.store_for, self.pool, self.served = url, store_for, pool, location(served)
        self.open: dict[str, Any] = {}
        with _register(url):
            pass

    def _find(self, city_slug: str) -> tuple[str, City, str | None] | None:
        with self.pool.plain() as conn:
            row = conn.execute("SELECT id, public, blobs FROM cities WHERE slug=?", (city_slug,)).fetchone()
        if row is None:
            return None
        return row[0], City.from_public(json.loads(row[1])), row[2]

    def store(self, city_id: str, recorded: str | None) -> BlobStore:
        """The city's blobs where the register says they are, so that its
        segments and the facts the admin commands mirror stay together; the
        node's own store (and credentials) when that is the same place."""
        if recorded is None or recorded == self.served:
            return self.store_for(city_id)
        return city_store(recorded, city_id)

    async def tenant(self, city_slug: str) -> Any:
        from .sor import Tenant
        found = self.open.get(city_slug)
        if found is None:
            known = await self.pool.call(self._find, city_slug)
            if known is None:
                return None
            city_id, city, recorded = known
            from .rebuild import Mirror
            store = await asyncio.to_thread(self.store, city_id, recorded)
            found = self.open.setdefault(city_slug, Tenant(city, city_id, self.pool, Mirror(store), store,
                                                           f"/cities/{city_slug}"))
        return found

    def cities(self) -> list[tuple[str, str]]:
        """(slug, id) of every city in the register."""
        with self.pool.plain() as conn:
            return [(r[0], r[1]) for r in conn.execute("SELECT slug, id FROM cities ORDER BY slug")]


def make_shared_app(url: str, store_for: Callable[[str], BlobStore], body_seconds: float | None = None,
                    token: str | None = None, connections: int = 8, served: str | None = None) -> web.Application:
    """The SoR app of a shared deployment: every route of the single-city
    SoR under ``/cities/<slug>``, an unsigned liveness check and, for the
    holder of ``token``, ``/metrics`` of every city."""
    from .sor import BODY_TIME, TENANT, add_city_routes, base_app, index_unavailable, nothing_here

    pool = Pool(url, connections)
    cities = Cities(url, store_for, pool, served)   # reaches the database now: a wrong URL stops the node at start

    @web.middleware
    async def tenants(request: web.Request, handler):
        name = request.match_info.get("city")
        if name is None or request.match_info.http_exception is not None:
            if request.path in ("/v1/health", "/metrics"):
                return await handler(request)
            return nothing_here().response
        try:
            tenant = await cities.tenant(name)
        except Unavailable:
            return index_unavailable().response
        if tenant is None:
            return nothing_here().response
        request[TENANT] = tenant
        return await handler(request)

    app = base_app(None, None, [tenants])
    if body_seconds is not None:
        app[BODY_TIME] = body_seconds
    add_city_routes(app, PREFIX)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})
    app.router.add_get("/v1/health", health)
    if token is not None:
        from .metrics import shared_handler
        app.router.add_get("/metrics", shared_handler(cities, token))

    async def open_pool(app: web.Application) -> None:
        await pool.open()

    async def close(app: web.Application) -> None:
        await pool.close()
    app.on_startup.append(open_pool)
    app.on_cleanup.append(close)
    return app

