"""Per-terminal API keys: who may call this terminal's HTTP API, and as what role.

Keys live in a local table of the terminal database, beside the journal but
outside it: a key belongs to this terminal, is never replicated and is not part
of the state hash. Only a salted SHA-256 of the secret is stored. A key is 256
random bits, so a fast hash is enough (a slow KDF protects guessable PINs, not
random keys) and keeps the check cheap on every request.

A key reads ``bfk_<key id>_<secret>``: the id finds the row, the secret is
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

from hub import ids
from hub.errors import Forbidden, Invalid, NotFound
from hub.roles import Principal

ROLES = ("agent", "kiosk", "ops")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY = re.compile(r"^bfk_([0-9A-Z]{16})_([A-Za-z0-9_-]{43})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
    salt BLOB NOT NULL, digest BLOB NOT NULL, created REAL NOT NULL, revoked REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys (name) WHERE revoked IS NULL;
"""


@dataclass(frozen=True)
class Key:
    key_id: str
    name: str
    role: str

    def principal(self) -> Principal:
        """The hub principal this key acts as; its id names the key in the journal."""
        return Principal(self.role, f"api:{self.name}")


def ensure(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


def create(conn: sqlite3.Connection, name: str, role: str = "kiosk") -> dict:
    """A new key; the secret is in the returned dict and nowhere else."""
    if not NAME.match(name or ""):
        raise Invalid("key name: 1 to 64 letters, digits, . _ or -, starting with a letter or digit",
                      "nom de clé : 1 à 64 lettres, chiffres, . _ ou -, commençant par une lettre ou un chiffre")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", f"le rôle doit être l'un de {', '.join(ROLES)}")
    ensure(conn)
    key_id = ids.ulid()[-16:]
    secret = secrets.token_urlsafe(32)
    salt = os.urandom(16)
    created = time.time()
    try:
        conn.execute("INSERT INTO api_keys VALUES (?,?,?,?,?,?,NULL)",
                     (key_id, name, role, salt, _digest(salt, secret), created))
    except sqlite3.IntegrityError:
        raise Invalid(f"an active key named {name} already exists; revoke it first (`beffroi apikey revoke {name}`)",
                      f"une clé active nommée {name} existe déjà ; révoquez-la d'abord "
                      f"(`beffroi apikey revoke {name}`)", "duplicate_key") from None
    return {"name": name, "role": role, "key_id": key_id, "api_key": f"bfk_{key_id}_{secret}", "created": created}


def revoke(conn: sqlite3.Connection, name: str) -> dict:
    ensure(conn)
    cursor = conn.execute("UPDATE api_keys SET revoked=? WHERE name=? AND revoked IS NULL", (time.time(), name))
    if not cursor.rowcount:
        raise NotFound(f"no active API key named {name}; `beffroi apikey list` shows them",
                       f"aucune clé d'API active nommée {name} ; `beffroi apikey list` les affiche", "unknown_key")
    return {"name": name, "revoked": True}


def listing(conn: sqlite3.Connection) -> list[dict]:
    ensure(conn)
    rows = conn.execute("SELECT name, role, key_id, created, revoked FROM api_keys ORDER BY created")
    return [dict(zip(("name", "role", "key_id", "created", "revoked"), row)) for row in rows]


def check(conn: sqlite3.Connection, presented: str | None) -> Key:
    """The key's identity, or Forbidden: unknown, malformed, wrong or revoked keys
    are refused with the same message, so a caller learns nothing from it."""
    refused = Forbidden("invalid or revoked API key; ask IT staff for one (`beffroi apikey create`)",
                        "clé d'API invalide ou révoquée ; demandez-en une à l'informatique (`beffroi apikey create`)",
                        "bad_key")
    match = _KEY.match(presented or "")
    if not match:
        raise refused
    row = conn.execute("SELECT name, role, salt, digest FROM api_keys WHERE key_id=? AND revoked IS NULL",
                       (match.group(1),)).fetchone()
    if row is None or not hmac.compare_digest(_digest(row[2], match.group(2)), row[3]):
        raise refused
    return Key(match.group(1), row[0], row[1])
