"""The system of record: an aiohttp server that keeps segments it cannot read.

Every answer is JSON ``{"error": code, "en": …, "fr": …}`` when refused, and
a refused request stores nothing (a fork is *recorded*, the segment is not).
An upload is acknowledged only once its blob is durable and its index row is
committed, so an acknowledged segment survives a ``kill -9``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import ClientPayloadError, web
from aiohttp.streams import EofStream

from hub.errors import Forbidden, HubError
from hub.ids import is_ulid
from hub.terminal import TERMINAL_NAME

from . import auth, keys, segment
from .blobs import BlobStore, open_store
from .index import ADMIN, RECOVERY, Index, Rows, SorIndex, Unavailable, load_city

MAX_BODY = segment.MAX_SEGMENT + 4096
MAX_ENROL_BODY = 4096    # four short strings and a code
FEED_LIMIT = 500
MAX_PENDING = 1000
BODY_SECONDS = 30.0      # a whole body, even the largest segment, arrives within this on a working link
ANONYMOUS = 16           # enrolments being read at once; more are turned away before reading
MAX_POS = 2**62
HEADER_SECONDS = 15.0    # request line and headers within this of connecting (or of the last answer)
READ_BUFFER = 16 * 1024  # what one connection buffers before reading pauses: 100 stalled uploads hold ~3 MB
DIGITS = re.compile(r"^[0-9]{1,16}$")

HOME = web.AppKey("home", Path)
INDEX = web.AppKey("index", Index)
STORE = web.AppKey("store", object)
CITY = web.AppKey("city", object)
LOCK = web.AppKey("lock", asyncio.Lock)
SUPERVISOR = web.AppKey("supervisor", object)
ALLOW_PLAIN = web.AppKey("allow_plain", bool)
GATE = web.AppKey("gate", asyncio.Semaphore)
BODY_TIME = web.AppKey("body_seconds", float)


TENANT = web.RequestKey("tenant", object)   # the request's city in a shared SoR (see replication.cities)


@dataclass
class Tenant:
    """One city of a shared SoR: its keys, its index (the node's pool, on the
    city's schema), blobs and enrolment lock. ``base`` is the path prefix its
    terminals' URL carries; signatures cover the path after it, as a
    single-city SoR sees it."""

    city: Any
    city_id: str
    pool: Any            # replication.index_pg.Pool
    mirror: Any          # replication.rebuild.Mirror: the city's facts in its bucket too
    store: BlobStore
    base: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


T = TypeVar("T")


async def db(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """``fn(index, *args)``, one unit of work on the request's index. On a
    shared SoR it runs on a pooled async connection (``index_pg.Pool``), so
    the event loop never waits on PostgreSQL; a single-city SoR runs it inline: its SQLite answers
    in microseconds, and its connection belongs to the loop's thread."""
    tenant = request.get(TENANT)
    if tenant:
        try:
            return await tenant.pool.run(tenant.city_id, tenant.mirror, fn, *args)
        except Unavailable:
            raise index_unavailable()
    return fn(request.app[INDEX], *args)


def index_unavailable() -> Refused:
    return Refused(503, "index_unavailable", "the SoR's database did not answer: try again (`beffroi sync` "
                   "does by itself; a segment sent twice is stored once)", "la base de données du SoR n'a pas "
                   "répondu : réessayez (`beffroi sync` le fait de lui-même ; un segment envoyé deux fois "
                   "n'est enregistré qu'une fois)")


def city_of(request: web.Request) -> Any:
    tenant = request.get(TENANT)
    return tenant.city if tenant else request.app[CITY]


def store_of(request: web.Request) -> BlobStore:
    tenant = request.get(TENANT)
    return tenant.store if tenant else request.app[STORE]


def lock_of(request: web.Request) -> asyncio.Lock:
    tenant = request.get(TENANT)
    return tenant.lock if tenant else request.app[LOCK]


def signed_path(request: web.Request) -> str:
    tenant = request.get(TENANT)
    return request.path_qs[len(tenant.base):] if tenant else request.path_qs


def refusal(status: int, code: str, en: str, fr: str) -> web.Response:
    return web.json_response({"error": code, "en": en, "fr": fr}, status=status)


class Refused(Exception):
    def __init__(self, status: int, code: str, en: str, fr: str) -> None:
        super().__init__(en)
        self.response = refusal(status, code, en, fr)


def nothing_here() -> Refused:
    """A shared SoR's one answer for a city that does not exist, a path that
    does not either, and a key another city enrolled: the same 404."""
    return Refused(404, "not_found", "nothing here", "rien ici")


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, refusing an over-size one before reading it and a slow
    one after the app's body time: a stalled sender cannot hold memory or a slot."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_large", f"body over {limit} bytes", f"corps de requête de plus de {limit} octets")
    chunks, size = [], 0

    async def drain() -> None:
        nonlocal size
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise Refused(413, "too_large", f"body over {limit} bytes",
                              f"corps de requête de plus de {limit} octets")
            chunks.append(chunk)
    try:
        await asyncio.wait_for(drain(), request.app[BODY_TIME])
    except TimeoutError:
        chunks.clear()
        raise Refused(408, "too_slow", f"the body did not arrive within {request.app[BODY_TIME]:g} s",
                      f"le corps n'est pas arrivé en {request.app[BODY_TIME]:g} s")
    except (ConnectionError, EofStream, ClientPayloadError):
        raise Refused(400, "truncated", "the upload was cut before its end", "l'envoi a été coupé avant la fin")
    body = b"".join(chunks)
    if request.content_length is not None and len(body) != request.content_length:
        raise Refused(400, "truncated", "body shorter than announced", "corps plus court qu'annoncé")
    return body


async def signer(request: web.Request) -> tuple[str, Any, str]:
    """(key id, public key, kind) named by the request's headers, refused
    before any body is read when the key is unknown, revoked or pending or
    the timestamp is not a fresh finite number."""
    city = city_of(request)
    key_id = request.headers.get(auth.KEY_ID, "")
    if key_id == RECOVERY:
        public, kind = keys.sign_public(city.recovery_sign), "recovery"
    elif key_id == ADMIN:
        public, kind = keys.sign_public(city.admin_sign), "admin"
    else:
        device = await db(request, Rows.device, key_id) if key_id else None
        if device is None and request.get(TENANT):
            raise nothing_here()   # a shared SoR does not say whether a city exists
        if device is None:
            raise Refused(401, "unknown_key", "unknown key: this terminal is not enrolled at this SoR",
                          "clé inconnue : ce terminal n'est pas inscrit auprès de ce SoR")
        if device["status"] == "revoked":
            raise Refused(403, "revoked", "this terminal has been revoked", "ce terminal a été révoqué")
        if device["status"] == "pending":
            raise Refused(403, "pending", "this terminal awaits approval (`beffroi sor approve`)",
                          "ce terminal attend son approbation (`beffroi sor approve`)")
        public, kind = keys.sign_public(device["sign_pub"]), "device"
    try:
        auth.fresh(request.headers)
    except auth.AuthError as exc:
        raise Refused(exc.status, "bad_signature", exc.en, exc.fr)
    return key_id, public, kind


async def authenticate(request: web.Request, body: bytes,
                       who: tuple[str, Any, str] | None = None) -> tuple[str, str]:
    """(key id, "device" | "recovery" | "admin") of a correctly signed, fresh request."""
    key_id, public, kind = who or await signer(request)
    try:
        nonce = auth.check(request.headers, request.method, signed_path(request), body, public)
    except auth.AuthError as exc:
        raise Refused(exc.status, "bad_signature", exc.en, exc.fr)
    if not await db(request, Rows.use_nonce, key_id, nonce, time.time(), auth.WINDOW):
        raise Refused(401, "replayed", "replayed request (nonce already used)", "requête rejouée (nonce déjà utilisé)")
    return key_id, kind


async def signed_body(request: web.Request) -> tuple[tuple[str, str], bytes]:
    """Who signed and the body, the signer named and checked before reading."""
    who = await signer(request)
    body = await read_body(request)
    return await authenticate(request, body, who), body


def self_proving(fn):
    """A route no key signs (its body carries the admin's signature): on a
    shared SoR whatever it refuses is answered "nothing here", so that a
    stranger cannot tell a city that exists from one that does not."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except (Refused, HubError):
            if request.get(TENANT):
                raise nothing_here()
            raise
    return wrapped


def handler(fn):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except Refused as exc:
            return exc.response
        except Forbidden as exc:
            return refusal(403, exc.code, exc.en, exc.fr)
        except HubError as exc:
            return refusal(422, exc.code, exc.en, exc.fr)
    return wrapped


# --- routes -----------------------------------------------------------------

@handler
async def health(request: web.Request) -> web.Response:
    """Liveness for anyone; counts, epoch and litestream only for a signed caller."""
    if auth.KEY_ID not in request.headers:
        return web.json_response({"ok": True})
    await signed_body(request)
    supervisor = request.app[SUPERVISOR]
    return web.json_response({"ok": True, "city": city_of(request).name, **await db(request, Rows.counts),
                              "blobs": store_of(request).name,
                              "litestream": supervisor.status() if supervisor else None})


@handler
async def city(request: web.Request) -> web.Response:
    """On a shared SoR only for who shows an open invitation of this city or
    signs with one of its keys (a device, the recovery or the admin key):
    anyone else cannot tell a city that exists from one that does not."""
    if request.get(TENANT):
        code = request.headers.get(auth.INVITE, "")
        if not (code and len(code) <= 64 and await db(request, Rows.invitation_open, code)):
            if auth.KEY_ID not in request.headers:
                raise nothing_here()
            try:
                await signed_body(request)
            except (Refused, HubError):
                raise nothing_here()
    return web.json_response(city_of(request).public())


@handler
async def enrol(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    if gate.locked():
        raise Refused(503, "busy", "too many enrolments at once; try again in a minute",
                      "trop d'inscriptions simultanées ; réessayez dans une minute")
    async with gate:
        if not request.get(TENANT):
            return await _enrol(request)
        try:
            return await _enrol(request)
        except (Refused, HubError):
            # No invitation, a bad signature…: said alike for a city that does
            # not exist (the terminal's `enroll` explains what to check).
            raise nothing_here()


async def _enrol(request: web.Request) -> web.Response:
    """Anyone may knock, so nothing is stored without a valid signature by the
    key it declares *and* an open invitation for its name (or the same keys
    already on file)."""
    body = await read_body(request, MAX_ENROL_BODY)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "bad_request", "enrolment body is not JSON", "la demande d'inscription n'est pas du JSON")
    wanted = {"terminal", "name", "sign_pub", "kx_pub"}
    if not isinstance(raw, dict) or not wanted <= set(raw) <= wanted | {"invite", "office"} \
            or not all(isinstance(v, str) for v in raw.values()):
        raise Refused(400, "bad_request", "enrolment needs terminal, name, sign_pub, kx_pub, invite (text)",
                      "l'inscription demande terminal, name, sign_pub, kx_pub, invite (texte)")
    if not is_ulid(raw["terminal"]) or not TERMINAL_NAME.match(raw["name"]) \
            or not TERMINAL_NAME.match(raw.get("office", "X")):
        raise Refused(400, "bad_request", "terminal id, name or office malformed",
                      "identifiant, nom ou bureau du terminal malformé")
    public = keys.sign_public(raw["sign_pub"])
    keys.kx_public(raw["kx_pub"])
    if request.headers.get(auth.KEY_ID) != raw["terminal"]:
        raise Refused(401, "bad_signature", "enrolment must be signed by the terminal's own key",
                      "l'inscription doit être signée par la clé du terminal")
    try:
        nonce = auth.check(request.headers, request.method, signed_path(request), body, public)
    except auth.AuthError as exc:
        raise Refused(exc.status, "bad_signature", exc.en, exc.fr)

    def request_(index: SorIndex) -> str:
        with index.transaction():
            index.expire()
            if index.device(raw["terminal"]) is None and index.counts()["pending"] >= MAX_PENDING:
                raise Refused(429, "too_many", "too many pending enrolments: reject some (`beffroi sor reject`)",
                              "trop d'inscriptions en attente : rejetez-en (`beffroi sor reject`)")
            if not index.use_nonce(raw["terminal"], nonce, time.time(), auth.WINDOW):
                raise Refused(401, "replayed", "replayed request (nonce already used)",
                              "requête rejouée (nonce déjà utilisé)")
            return index.request_enrolment(raw["terminal"], raw["name"], raw["sign_pub"], raw["kx_pub"],
                                           raw.get("invite"), office=raw.get("office"))
    async with lock_of(request):
        status = await db(request, request_)
    return web.json_response({"status": status}, status=202 if status == "pending" else 200)


@handler
async def devices(request: web.Request) -> web.Response:
    await signed_body(request)
    found, revocations = await db(request, lambda index: (index.devices(), index.revocations_signed()))
    listed = [{"id": d["id"], "name": d["name"], "status": d["status"], "certificate": json.loads(d["certificate"])}
              for d in found if d["certificate"]]
    return web.json_response({"devices": listed, "revocations": revocations})


@handler
async def wrapped_keys(request: web.Request) -> web.Response:
    (key_id, _), _ = await signed_body(request)
    return web.json_response({"epochs": await db(request, Rows.keys_for, key_id)})


@handler
async def heads(request: web.Request) -> web.Response:
    await signed_body(request)
    return web.json_response({"heads": await db(request, Rows.heads)})


def encode_cursor(pos: int, generation: int = 0) -> str:
    """The feed position, and the index's generation once it was rebuilt."""
    doc = {"p": pos, "g": generation} if generation else {"p": pos}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def decode_cursor(text: str, generation: int = 0) -> int:
    """A cursor of another generation (given before a rebuild) starts again
    at 0: the terminal re-reads the list and fetches only what it lacks."""
    if not text:
        return 0
    try:
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        pos = doc["p"]
        if doc.get("g", 0) != generation and type(pos) is int:
            return 0
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise Refused(400, "bad_cursor", "feed cursor is not one this SoR gave", "curseur de flux inconnu de ce SoR")
    if type(pos) is not int or not 0 <= pos < MAX_POS:
        raise Refused(400, "bad_cursor", "feed cursor is not one this SoR gave", "curseur de flux inconnu de ce SoR")
    return pos


@handler
async def feed(request: web.Request) -> web.Response:
    await signed_body(request)
    text = request.query.get("limit", str(FEED_LIMIT))
    try:
        if not DIGITS.match(text):
            raise ValueError(text)
        limit = max(1, min(FEED_LIMIT, int(text)))
    except ValueError:
        raise Refused(400, "bad_request", "limit must be an integer", "limit doit être un entier")

    def read(index: SorIndex) -> tuple[int, int, list[dict[str, Any]]]:
        generation = index.generation()
        after = decode_cursor(request.query.get("cursor", ""), generation)
        return generation, after, index.feed(after, limit)
    generation, after, rows = await db(request, read)
    cursor = encode_cursor(rows[-1]["pos"] if rows else after, generation)
    return web.json_response({"segments": [{k: v for k, v in r.items() if k != "pos"} for r in rows],
                              "cursor": cursor, "more": len(rows) == limit})


@handler
@self_proving
async def learn_devices(request: web.Request) -> web.Response:
    """An office relay learns terminals approved after it was made: a terminal
    hands over the admin-signed device list it holds. Every certificate and the
    revocation list are checked against the city admin key, so nothing but what
    the admin signed gets in; a known device is left as it is, and a newer
    revocation list only ever revokes."""
    body = await read_body(request)
    try:
        listing = json.loads(body)
    except ValueError:
        listing = None
    if not isinstance(listing, dict) or not isinstance(listing.get("devices"), list):
        raise Refused(400, "bad_request", "a device list is {devices, revocations}",
                      "une liste d'appareils est {devices, revocations}")
    admin = keys.sign_public(city_of(request).admin_sign)

    def learn(index: SorIndex) -> int:
        added = 0
        with index.transaction():
            for entry in listing["devices"]:
                cert = keys.verify_doc(admin, entry.get("certificate") if isinstance(entry, dict) else None,
                                       "a device certificate")
                added += index.learn_device(entry["certificate"], cert)
            if listing.get("revocations"):
                doc = keys.verify_doc(admin, listing["revocations"], "the revocation list")
                index.learn_revocations(listing["revocations"], doc)
        return added
    return web.json_response({"added": await db(request, learn)})


ORDER_FORMAT = "beffroi-incident-order/1"
MAX_ORDER = 64 * 1024


@handler
@self_proving
async def put_order(request: web.Request) -> web.Response:
    """Publish an incident order. No device signs this request: the order is
    its own proof (admin signature over its exact canonical bytes); the SoR
    stores it for the terminals and obeys nothing in it."""
    from hub import canonical
    body = await read_body(request)
    try:
        outer = json.loads(body) if len(body) <= MAX_ORDER else None
        exact = outer is not None and canonical.encode(outer) + b"\n" == body
    except ValueError:
        exact = False
    if not exact or not isinstance(outer, dict) or not isinstance(outer.get("doc"), dict) \
            or outer["doc"].get("format") != ORDER_FORMAT or outer["doc"].get("id") != request.match_info["order_id"]:
        raise Refused(400, "bad_order", "not an incident order (or not the one this path names)",
                      "ce n'est pas un ordre d'incident (ou pas celui que nomme ce chemin)")
    keys.verify_doc(keys.sign_public(city_of(request).admin_sign), outer, "the incident order")

    def add(index: SorIndex) -> bool:
        with index.transaction():
            return index.add_order(outer["doc"]["id"], body)
    added = await db(request, add)
    return web.json_response({"stored": added}, status=201 if added else 200)


@handler
async def orders(request: web.Request) -> web.Response:
    await authenticate(request, await read_body(request))
    return web.json_response({"orders": [raw.decode("utf-8") for raw in await db(request, Rows.orders)]})


def _position(request: web.Request) -> tuple[str, int]:
    origin, first = request.match_info["origin"], request.match_info["first"]
    if not is_ulid(origin) or not DIGITS.match(first) or not 0 < int(first) < 2**53:
        raise Refused(400, "bad_request", "segment path is /v1/segments/<terminal id>/<first seq>",
                      "le chemin d'un segment est /v1/segments/<terminal>/<premier numéro>")
    return origin, int(first)


@handler
async def get_segment(request: web.Request) -> web.Response:
    origin, first = _position(request)
    await signed_body(request)
    row = await db(request, Rows.segment_at, origin, first)
    data = await asyncio.to_thread(store_of(request).get, row["blob"]) if row else None
    if data is None:
        raise Refused(404, "not_found", "no such segment", "segment introuvable")
    return web.Response(body=data, content_type="application/octet-stream")


@handler
async def put_segment(request: web.Request) -> web.Response:
    origin, first = _position(request)
    (by, kind), body = await signed_body(request)
    if kind != "device":
        raise Refused(403, "read_only", "the recovery identity can only read", "l'identité de récupération ne fait que lire")
    seg = segment.parse(body, allow_plain=request.app[ALLOW_PLAIN])
    if (seg.header.origin, seg.header.first) != (origin, first):
        raise Refused(422, "segment_refused", "segment header does not match its path",
                      "l'en-tête du segment ne correspond pas à son chemin")
    store = store_of(request)

    def place(index: SorIndex) -> Any:
        device = index.device(origin)
        if device is None or device["status"] == "pending":
            raise Refused(403, "unknown_key", f"unknown key: terminal {origin} is not enrolled",
                          f"clé inconnue : le terminal {origin} n'est pas inscrit")
        if device["status"] == "revoked":
            raise Refused(403, "revoked", f"terminal {device['name']} has been revoked: its segments are refused",
                          f"le terminal {device['name']} a été révoqué : ses segments sont refusés")
        seg.verify(keys.sign_public(device["sign_pub"]))
        if not index.has_epoch(seg.header.epoch):
            raise Refused(422, "segment_refused", f"unknown key epoch {seg.header.epoch}",
                          f"époque de clé inconnue {seg.header.epoch}")
        found = index.placement(origin, first, seg.header.prev, seg.hash)
        if found.verdict in ("fork", "stale"):
            with index.transaction():
                index.record_fork(origin, first, found.stored, seg.hash, by, found.reason)
        return found
    # A shared SoR's uploads of one city run side by side: the database keeps
    # them apart (see index_pg); the single-city SoR stores one at a time.
    async with nullcontext() if request.get(TENANT) else lock_of(request):
        found = await db(request, place)
        if found.verdict != "new":
            return _placed(found, origin, first)
        blob = f"segments/{origin}/{first:012d}-{seg.hash}"
        await asyncio.to_thread(store.put, blob, body)
        # checked again under the feed lock: another node may have stored here meanwhile
        found = await db(request, Rows.store_segment, origin, first, seg.header.last, seg.header.epoch, seg.hash,
                         seg.header.prev, len(body), blob, by)
        if found.verdict in ("fork", "stale", "gap"):
            # lost the race to another node: the blob was never acknowledged, and the bucket is the truth
            await asyncio.to_thread(store.delete, blob)
        if found.verdict != "new":
            return _placed(found, origin, first)
        if request.app[SUPERVISOR]:
            request.app[SUPERVISOR].note_commit()
    return web.json_response({"stored": True, "pos": found.pos}, status=201)


def _placed(found: Any, origin: str, first: int) -> web.Response:
    """The answer to a segment that was not stored (the fork already recorded)."""
    if found.verdict == "already":
        return web.json_response({"stored": False, "already": True})
    if found.verdict == "gap":
        raise Refused(409, "gap", f"gap: the SoR holds {origin} up to #{found.last}, this segment starts at #{first}",
                      f"trou : le SoR a {origin} jusqu'au n°{found.last}, ce segment commence au n°{first}")
    raise Refused(409, "fork", found.reason, "bifurcation : un autre segment occupe déjà cette position"
                  if found.verdict == "fork" else "périmé : cette position est déjà couverte")


def make_runner(app: web.Application, header_seconds: float = HEADER_SECONDS) -> web.AppRunner:
    """aiohttp's keep-alive timer runs from the connection's start until a
    whole request head has arrived: it is our header deadline (slowloris)."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=header_seconds, read_bufsize=READ_BUFFER)


def base_app(home: Path | None, store: BlobStore | None, middlewares: list | tuple = (), supervisor: Any = None,
             allow_plain: bool = False, body_seconds: float = BODY_SECONDS) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=list(middlewares))
    if home is not None:
        app[HOME] = Path(home)
        app[CITY] = load_city(home)
        app[INDEX] = Index(home)
    app[STORE] = store
    app[LOCK] = asyncio.Lock()
    app[SUPERVISOR] = supervisor
    app[ALLOW_PLAIN] = allow_plain
    app[GATE] = asyncio.Semaphore(ANONYMOUS)
    app[BODY_TIME] = body_seconds
    return app


def add_city_routes(app: web.Application, prefix: str = "") -> None:
    """What one city's terminals call, under ``prefix`` (a shared SoR's ``/cities/{city}``)."""
    app.router.add_get(prefix + "/v1/health", health)
    app.router.add_get(prefix + "/v1/city", city)
    app.router.add_post(prefix + "/v1/enrol", enrol)
    app.router.add_get(prefix + "/v1/devices", devices)
    app.router.add_post(prefix + "/v1/devices", learn_devices)
    app.router.add_get(prefix + "/v1/keys", wrapped_keys)
    app.router.add_get(prefix + "/v1/heads", heads)
    app.router.add_get(prefix + "/v1/feed", feed)
    app.router.add_put(prefix + "/v1/segments/{origin}/{first}", put_segment)
    app.router.add_get(prefix + "/v1/segments/{origin}/{first}", get_segment)
    from .sor_vault import add_routes
    add_routes(app, prefix)
    app.router.add_put(prefix + "/v1/orders/{order_id}", put_order)
    app.router.add_get(prefix + "/v1/orders", orders)


def make_app(home: Path, store: BlobStore, supervisor: Any = None, allow_plain: bool = False,
             body_seconds: float = BODY_SECONDS) -> web.Application:
    """``allow_plain`` accepts unsealed segments: the benchmark's baseline only."""
    app = base_app(home, store, (), supervisor, allow_plain, body_seconds)
    from hub import scrape

    from .metrics import handler as metrics
    app.router.add_get("/metrics", metrics(app[INDEX], scrape.token(home)))
    add_city_routes(app)

    async def close(app: web.Application) -> None:
        app[INDEX].close()
    app.on_cleanup.append(close)
    return app


