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
from pathlib import Path
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.streams import EofStream

from hub.errors import Forbidden, HubError
from hub.ids import is_ulid
from hub.terminal import TERMINAL_NAME

from . import auth, keys, segment
from .blobs import BlobStore, open_store
from .index import ADMIN, RECOVERY, Index, load_city

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


def refusal(status: int, code: str, en: str, fr: str) -> web.Response:
    return web.json_response({"error": code, "en": en, "fr": fr}, status=status)


class Refused(Exception):
    def __init__(self, status: int, code: str, en: str, fr: str) -> None:
        super().__init__(en)
        self.response = refusal(status, code, en, fr)


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


def signer(request: web.Request) -> tuple[str, Any, str]:
    """(key id, public key, kind) named by the request's headers, refused
    before any body is read when the key is unknown, revoked or pending or
    the timestamp is not a fresh finite number."""
    index, city = request.app[INDEX], request.app[CITY]
    key_id = request.headers.get(auth.KEY_ID, "")
    if key_id == RECOVERY:
        public, kind = keys.sign_public(city.recovery_sign), "recovery"
    elif key_id == ADMIN:
        public, kind = keys.sign_public(city.admin_sign), "admin"
    else:
        device = index.device(key_id) if key_id else None
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


def authenticate(request: web.Request, body: bytes, who: tuple[str, Any, str] | None = None) -> tuple[str, str]:
    """(key id, "device" | "recovery" | "admin") of a correctly signed, fresh request."""
    key_id, public, kind = who or signer(request)
    try:
        nonce = auth.check(request.headers, request.method, request.path_qs, body, public)
    except auth.AuthError as exc:
        raise Refused(exc.status, "bad_signature", exc.en, exc.fr)
    if not request.app[INDEX].use_nonce(key_id, nonce, time.time(), auth.WINDOW):
        raise Refused(401, "replayed", "replayed request (nonce already used)", "requête rejouée (nonce déjà utilisé)")
    return key_id, kind


async def signed_body(request: web.Request) -> tuple[tuple[str, str], bytes]:
    """Who signed and the body, the signer named and checked before reading."""
    who = signer(request)
    body = await read_body(request)
    return authenticate(request, body, who), body


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
    return web.json_response({"ok": True, "city": request.app[CITY].name, **request.app[INDEX].counts(),
                              "blobs": request.app[STORE].name,
                              "litestream": supervisor.status() if supervisor else None})


@handler
async def city(request: web.Request) -> web.Response:
    return web.json_response(request.app[CITY].public())


