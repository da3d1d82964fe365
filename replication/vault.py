"""Vault documents between a terminal and the SoR: sent sealed for the city,
fetched on demand by any enrolled terminal, shredded everywhere on erasure.

At the SoR a document is one blob, ``vault/<name>``::

    b"BFV1" | epoch (4 bytes) | nonce (12) | content key sealed by the epoch
    data key (AES-256-GCM, 48) | the document sealed by its content key

The content key is wrapped by the key epoch current when the document was
sent, so every terminal holding that epoch (and the recovery key, which
holds them all) can open it, a terminal revoked before then cannot, and the
SoR never can. The only copies of the wrapped key are inside that blob and the
terminals' own files: deleting them destroys the document for good.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub import vault
from hub.errors import Invalid, NotFound
from hub.terminal import Terminal

from .client import Link, SoRRefused
from .trust import Trust

T = TypeVar("T")
MAGIC = b"BFV1"
HEADER = 4 + 4 + 12 + 48          # magic, epoch, nonce, wrapped content key
MAX_DOCUMENT = HEADER + vault.MAX_BYTES + 12 + 16
FETCH_CONCURRENCY = 4

TAMPERED = vault.TAMPERED


def _aad(name: str, epoch: int) -> bytes:
    return MAGIC + epoch.to_bytes(4, "big") + name.encode()


def for_city(name: str, key: bytes, sealed: bytes, epoch: int, epoch_key: bytes) -> bytes:
    nonce = os.urandom(12)
    head = MAGIC + epoch.to_bytes(4, "big")
    return head + nonce + AESGCM(epoch_key).encrypt(nonce, key, _aad(name, epoch)) + sealed


def epoch_of(raw: bytes) -> int:
    if not raw.startswith(MAGIC) or len(raw) < HEADER + 12 + 16:
        raise Invalid(*TAMPERED)
    return int.from_bytes(raw[4:8], "big")


def from_city(name: str, raw: bytes, epoch_keys: dict[int, bytes]) -> tuple[bytes, bytes]:
    """(content key, sealed document) out of a SoR blob."""
    epoch = epoch_of(raw)
    epoch_key = epoch_keys.get(epoch)
    if epoch_key is None:
        raise Invalid(f"this terminal holds no key of epoch {epoch}: it cannot open this document "
                      "(revoked, or not approved yet)",
                      f"ce terminal n'a pas la clé de l'époque {epoch} : il ne peut pas ouvrir ce document "
                      "(révoqué, ou pas encore approuvé)")
    try:
        key = AESGCM(epoch_key).decrypt(raw[8:20], raw[20:HEADER], _aad(name, epoch))
    except InvalidTag:
        raise Invalid(*TAMPERED)
    return key, raw[HEADER:]


async def fetch(link: Link, trust: Trust, document: dict[str, Any],
                refresh: Callable[[], Awaitable[Trust]] | None = None) -> tuple[bytes, bytes]:
    """A document's content key and sealed bytes from the SoR; refreshes the
    keys once when it was sealed under an epoch this terminal has not seen."""
    name = document["blob"]
    status, data = await link.request("GET", f"/v1/vault/{name}")
    if status == 404:
        raise NotFound("the document's content has not reached the SoR yet: the terminal where it was deposited "
                       "must sync first", "le contenu du document n'est pas encore au SoR : le terminal où il a été "
                       "déposé doit d'abord se synchroniser", "not_yet")
    if status == 410:
        raise NotFound("this document was erased at the citizen's request: its content no longer exists anywhere",
                       "ce document a été effacé à la demande du citoyen : son contenu n'existe plus nulle part",
                       "erased")
    if status != 200:
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        raise SoRRefused(status, payload, "the document")
    if epoch_of(data) not in trust.keys and refresh is not None:
        trust = await refresh()
    return from_city(name, data, trust.keys)


async def fetch_missing(link: Link, trust: Trust, terminal: Terminal) -> tuple[int, int, list[str]]:
    """Bring every document this terminal lacks (a restore): count, bytes, refusals."""
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)
    done, size, refused = 0, 0, []

    async def one(document: dict[str, Any]) -> None:
        nonlocal done, size
        try:
            async with gate:
                key, sealed = await fetch(link, trust, document)
            vault.keep(terminal, document, key, sealed)
            done, size = done + 1, size + document["size"]
        except (Invalid, NotFound, SoRRefused) as exc:
            refused.append(f"document {document['id']}: {exc.en}")
    await asyncio.gather(*(one(d) for d in vault.missing(terminal)))
    return done, size, refused


async def send(replicator: Any, link: Link, trust: Trust, report: Any) -> None:
    """Send this terminal's new documents (before the segments that name them)
    and delete erased ones at the SoR; each done once (replication.db)."""
    terminal, local = replicator.terminal, replicator.local
    epoch = max(trust.keys)
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(document: dict[str, Any]) -> None:
        async with gate:   # at most a few documents in memory at once
            held = vault.held(terminal, document)
            if held is None:
                return
            body = for_city(document["blob"], *held, epoch=epoch, epoch_key=trust.keys[epoch])
            status, data = await link.request("PUT", f"/v1/vault/{document['blob']}", body)
        if status in (200, 201, 410):   # 410: erased meanwhile elsewhere; the merge will shred ours
            local.set_document_state(document["blob"], "sent")
            report.documents_sent += status == 201
        else:
            try:
                payload = json.loads(data)
            except ValueError:
                payload = None
            report.refused.append(SoRRefused(status, payload, f"document {document['id']}").en)
    unsent = [d for d in vault.documents(terminal, "erased_hlc IS NULL AND origin = ?", (terminal.id,))
              if local.document_state(d["blob"]) is None]
    await asyncio.gather(*(one(d) for d in unsent))
    for document in vault.documents(terminal, "erased_hlc IS NOT NULL"):
        if local.document_state(document["blob"]) == "erased":
            continue
        status, data = await link.request("DELETE", f"/v1/vault/{document['blob']}")
        if status == 200:
            local.set_document_state(document["blob"], "erased")
            report.documents_erased += 1
        else:
            report.refused.append(SoRRefused(status, None, f"the erasure of document {document['id']}").en)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:   # called from inside an app's loop
        return pool.submit(asyncio.run, coro).result()


class CityCourier:
    """Fetches a document this terminal lacks from the city's SoR."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    def fetch(self, document: dict[str, Any]) -> tuple[bytes, bytes]:
        return _run(self._fetch(document))

    async def _fetch(self, document: dict[str, Any]) -> tuple[bytes, bytes]:
        from .sync import Replicator
        replicator = Replicator(self.terminal)
        try:
            async with replicator.link() as link:
                return await fetch(link, replicator.trust(), document, lambda: replicator.refresh(link))
        finally:
            replicator.close()


def courier(terminal: Terminal) -> CityCourier | None:
    """The ``beffroi.vault`` entry point: a courier for an enrolled terminal."""
    if not (terminal.home / "replication.db").exists() or not (terminal.home / "keys" / "device-sign.key").exists():
        return None
    return CityCourier(terminal)
