"""The SoR's side of the vault: it keeps sealed documents it cannot open,
under names it did not choose and that mean nothing, and destroys them for good
when a terminal says one was erased.

``PUT /v1/vault/<name>`` (enrolled, approved terminals; same bytes again → 200,
other bytes under a taken name → 409, an erased name → 410), ``GET`` (terminals
and the recovery identity; 404 not yet here, 410 erased), ``DELETE`` (erasure:
the blob goes, a tombstone with the name and the date stays so that a late
upload of the same document is refused). The index holds names, sizes and
dates, never a key, so its litestream replica holds nothing to shred.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

from aiohttp import web

from .index import Rows
from .sor import SUPERVISOR, Refused, authenticate, db, handler, lock_of, read_body, signed_body, signer, store_of
from .vault import HEADER, MAGIC, MAX_DOCUMENT

NAME = re.compile(r"^[0-9a-f]{32}$")


def blob_key(name: str) -> str:
    return f"vault/{name[:2]}/{name}"


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not NAME.match(name):
        raise Refused(400, "bad_request", "a vault document's path is /v1/vault/<32 hex digits>",
                      "le chemin d'un document du coffre est /v1/vault/<32 chiffres hexadécimaux>")
    return name


async def _erased(request: web.Request, name: str) -> None:
    if await db(request, Rows.erased, name):
        raise Refused(410, "erased", "this document was erased at the citizen's request",
                      "ce document a été effacé à la demande du citoyen")


@handler
async def put_document(request: web.Request) -> web.Response:
    name = _name(request)
    who = await signer(request)   # an unknown, revoked or stale caller is refused before its body is read
    body = await read_body(request, MAX_DOCUMENT)
    by, kind = await authenticate(request, body, who)
    if kind != "device":
        raise Refused(403, "read_only", "only an approved terminal may store or erase documents",
                      "seul un terminal approuvé peut déposer ou effacer des documents")
    if not body.startswith(MAGIC) or len(body) < HEADER + 12 + 16 + 1:
        raise Refused(422, "document_refused", "not a sealed vault document", "pas un document scellé du coffre")
    epoch = int.from_bytes(body[4:8], "big")
    store = store_of(request)
    if not await db(request, Rows.has_epoch, epoch):
        raise Refused(422, "document_refused", f"unknown key epoch {epoch}", f"époque de clé inconnue {epoch}")
    digest = hashlib.sha256(body).hexdigest()
    async with lock_of(request):
        await _erased(request, name)
        stored = await db(request, Rows.document_hash, name)
        if stored:
            if stored == digest:
                return web.json_response({"stored": False, "already": True})
            raise Refused(409, "taken", "another document is stored under this name",
                          "un autre document est enregistré sous ce nom")
        await asyncio.to_thread(store.put, blob_key(name), body)
        await db(request, Rows.add_document, name, len(body), epoch, digest, by)
        if request.app[SUPERVISOR]:
            request.app[SUPERVISOR].note_commit()
    return web.json_response({"stored": True}, status=201)


@handler
async def get_document(request: web.Request) -> web.Response:
    name = _name(request)
    await signed_body(request)
    await _erased(request, name)
    row = await db(request, Rows.document_hash, name)
    data = await asyncio.to_thread(store_of(request).get, blob_key(name)) if row else None
    if data is None:
        raise Refused(404, "not_found", "no such document at the SoR (yet)", "aucun document de ce nom au SoR (encore)")
    return web.Response(body=data, content_type="application/octet-stream")


@handler
async def delete_document(request: web.Request) -> web.Response:
    name = _name(request)
    (by, kind), _ = await signed_body(request)
    if kind != "device":
        raise Refused(403, "read_only", "only an approved terminal may store or erase documents",
                      "seul un terminal approuvé peut déposer ou effacer des documents")
    store = store_of(request)
    async with lock_of(request):
        await asyncio.to_thread(store.delete, blob_key(name))
        await db(request, Rows.erase_document, name, by)
        if request.app[SUPERVISOR]:
            request.app[SUPERVISOR].note_commit()
    return web.json_response({"erased": True})


def add_routes(app: web.Application, prefix: str = "") -> None:
    app.router.add_put(prefix + "/v1/vault/{name}", put_document)
    app.router.add_get(prefix + "/v1/vault/{name}", get_document)
    app.router.add_delete(prefix + "/v1/vault/{name}", delete_document)
