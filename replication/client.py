"""Signed HTTP requests to a system of record (the city's SoR or an office
relay): the one place that talks to the network, retries network faults and
turns the SoR's answers into the hub's fr/en errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import HubError

from . import auth

FETCH_CONCURRENCY = 8


class Unreachable(HubError):
    code = "sor_unreachable"


class SoRRefused(HubError):
    code = "sor_refused"

    def __init__(self, status: int, payload: Any, what: str) -> None:
        if isinstance(payload, dict) and "en" in payload:
            en, fr, code = payload["en"], payload.get("fr", payload["en"]), payload.get("error", "refused")
        else:
            en, fr, code = f"HTTP {status}", f"HTTP {status}", "refused"
        super().__init__(f"the SoR refused {what}: {en}", f"le SoR a refusé {what} : {fr}", code)
        self.status = status
        self.reason = code


class Link:
    """Signed requests to one SoR, retried on network faults (each retry is a
    new request with a new nonce; uploads are idempotent)."""

    def __init__(self, url: str, key_id: str, signer: Ed25519PrivateKey, attempts: int = 6,
                 timeout: float = 30.0, headers: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.headers = headers or {}
        self.key_id, self.signer = key_id, signer
        self.attempts = attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=5, sock_read=timeout)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Link":
        self.session = aiohttp.ClientSession(timeout=self.timeout,
                                             connector=aiohttp.TCPConnector(limit=FETCH_CONCURRENCY))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: bytes = b"", signed: bool = True,
                      what: str = "the request") -> tuple[int, bytes]:
        delay, last_error = 0.05, None
        for _ in range(self.attempts):
            headers = {**self.headers,
                       **(auth.sign_headers(self.key_id, self.signer, method, path, body) if signed else {})}
            if body:
                headers["Content-Type"] = "application/octet-stream"
            try:
                async with self.session.request(method, self.url + path, data=body or None, headers=headers) as resp:
                    data = await resp.read()
                    if resp.status >= 500:
                        last_error = f"HTTP {resp.status}"
                    elif resp.status == 401 and b'"replayed"' in data:
                        # someone on the path played our request first; ours was never reused
                        last_error = "request replayed on the way"
                    else:
                        return resp.status, data
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise Unreachable(f"the SoR at {self.url} is unreachable ({last_error})",
                          f"le SoR à {self.url} est injoignable ({last_error})")

    async def json(self, method: str, path: str, body: bytes = b"", signed: bool = True,
                   what: str = "the request", ok: Iterable[int] = (200,)) -> Any:
        status, data = await self.request(method, path, body, signed, what)
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        if status not in tuple(ok):
            raise SoRRefused(status, payload, what)
        if payload is None:
            raise SoRRefused(status, None, what)
        return payload
