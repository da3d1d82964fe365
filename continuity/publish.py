"""Incident orders over the network: the admin publishes one to the SoR (or
an office relay), terminals fetch them with their sync, and a quick health
probe tells reachability apart from a slow sync."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from hub.errors import HubError

PROBE_TIMEOUT = 1.5   # seconds: a probe is a yes/no, not a sync


async def publish(url: str, raw: bytes) -> bool:
    """PUT the order at the SoR; True if it was new there."""
    from replication.sync import Link, SoRRefused
    doc = json.loads(raw)["doc"]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    async with Link(url, "", Ed25519PrivateKey.generate(), attempts=3) as link:
        status, body = await link.request("PUT", f"/v1/orders/{doc['id']}", raw, signed=False,
                                          what="the order upload")
    if status not in (200, 201):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        raise SoRRefused(status, payload, "the incident order")
    return status == 201


async def fetch_orders(link) -> list[bytes]:
    """The orders an upstream holds (a signed device request)."""
    answer = await link.json("GET", "/v1/orders", what="the orders request")
    return [text.encode("utf-8") for text in answer.get("orders", []) if isinstance(text, str)]


async def probe(url: str) -> tuple[bool, str | None]:
    """Does the upstream answer its health check right now? (one try)"""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as session:
            async with session.get(url.rstrip("/") + "/v1/health") as resp:
                await resp.read()
                return resp.status < 500, None if resp.status < 500 else f"HTTP {resp.status}"
    except (TimeoutError, aiohttp.ClientError, ConnectionError, OSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def refusal_text(exc: HubError) -> dict[str, Any]:
    return {"code": exc.code, "en": exc.en, "fr": exc.fr}