async def serve(home: Path, host: str, port: int, s3_url: str | None, litestream: bool = True,
                replica_url: str | None = None, allow_plain: bool = False) -> None:
    """Run until SIGTERM/SIGINT; prints the URL once listening (port 0 picks one)."""
    from .litestream import Supervisor
    home = Path(home)
    load_city(home)
    store = await asyncio.to_thread(open_store, home, s3_url)
    supervisor = Supervisor(home, replica_url) if litestream else None
    app = make_app(home, store, supervisor, allow_plain)
    runner = make_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    if supervisor:
        await supervisor.start()
    print(f"SoR listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if supervisor:
        await supervisor.stop()
    await runner.cleanup()
    print("SoR stopped", file=sys.stderr, flush=True)


async def serve_shared(db_url: str, host: str, port: int, s3_url: str | None, folder: Path | None,
                       token: str | None = None, connections: int = 8) -> None:
    """One node of a shared SoR: stateless, so any number may serve the same
    database and bucket; runs until SIGTERM/SIGINT. ``/metrics`` asks for
    ``token`` (the scrape token of the node's home: copy one file to every
    node for one Prometheus job)."""
    from .cities import make_shared_app, stores
    store_for = stores(s3_url, folder)
    app = await asyncio.to_thread(make_shared_app, db_url, store_for, None, token, connections,
                                  s3_url or (str(folder) if folder else None))
    runner = make_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"shared SoR (each city under /cities/<city>) listening on http://{host}:{runner.addresses[0][1]}",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    print("SoR stopped", file=sys.stderr, flush=True)