@handler
async def enrol(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    if gate.locked():
        raise Refused(503, "busy", "too many enrolments at once; try again in a minute",
                      "trop d'inscriptions simultanées ; réessayez dans une minute")
    async with gate:
        return await _enrol(request)


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
        nonce = auth.check(request.headers, request.method, request.path_qs, body, public)
    except auth.AuthError as exc:
        raise Refused(exc.status, "bad_signature", exc.en, exc.fr)
    index = request.app[INDEX]
    async with request.app[LOCK]:
        with index.transaction():
            index.expire()
            if index.device(raw["terminal"]) is None and index.counts()["pending"] >= MAX_PENDING:
                raise Refused(429, "too_many", "too many pending enrolments: reject some (`beffroi sor reject`)",
                              "trop d'inscriptions en attente : rejetez-en (`beffroi sor reject`)")
            if not index.use_nonce(raw["terminal"], nonce, time.time(), auth.WINDOW):
                raise Refused(401, "replayed", "replayed request (nonce already used)",
                              "requête rejouée (nonce déjà utilisé)")
            status = index.request_enrolment(raw["terminal"], raw["name"], raw["sign_pub"], raw["kx_pub"],
                                             raw.get("invite"), office=raw.get("office"))
    return web.json_response({"status": status}, status=202 if status == "pending" else 200)


@handler
async def devices(request: web.Request) -> web.Response:
    await signed_body(request)
    index = request.app[INDEX]
    listed = [{"id": d["id"], "name": d["name"], "status": d["status"], "certificate": json.loads(d["certificate"])}
              for d in index.devices() if d["certificate"]]
    return web.json_response({"devices": listed, "revocations": index.revocations_signed()})


@handler
async def wrapped_keys(request: web.Request) -> web.Response:
    (key_id, _), _ = await signed_body(request)
    return web.json_response({"epochs": request.app[INDEX].keys_for(key_id)})


@handler
async def heads(request: web.Request) -> web.Response:
    await signed_body(request)
    return web.json_response({"heads": request.app[INDEX].heads()})


def encode_cursor(pos: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": pos}).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    if not text:
        return 0
    try:
        pos = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))["p"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Refused(400, "bad_cursor", "feed cursor is not one this SoR gave", "curseur de flux inconnu de ce SoR")
    if type(pos) is not int or not 0 <= pos < MAX_POS:
        raise Refused(400, "bad_cursor", "feed cursor is not one this SoR gave", "curseur de flux inconnu de ce SoR")
    return pos


@handler
async def feed(request: web.Request) -> web.Response:
    await signed_body(request)
    after = decode_cursor(request.query.get("cursor", ""))
    text = request.query.get("limit", str(FEED_LIMIT))
    try:
        if not DIGITS.match(text):
            raise ValueError(text)
        limit = max(1, min(FEED_LIMIT, int(text)))
    except ValueError:
        raise Refused(400, "bad_request", "limit must be an integer", "limit doit être un entier")
    rows = request.app[INDEX].feed(after, limit)
    cursor = encode_cursor(rows[-1]["pos"] if rows else after)
    return web.json_response({"segments": [{k: v for k, v in r.items() if k != "pos"} for r in rows],
                              "cursor": cursor, "more": len(rows) == limit})


@handler
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
    admin = keys.sign_public(request.app[CITY].admin_sign)
    index = request.app[INDEX]
    added = 0
    with index.transaction():
        for entry in listing["devices"]:
            cert = keys.verify_doc(admin, entry.get("certificate") if isinstance(entry, dict) else None,
                                   "a device certificate")
            if index.device(cert["terminal"]) is None:
                index.conn.execute("INSERT INTO devices (id, name, sign_pub, kx_pub, status, requested_at,"
                                   " certificate, office) VALUES (?,?,?,?,'active',?,?,?)",
                                   (cert["terminal"], cert["name"], cert["sign_pub"], cert["kx_pub"], time.time(),
                                    json.dumps(entry["certificate"]), cert.get("office")))
                added += 1
        if listing.get("revocations"):
            doc = keys.verify_doc(admin, listing["revocations"], "the revocation list")
            if doc.get("serial", 0) > index.revocations().get("serial", 0):
                index.conn.execute("INSERT OR REPLACE INTO meta VALUES ('revocations', ?)",
                                   (json.dumps(listing["revocations"]),))
            index.conn.executemany("UPDATE devices SET status='revoked' WHERE id=?",
                                   [(d,) for d in doc.get("revoked", {})])
    return web.json_response({"added": added})


ORDER_FORMAT = "beffroi-incident-order/1"
MAX_ORDER = 64 * 1024


@handler
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
    keys.verify_doc(keys.sign_public(request.app[CITY].admin_sign), outer, "the incident order")
    index = request.app[INDEX]
    with index.transaction():
        added = index.add_order(outer["doc"]["id"], body)
    return web.json_response({"stored": added}, status=201 if added else 200)


@handler
async def orders(request: web.Request) -> web.Response:
    authenticate(request, await read_body(request))
    return web.json_response({"orders": [raw.decode("utf-8") for raw in request.app[INDEX].orders()]})


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
    row = request.app[INDEX].segment_at(origin, first)
    data = await asyncio.to_thread(request.app[STORE].get, row["blob"]) if row else None
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
    index, store = request.app[INDEX], request.app[STORE]
    async with request.app[LOCK]:
        device = index.device(origin)
        if device is None or device["status"] == "pending":
            raise Refused(403, "unknown_key", f"unknown key: terminal {origin} is not enrolled",
                          f"clé inconnue : le terminal {origin} n'est pas inscrit")
        if device["status"] == "revoked":
            raise Refused(403, "revoked", f"terminal {device['name']} has been revoked: its segments are refused",
                          f"le terminal {device['name']} a été révoqué : ses segments sont refusés")
        seg.verify(keys.sign_public(device["sign_pub"]))
        if not index.conn.execute("SELECT 1 FROM epochs WHERE epoch=?", (seg.header.epoch,)).fetchone():
            raise Refused(422, "segment_refused", f"unknown key epoch {seg.header.epoch}",
                          f"époque de clé inconnue {seg.header.epoch}")
        stored = index.segment_at(origin, first)
        if stored and stored["hash"] == seg.hash:
            return web.json_response({"stored": False, "already": True})
        last, head = index.head(origin)
        reason = None
        if stored:
            reason = "fork: a different segment is stored at this position"
        elif first <= last:
            stored = index.covering(origin, first)
            reason = "stale: this position is already covered by another segment"
        elif first > last + 1:
            raise Refused(409, "gap", f"gap: the SoR holds {origin} up to #{last}, this segment starts at #{first}",
                          f"trou : le SoR a {origin} jusqu'au n°{last}, ce segment commence au n°{first}")
        elif seg.header.prev != head:
            reason = "fork: the segment does not chain to the last stored one"
        if reason:
            with index.transaction():
                index.record_fork(origin, first, stored["hash"] if stored else head, seg.hash, by, reason)
            raise Refused(409, "fork", reason, "bifurcation : un autre segment occupe déjà cette position"
                          if reason.startswith("fork") else "périmé : cette position est déjà couverte")
        blob = f"segments/{origin}/{first:012d}-{seg.hash}"
        await asyncio.to_thread(store.put, blob, body)
        with index.transaction():
            pos = index.add_segment(origin, first, seg.header.last, seg.header.epoch, seg.hash, seg.header.prev,
                                    len(body), blob)
        if request.app[SUPERVISOR]:
            request.app[SUPERVISOR].note_commit()
    return web.json_response({"stored": True, "pos": pos}, status=201)


def make_runner(app: web.Application, header_seconds: float = HEADER_SECONDS) -> web.AppRunner:
    """aiohttp's keep-alive timer runs from the connection's start until a
    whole request head has arrived: it is our header deadline (slowloris)."""
    return web.AppRunner(app, access_log=None, keepalive_timeout=header_seconds, read_bufsize=READ_BUFFER)


def make_app(home: Path, store: BlobStore, supervisor: Any = None, allow_plain: bool = False,
             body_seconds: float = BODY_SECONDS) -> web.Application:
    """``allow_plain`` accepts unsealed segments: the benchmark's baseline only."""
    app = web.Application(client_max_size=MAX_BODY)
    app[HOME] = Path(home)
    app[CITY] = load_city(home)
    app[INDEX] = Index(home)
    app[STORE] = store
    app[LOCK] = asyncio.Lock()
    app[SUPERVISOR] = supervisor
    app[ALLOW_PLAIN] = allow_plain
    app[GATE] = asyncio.Semaphore(ANONYMOUS)
    app[BODY_TIME] = body_seconds
    app.router.add_get("/v1/health", health)
    from hub import scrape

    from .metrics import handler as metrics
    app.router.add_get("/metrics", metrics(app[INDEX], scrape.token(home)))
    app.router.add_get("/v1/city", city)
    app.router.add_post("/v1/enrol", enrol)
    app.router.add_get("/v1/devices", devices)
    app.router.add_post("/v1/devices", learn_devices)
    app.router.add_get("/v1/keys", wrapped_keys)
    app.router.add_get("/v1/heads", heads)
    app.router.add_get("/v1/feed", feed)
    app.router.add_put("/v1/segments/{origin}/{first}", put_segment)
    app.router.add_get("/v1/segments/{origin}/{first}", get_segment)
    from .sor_vault import add_routes
    add_routes(app)
    app.router.add_put("/v1/orders/{order_id}", put_order)
    app.router.add_get("/v1/orders", orders)

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
