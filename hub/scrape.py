"""Who may read ``/metrics``: the holder of the scrape token.

The footprint and process metrics say how busy each démarche and terminal
is — during an attack, that is reconnaissance. Both servers (``beffroi serve``
on a terminal home, ``beffroi sor serve`` on a SoR home) ask for
``Authorization: Bearer <token>``, the token being the file ``metrics.token``
of the home, made at init (0600) — Prometheus reads the same file with
``authorization: {credentials_file: …}``. Here in the hub because both homes
use it and neither server may import the other's package.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable
from pathlib import Path

from .durable import write_private

FILE = "metrics.token"


def token(home: Path | str, entropy: Callable[[int], bytes] = os.urandom) -> str:
    """The home's scrape token, made on first use (homes from before it have none)."""
    path = Path(home) / FILE
    if not path.exists():
        write_private(path, base64.urlsafe_b64encode(entropy(32)).rstrip(b"=") + b"\n")
    return path.read_text("ascii").strip()


def allowed(expected: str, authorization: str | None) -> bool:
    """Constant-time check of an ``Authorization`` header against the token."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


REFUSED = ("/metrics needs the scrape token: send 'Authorization: Bearer <token>' with the content of "
           f"{FILE} in the server's home (Prometheus: authorization: credentials_file)",
           "/metrics demande le jeton de collecte : envoyez 'Authorization: Bearer <jeton>' avec le contenu de "
           f"{FILE} du répertoire du serveur (Prometheus : authorization: credentials_file)")
