"""Connectors: how the outbox talks to each back-office system.

One interface (:class:`Connector`: ``send(item) -> reference``, ``health()``) so
the outbox does not care whether the civil-status registry speaks HTTP, a
message queue or an SFTP drop. The city lists its back offices in the
terminal home (``connectors.json``: name → URL); the bundled one,
:class:`HttpConnector`, speaks the small JSON protocol of the simulators in
``continuity.backoffice`` and is strict about what counts as success: a 2xx
whose JSON names this item's key and a well-formed reference. Anything else is
:class:`~continuity.outbox.Transient` (retry, same key) or, for a 4xx that
says the content is wrong, :class:`~continuity.outbox.Refused`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from hub.errors import Invalid
from hub.outbox import CONNECTORS
from hub.terminal import write_private

from .outbox import Item, Refused, Transient

CONFIG = "connectors.json"
REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9 ./_-]{2,63}$")


class Connector(Protocol):
    name: str

    async def send(self, item: Item) -> str:
        """Deliver one item; the back office's reference once it holds it."""

    async def health(self) -> bool:
        """Whether the back office answers at all (the degraded-mode check)."""


class HttpConnector:
    def __init__(self, name: str, url: str, session: aiohttp.ClientSession, timeout_s: float = 10.0) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, item: Item) -> str:
        body = {"key": item.key, "kind": item.kind, "payload": item.payload}
        try:
            async with self.session.post(f"{self.url}/v1/items", json=body, timeout=self.timeout,
                                         headers={"Idempotency-Key": item.key}) as response:
                text = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"{self.name} unreachable or silent: {type(exc).__name__} {exc}".strip())
        if status >= 500 or status in (408, 429):
            raise Transient(f"{self.name} answered {status}")
        if 400 <= status < 500:
            raise Refused(f"{status} {text[:200]}")
        if status not in (200, 201):
            raise Transient(f"{self.name} answered {status}, not a receipt")
        try:
            answer = json.loads(text)
        except ValueError:
            raise Transient(f"{self.name} answered {status} with a body that is not JSON")
        if not isinstance(answer, dict) or answer.get("key") != item.key:
            raise Transient(f"{self.name} answered for another item or no item at all")
        reference = answer.get("reference")
        if not isinstance(reference, str) or not REFERENCE.match(reference):
            raise Transient(f"{self.name} answered without a well-formed reference")
        return reference

    async def health(self) -> bool:
        try:
            async with self.session.get(f"{self.url}/v1/health", timeout=self.timeout) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{url!r} is not an http(s) URL", f"{url!r} n'est pas une URL http(s)")
    return url.rstrip("/")


def load(home: Path) -> dict[str, str]:
    """The city's back offices as configured in the home: name → URL."""
    path = Path(home) / CONFIG
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError:
        raise Invalid(f"{path} is not valid JSON; fix or remove it",
                      f"{path} n'est pas du JSON valide ; corrigez-le ou supprimez-le")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise Invalid(f"{path} must map connector names to URLs",
                      f"{path} doit associer des noms de connecteurs à des URL")
    return data


def configure(home: Path, name: str, url: str) -> dict[str, str]:
    if name not in CONNECTORS:
        raise Invalid(f"unknown connector {name!r}; choose among {', '.join(CONNECTORS)}",
                      f"connecteur {name!r} inconnu ; choisissez parmi {', '.join(CONNECTORS)}")
    config = load(home)
    config[name] = check_url(url)
    write_private(Path(home) / CONFIG, json.dumps(config, indent=2).encode())
    return config


class Connectors:
    """The configured connectors over one HTTP session: ``async with Connectors(urls) as c``."""

    def __init__(self, urls: dict[str, str], timeout_s: float = 10.0) -> None:
        self.urls = urls
        self.timeout_s = timeout_s
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> dict[str, HttpConnector]:
        # Kept-alive connections; one a back office dropped fails that send
        # (a Transient, retried with the same key) and is not reused.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
        return {name: HttpConnector(name, url, self.session, self.timeout_s) for name, url in self.urls.items()}

    async def __aexit__(self, *exc: Any) -> None:
        if self.session is not None:
            await self.session.close()
