"""Signed requests between a terminal and the SoR.

Every request carries the signer's key id, a timestamp, a random nonce and an
Ed25519 signature over method, path, timestamp, nonce and the body's SHA-256.
The SoR refuses a stale timestamp and a nonce it has seen, so a captured
request cannot be played again, and a body cut or changed on the way fails
the signature.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import keys

KEY_ID = "X-Beffroi-Key"
INVITE = "X-Beffroi-Invite"   # a new terminal's invitation code, for a shared SoR's city request
TIME = "X-Beffroi-Time"
NONCE = "X-Beffroi-Nonce"
SIGNATURE = "X-Beffroi-Signature"
WINDOW = 300.0  # seconds of clock difference tolerated


def message(method: str, path_qs: str, stamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join(["beffroi-request-v1", method.upper(), path_qs, stamp, nonce,
                      hashlib.sha256(body).hexdigest()]).encode()


def sign_headers(key_id: str, signer: Ed25519PrivateKey, method: str, path_qs: str, body: bytes = b"") -> dict[str, str]:
    stamp, nonce = f"{time.time():.3f}", os.urandom(16).hex()
    signature = signer.sign(message(method, path_qs, stamp, nonce, body))
    return {KEY_ID: key_id, TIME: stamp, NONCE: nonce, SIGNATURE: keys.b64(signature)}


class AuthError(Exception):
    def __init__(self, status: int, en: str, fr: str) -> None:
        super().__init__(en)
        self.status, self.en, self.fr = status, en, fr


STAMP = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")  # what sign_headers writes: no nan, inf, sign or exponent


def fresh(headers, now: float | None = None) -> None:
    """The timestamp is a plain decimal number within WINDOW of our clock
    (checked on headers alone, before any body is read)."""
    stamp = headers.get(TIME, "")
    if not STAMP.match(stamp):
        raise AuthError(401, "request timestamp missing or malformed", "horodatage de requête absent ou malformé")
    if not abs((time.time() if now is None else now) - float(stamp)) <= WINDOW:
        raise AuthError(401, "request timestamp is too far from the SoR's clock (replayed, or clock wrong)",
                        "horodatage trop éloigné de l'horloge du SoR (requête rejouée, ou horloge fausse)")


def check(headers, method: str, path_qs: str, body: bytes, public: Ed25519PublicKey, now: float | None = None) -> str:
    """Verify the signature and the timestamp; returns the nonce (the caller
    records it, refusing a second use)."""
    fresh(headers, now)
    stamp, nonce, signature = headers.get(TIME, ""), headers.get(NONCE, ""), headers.get(SIGNATURE, "")
    if len(nonce) != 32 or any(c not in "0123456789abcdef" for c in nonce):
        raise AuthError(401, "request nonce missing or malformed", "nonce de requête absent ou malformé")
    try:
        public.verify(keys.unb64(signature, 64), message(method, path_qs, stamp, nonce, body))
    except (InvalidSignature, keys.KeyRefused):
        raise AuthError(401, "request signature does not match the terminal's key",
                        "la signature de la requête ne correspond pas à la clé du terminal")
    return nonce
