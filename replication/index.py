"""The SoR's home and its small SQLite index: which segments it holds, the
device registry, key epochs and wrapped keys, forks, request nonces.

The index never holds plaintext: only terminal ids and names, public keys,
segment positions and hashes, and data keys wrapped to someone else.

Layout of a SoR home::

    sor.json        city name and public keys (admin, recovery)
    admin/          the admin key pair (0700) — move it to an offline machine
    index.db        this index (WAL, synchronous=FULL), backed up by litestream
    blobs/          segment bytes (filesystem store)
    replica/        litestream's file replica of index.db
    shares/         recovery shares, to hand out and delete
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hub import journal, scrape
from hub.durable import write_private
from hub.errors import Forbidden, Invalid, NotFound
from hub.journal import GENESIS
from hub.terminal import TERMINAL_NAME

from . import keys
from .keys import KeyPair

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, sign_pub TEXT NOT NULL, kx_pub TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    requested_at REAL NOT NULL, certificate TEXT,
    office TEXT          -- where it stands, as it said at enrolment (signed into its certificate at approval)
);
CREATE TABLE IF NOT EXISTS epochs (epoch INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wrapped (
    epoch INTEGER NOT NULL, recipient TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (epoch, recipient)
);
CREATE TABLE IF NOT EXISTS segments (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, epoch INTEGER NOT NULL,
    hash TEXT NOT NULL, prev TEXT NOT NULL, size INTEGER NOT NULL, blob TEXT NOT NULL, stored_at REAL NOT NULL,
    UNIQUE (origin, first)
);
CREATE TABLE IF NOT EXISTS forks (
    id INTEGER PRIMARY KEY, origin TEXT NOT NULL, first INTEGER NOT NULL, stored_hash TEXT,
    offered_hash TEXT NOT NULL, offered_by TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (key_id TEXT NOT NULL, nonce TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (key_id, nonce)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_at ON nonces (at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Vault documents: an opaque random name, sizes and dates; never a key.
CREATE TABLE IF NOT EXISTS documents (
    name TEXT PRIMARY KEY, size INTEGER NOT NULL, epoch INTEGER NOT NULL, hash TEXT NOT NULL,
    stored_by TEXT NOT NULL, stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_documents (name TEXT PRIMARY KEY, erased_by TEXT NOT NULL, erased_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS invites (
    digest TEXT PRIMARY KEY, name TEXT NOT NULL, expires REAL NOT NULL, used_by TEXT
) WITHOUT ROWID;
-- Admin-signed incident orders, kept as published (the exact signed bytes)
-- for terminals to fetch; the SoR checks the signature, never obeys them.
CREATE TABLE IF NOT EXISTS orders (pos INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    raw BLOB NOT NULL, stored_at REAL NOT NULL);
"""

INVITE_HOURS = 24.0        # an invitation code is typed at the terminal within this
PENDING_HOURS = 72.0       # a request nobody approved goes after this
MAX_INVITES = 100          # open invitations at once: the admin's typing, not an attacker's, fills it
_INVITE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: read aloud and typed without doubt

RECOVERY = "recovery"
ADMIN = "admin"


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    if "office" not in {row[1] for row in conn.execute("PRAGMA table_info(devices)")}:
        conn.execute("ALTER TABLE devices ADD COLUMN office TEXT")   # an index from before offices
    return conn


@dataclass
class City:
    """What ``sor.json`` says: the city and its public keys."""

    name: str
    admin_sign: str
    admin_kx: str
    recovery_kx: str
    recovery_sign: str

    @classmethod
    def from_public(cls, raw: dict[str, Any]) -> City:
        """The inverse of :meth:`public` (``sor.json``, the shared register, the city's signed document)."""
        return cls(raw["city"], raw["admin_sign"], raw["admin_kx"], raw["recovery_kx"], raw["recovery_sign"])

    def public(self) -> dict[str, Any]:
        return {"city": self.name, "admin_sign": self.admin_sign, "admin_kx": self.admin_kx,
                "recovery_kx": self.recovery_kx, "recovery_sign": self.recovery_sign,
                "admin_fingerprint": keys.fingerprint(keys.unb64(self.admin_sign))}


def load_city(home: Path) -> City:
    path = Path(home) / "sor.json"
    if not path.exists():
        raise NotFound(f"{home} is not a SoR home; create it with `beffroi sor init --home {home}`",
                       f"{home} n'est pas un répertoire de SoR ; créez-le avec `beffroi sor init --home {home}`",
                       "no_sor")
    return City.from_public(json.loads(path.read_text("utf-8")))


def init_city(home: Path, city: str, shares: int, threshold: int) -> dict[str, Any]:
    """Create a SoR home: admin keys, the recovery key split into share files,
    epoch 1 wrapped to the admin and to the recovery key."""
    home = Path(home)
    if (home / "sor.json").exists():
        raise Invalid(f"{home} is already a SoR home", f"{home} est déjà un répertoire de SoR")
    info, admin, made = make_city_keys(home, city, shares, threshold)
    index = Index(home)
    with index.transaction():
        index.new_epoch(admin, info, "city created")
    index.close()
    write_private(home / "sor.json", json.dumps({**info.public(), "format": 1}, indent=2).encode())
    scrape.token(home)   # /metrics of `beffroi sor serve` asks for it
    return {"home": str(home), **made}


def make_city_keys(folder: Path, city: str, shares: int, threshold: int) -> tuple[City, KeyPair, dict[str, Any]]:
    """A city's admin key pair in ``folder/admin`` and its recovery key split
    into ``folder/shares``: the only copies; what is returned is public."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    recovery = X25519PrivateKey.generate()
    mnemonics = keys.split_recovery(recovery, shares, threshold)  # validates k/n before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    admin = KeyPair.generate()
    admin.save(folder / "admin", "admin")
    recovery_kx = keys.b64(keys.public_bytes(recovery))
    info = City(city, admin.sign_pub, admin.kx_pub, recovery_kx,
                keys.b64(keys.public_bytes(keys.recovery_signer(recovery))))
    share_dir = folder / "shares"
    share_dir.mkdir(mode=0o700, exist_ok=True)
    paths = []
    for number, mnemonic in enumerate(mnemonics, 1):
        path = share_dir / f"share-{number}-of-{shares}.txt"
        write_private(path, keys.share_text(mnemonic, number, shares, threshold, city, recovery_kx).encode())
        paths.append(str(path))
    return info, admin, {"city": city, "shares": paths, "threshold": threshold,
                         "admin_fingerprint": keys.fingerprint(keys.unb64(admin.sign_pub)),
                         "recovery_fingerprint": keys.fingerprint(keys.unb64(recovery_kx))}


def invite_digest(code: str) -> str:
    """Codes are kept hashed; typing is forgiving about case, spaces and dashes."""
    normal = "".join(c for c in code.upper() if c.isalnum()).translate(str.maketrans("OIL", "011"))
    return hashlib.sha256(b"beffroi-invite-v1:" + normal.encode()).hexdigest()


def admin_keys(home: Path) -> KeyPair:
    pair = KeyPair.load(Path(home) / "admin", "admin")
    if pair is None:
        raise NotFound(f"no admin key in {home}/admin (it may live on the admin's offline machine)",
                       f"pas de clé d'administration dans {home}/admin (elle est peut-être sur la machine hors ligne)")
    return pair


class SorIndex(Protocol):
    """What the SoR needs of its index, whatever the engine: SQLite for one
    city (:class:`Index`), PostgreSQL for a shared deployment
    (:class:`replication.index_pg.PgIndex`). ``conn`` answers ``execute(sql,
    params)`` with ``?`` placeholders, for read-only reports (metrics, the ops
    overview) written in the SQL both engines share."""

    conn: Any

    def close(self) -> None: ...
    def transaction(self) -> Any: ...
    def device(self, device_id: str) -> dict[str, Any] | None: ...
    def devices(self) -> list[dict[str, Any]]: ...
    def find_device(self, key: str) -> dict[str, Any]: ...
    def request_enrolment(self, device_id: str, name: str, sign_pub: str, kx_pub: str, invite: str | None = None,
                          now: float | None = None) -> str: ...
    def invite(self, name: str, hours: float = INVITE_HOURS, now: float | None = None,
               token: bytes | None = None) -> dict[str, Any]: ...
    def invitations(self, now: float | None = None) -> list[dict[str, Any]]: ...
    def invitation_open(self, code: str, now: float | None = None) -> bool: ...
    def expire(self, now: float | None = None) -> int: ...
    def reject(self, key: str) -> dict[str, Any]: ...
    def approve(self, admin: KeyPair, key: str, fingerprint: str,
                ranges: dict[str, list[int]] | None = None) -> dict[str, Any]: ...
    def revoke(self, admin: KeyPair, city: City, key: str) -> dict[str, Any]: ...
    def revocations(self, admin_sign: str | None = None) -> dict[str, Any]: ...
    def revocations_signed(self) -> dict[str, Any] | None: ...
    def learn_device(self, certificate: dict[str, Any], doc: dict[str, Any]) -> bool: ...
    def learn_revocations(self, signed: dict[str, Any], doc: dict[str, Any]) -> None: ...
    def new_epoch(self, admin: KeyPair, city: City, reason: str) -> int: ...
    def current_epoch(self) -> int: ...
    def has_epoch(self, epoch: int) -> bool: ...
    def keys_for(self, recipient: str) -> list[dict[str, Any]]: ...
    def head(self, origin: str) -> tuple[int, str]: ...
    def heads(self) -> dict[str, dict[str, Any]]: ...
    def segment_at(self, origin: str, first: int) -> dict[str, Any] | None: ...
    def covering(self, origin: str, seq: int) -> dict[str, Any] | None: ...
    def placement(self, origin: str, first: int, prev: str, hash_: str) -> Placement: ...
    def store_segment(self, origin: str, first: int, last: int, epoch: int, hash_: str, prev: str, size: int,
                      blob: str, by: str) -> Placement: ...
    def record_fork(self, origin: str, first: int, stored: str | None, offered: str, by: str, reason: str) -> None: ...
    def feed(self, after: int, limit: int) -> list[dict[str, Any]]: ...
    def generation(self) -> int: ...
    def counts(self) -> dict[str, int]: ...
    def document_hash(self, name: str) -> str | None: ...
    def erased(self, name: str) -> bool: ...
    def add_document(self, name: str, size: int, epoch: int, hash_: str, by: str) -> None: ...
    def erase_document(self, name: str, by: str) -> None: ...
    def add_order(self, order_id: str, raw: bytes) -> bool: ...
    def orders(self) -> list[bytes]: ...
    def use_nonce(self, key_id: str, nonce: str, now: float, window: float) -> bool: ...


class Unavailable(Exception):
    """The index's database did not answer (down, restarting, every pooled
    connection busy past the pool's wait): the request can be tried again."""


@dataclass
class Placement:
    """Where an offered segment falls: ``new`` (stored, at feed position
    ``pos``), ``already`` (the same bytes are there), ``fork`` / ``stale``
    (recorded, refused), ``gap`` (refused, nothing recorded)."""

    verdict: str
    stored: str | None = None
    reason: str = ""
    pos: int = 0
    last: int = 0


class Rows:
    """The index's logic in the SQL SQLite and PostgreSQL share; the engine
    classes give ``conn``, ``transaction`` and feed positions."""

    conn: Any
    _nonces = 0
    mirror: Any = None   # a shared SoR's replication.register.Mirror: each fact also in the blob store

    def _mirror(self, fact: str, *args: Any) -> None:
        if self.mirror is not None:
            getattr(self.mirror, fact)(*args)

    def close(self) -> None:
        self.conn.close()

    def transaction(self):
        raise NotImplementedError

    # --- devices ---------------------------------------------------------------

    def device(self, device_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT id, name, sign_pub, kx_pub, status, requested_at, certificate, office"
                                " FROM devices WHERE id=?", (device_id,)).fetchone()
        if row is None:
            return None
        return dict(zip(("id", "name", "sign_pub", "kx_pub", "status", "requested_at", "certificate", "office"), row))

    def devices(self) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM devices ORDER BY requested_at")]
        return [self.device(i) for i in ids]

    def find_device(self, key: str) -> dict[str, Any]:
        """By terminal id, or by name when exactly one terminal has it."""
        found = self.device(key)
        if found:
            return found
        rows = self.conn.execute("SELECT id FROM devices WHERE name=? AND status!='revoked'", (key,)).fetchall()
        if not rows:  # only revoked ones: name them, so the refusal says why
            rows = self.conn.execute("SELECT id FROM devices WHERE name=?", (key,)).fetchall()
        if len(rows) == 1:
            return self.device(rows[0][0])
        if len(rows) > 1:
            raise Invalid(f"{len(rows)} terminals are named {key}: give the terminal id",
                          f"{len(rows)} terminaux s'appellent {key} : donnez l'identifiant du terminal")
        raise NotFound(f"no terminal {key} has asked to enrol", f"aucun terminal {key} n'a demandé son inscription")

    def request_enrolment(self, device_id: str, name: str, sign_pub: str, kx_pub: str, invite: str | None = None,
                          now: float | None = None, office: str | None = None) -> str:
        """A known device gets its status back; a new one needs an open
        invitation for its name, which it then uses up."""
        now = time.time() if now is None else now
        existing = self.device(device_id)
        if existing:
            if (existing["sign_pub"], existing["kx_pub"]) != (sign_pub, kx_pub):
                raise Forbidden("this terminal id is already enrolled with other keys",
                                "cet identifiant de terminal est déjà inscrit avec d'autres clés", "enrolled_other_keys")
            return existing["status"]
        digest = invite_digest(invite or "")
        cur = self.conn.execute("UPDATE invites SET used_by=? WHERE digest=? AND name=? AND used_by IS NULL AND expires>?",
                                (device_id, digest, name, now))
        if cur.rowcount != 1:
            raise Forbidden(f"no open invitation for terminal {name}: ask the city's admin for a code "
                            f"(`beffroi sor invite {name}`) and give it with --invite",
                            f"aucune invitation ouverte pour le terminal {name} : demandez un code à l'administrateur "
                            f"(`beffroi sor invite {name}`) et donnez-le avec --invite", "no_invitation")
        self.conn.execute("INSERT INTO devices (id, name, sign_pub, kx_pub, status, requested_at, office)"
                          " VALUES (?,?,?,?, 'pending', ?, ?)", (device_id, name, sign_pub, kx_pub, now, office))
        return "pending"

    # --- invitations -------------------------------------------------------------

    def invite(self, name: str, hours: float = INVITE_HOURS, now: float | None = None,
               token: bytes | None = None) -> dict[str, Any]:
        """A one-time code the admin reads to whoever installs terminal ``name``."""
        now = time.time() if now is None else now
        if not TERMINAL_NAME.match(name or ""):
            raise Invalid("terminal name: 1 to 32 letters, digits, _ or -, starting with a letter or digit",
                          "nom de terminal : 1 à 32 lettres, chiffres, _ ou -, commençant par une lettre ou un chiffre")
        if not (0 < hours <= 24 * 14):
            raise Invalid("--hours must be more than 0 and at most 336 (two weeks)",
                          "--hours doit être supérieur à 0 et au plus 336 (deux semaines)")
        with self.transaction():
            self.expire(now)
            if self.conn.execute("SELECT count(*) FROM invites WHERE used_by IS NULL").fetchone()[0] >= MAX_INVITES:
                raise Invalid(f"{MAX_INVITES} invitations are open: cancel some (`beffroi sor reject`) first",
                              f"{MAX_INVITES} invitations sont ouvertes : annulez-en d'abord (`beffroi sor reject`)")
            raw = token if token is not None else secrets.token_bytes(12)
            code = "".join(_INVITE_ALPHABET[b % len(_INVITE_ALPHABET)] for b in raw)
            code = "-".join(code[i:i + 4] for i in range(0, len(code), 4))
            self.conn.execute("INSERT INTO invites VALUES (?,?,?,NULL)", (invite_digest(code), name, now + hours * 3600))
        return {"name": name, "code": code, "expires": now + hours * 3600}

    def invitations(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        rows = self.conn.execute("SELECT name, expires FROM invites WHERE used_by IS NULL AND expires>? ORDER BY expires",
                                 (now,)).fetchall()
        return [{"name": n, "expires": e} for n, e in rows]

    def invitation_open(self, code: str, now: float | None = None) -> bool:
        """Whether ``code`` is an invitation not yet used nor past its time."""
        now = time.time() if now is None else now
        return self.conn.execute("SELECT 1 FROM invites WHERE digest=? AND used_by IS NULL AND expires>?",
                                 (invite_digest(code), now)).fetchone() is not None

    def expire(self, now: float | None = None) -> int:
        """Drop invitations past their time and requests nobody approved in time."""
        now = time.time() if now is None else now
        self.conn.execute("DELETE FROM invites WHERE expires<=? AND used_by IS NULL", (now,))
        return self.conn.execute("DELETE FROM devices WHERE status='pending' AND requested_at<=?",
                                 (now - PENDING_HOURS * 3600,)).rowcount

    def reject(self, key: str) -> dict[str, Any]:
        """Forget a pending request (it never held a key: no epoch to rotate),
        or cancel the open invitations for a name."""
        with self.transaction():
            try:
                device = self.find_device(key)
            except NotFound:
                device = None
            if device is None or device["status"] != "pending":
                cancelled = self.conn.execute("DELETE FROM invites WHERE name=? AND used_by IS NULL", (key,)).rowcount
                if cancelled:
                    return {"name": key, "invitations_cancelled": cancelled}
                if device is None:
                    raise NotFound(f"no pending request or open invitation for {key}",
                                   f"aucune demande en attente ni invitation ouverte pour {key}")
                raise Invalid(f"terminal {device['name']} is {device['status']}, not pending: "
                              "revoke it instead (`beffroi revoke`)",
                              f"le terminal {device['name']} n'est pas en attente : révoquez-le (`beffroi revoke`)")
            self.conn.execute("DELETE FROM devices WHERE id=?", (device["id"],))
        return {"terminal": device["id"], "name": device["name"], "rejected": True}

    def approve(self, admin: KeyPair, key: str, fingerprint: str,
                ranges: dict[str, list[int]] | None = None) -> dict[str, Any]:
        """Sign the terminal's certificate and grant it every epoch key, once
        the admin has confirmed the fingerprint the terminal showed: a name
        alone could be a stranger's. ``ranges`` (``register``, ``tickets``: the
        numbers it uses while isolated, when no incident order gives any) are
        signed into the certificate, and never overlap another terminal's."""
        with self.transaction():
            device = self.find_device(key)
            if ranges:
                self._check_granted(device["id"], ranges)
            shown = keys.fingerprint(keys.unb64(device["sign_pub"]))
            if fingerprint.strip().upper().replace(" ", "") != shown:
                raise Forbidden(f"the fingerprint does not match terminal {device['name']}'s key: do not approve; "
                                "reject the request (`beffroi sor reject`) and enrol the real terminal again",
                                f"l'empreinte ne correspond pas à la clé du terminal {device['name']} : n'approuvez pas ;"
                                " rejetez la demande (`beffroi sor reject`) et inscrivez à nouveau le vrai terminal",
                                "fingerprint_mismatch")
            if device["status"] == "revoked":
                raise Forbidden(f"terminal {device['name']} was revoked; reinstall it (new home, new terminal id)"
                                " and enrol it again",
                                f"le terminal {device['name']} a été révoqué ; réinstallez-le (nouveau répertoire, nouvel"
                                " identifiant) et inscrivez-le à nouveau")
            if device["status"] == "active":
                return device
            cert = keys.sign_doc(admin.sign, {"kind": "enrolment", "terminal": device["id"], "name": device["name"],
                                              "sign_pub": device["sign_pub"], "kx_pub": device["kx_pub"],
                                              "approved_at": int(time.time()),
                                              **({"office": device["office"]} if device["office"] else {}),
                                              **({"ranges": ranges} if ranges else {})})
            recipient = keys.kx_public(device["kx_pub"])
            granted = {}
            for epoch, blob in self.conn.execute("SELECT epoch, blob FROM wrapped WHERE recipient=?", (ADMIN,)).fetchall():
                data_key = keys.unwrap(blob, admin.kx, keys.wrap_context(epoch, ADMIN))
                granted[epoch] = keys.wrap(data_key, recipient, keys.wrap_context(epoch, device["id"]))
                self.conn.execute("INSERT INTO wrapped VALUES (?,?,?)"
                                  " ON CONFLICT (epoch, recipient) DO UPDATE SET blob=excluded.blob",
                                  (epoch, device["id"], granted[epoch]))
            self.conn.execute("UPDATE devices SET status='active', certificate=? WHERE id=?",
                              (json.dumps(cert), device["id"]))
            self._mirror("grant", cert, granted)
        return self.device(device["id"])

    def _check_granted(self, device_id: str, ranges: dict[str, list[int]]) -> None:
        for (name, cert) in self.conn.execute("SELECT name, certificate FROM devices WHERE status='active'"
                                              " AND certificate IS NOT NULL AND id!=?", (device_id,)):
            for kind, (first, last) in (json.loads(cert)["doc"].get("ranges") or {}).items():
                if kind in ranges and first <= ranges[kind][1] and ranges[kind][0] <= last:
                    raise Invalid(f"the {kind} range {ranges[kind][0]}-{ranges[kind][1]} overlaps terminal {name}'s "
                                  f"({first}-{last}): two terminals would use the same numbers",
                                  f"la plage {kind} {ranges[kind][0]}-{ranges[kind][1]} chevauche celle du terminal "
                                  f"{name} ({first}-{last}) : deux terminaux utiliseraient les mêmes numéros")

    def revoke(self, admin: KeyPair, city: City, key: str) -> dict[str, Any]:
        """Refuse the terminal from now on and rotate the epoch, so what is sealed
        next is unreadable with the keys it holds."""
        with self.transaction():
            device = self.find_device(key)
            if device["status"] == "revoked":
                raise Invalid(f"terminal {device['name']} is already revoked", f"le terminal {device['name']} est déjà révoqué")
            self.conn.execute("UPDATE devices SET status='revoked' WHERE id=?", (device["id"],))
            last, head = self.head(device["id"])
            epoch = self.new_epoch(admin, city, f"revoked {device['id']}")
            current = self.revocations(admin.sign_pub)
            revoked = dict(current.get("revoked", {}))
            revoked[device["id"]] = {"last": last, "hash": head, "epoch": epoch, "at": int(time.time())}
            signed = keys.sign_doc(admin.sign, {"kind": "revocations", "serial": current.get("serial", 0) + 1,
                                                "revoked": revoked})
            self._set_meta("revocations", json.dumps(signed))
            self._mirror("revocations", signed)
        return {"terminal": device["id"], "name": device["name"], "last_seq": last, "epoch": epoch}

    def revocations(self, admin_sign: str | None = None) -> dict[str, Any]:
        row = self.conn.execute("SELECT value FROM meta WHERE key='revocations'").fetchone()
        if row is None:
            return {}
        signed = json.loads(row[0])
        return signed["doc"] if admin_sign is None else keys.verify_doc(keys.sign_public(admin_sign), signed, "revocations")

    def revocations_signed(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key='revocations'").fetchone()
        return json.loads(row[0]) if row else None

    def generation(self) -> int:
        """Changes when the index is rebuilt (feed positions are numbered anew)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                          (key, value))

    def learn_device(self, certificate: dict[str, Any], doc: dict[str, Any]) -> bool:
        """A device the admin certified (signature checked by the caller); a
        known one is left as it is."""
        if self.device(doc["terminal"]) is not None:
            return False
        self.conn.execute("INSERT INTO devices (id, name, sign_pub, kx_pub, status, requested_at, certificate,"
                          " office) VALUES (?,?,?,?,'active',?,?,?)",
                          (doc["terminal"], doc["name"], doc["sign_pub"], doc["kx_pub"], time.time(),
                           json.dumps(certificate), doc.get("office")))
        self._mirror("grant", certificate, {})
        return True

    def learn_revocations(self, signed: dict[str, Any], doc: dict[str, Any]) -> None:
        """An admin-signed revocation list (checked by the caller): kept if
        newer, and it only ever revokes."""
        if doc.get("serial", 0) > self.revocations().get("serial", 0):
            self._set_meta("revocations", json.dumps(signed))
            self._mirror("revocations", signed)
        self.conn.executemany("UPDATE devices SET status='revoked' WHERE id=?", [(d,) for d in doc.get("revoked", {})])

    # --- epochs ----------------------------------------------------------------

    def new_epoch(self, admin: KeyPair, city: City, reason: str) -> int:
        """Inside a transaction: a fresh data key, wrapped to the admin, the
        recovery key and every active terminal, then forgotten."""
        epoch = (self.conn.execute("SELECT max(epoch) FROM epochs").fetchone()[0] or 0) + 1
        data_key = keys.new_data_key()
        record = keys.sign_doc(admin.sign, {"kind": "epoch", "epoch": epoch, "check": keys.key_check(data_key),
                                            "reason": reason, "at": int(time.time())})
        self.conn.execute("INSERT INTO epochs VALUES (?,?)", (epoch, json.dumps(record)))
        recipients = [(ADMIN, city.admin_kx), (RECOVERY, city.recovery_kx)]
        recipients += self.conn.execute("SELECT id, kx_pub FROM devices WHERE status='active'").fetchall()
        wrapped = {recipient: keys.wrap(data_key, keys.kx_public(kx_pub), keys.wrap_context(epoch, recipient))
                   for recipient, kx_pub in recipients}
        self.conn.executemany("INSERT INTO wrapped VALUES (?,?,?)", [(epoch, r, b) for r, b in wrapped.items()])
        self._mirror("epoch", epoch, record, wrapped)
        return epoch

    def current_epoch(self) -> int:
        return self.conn.execute("SELECT max(epoch) FROM epochs").fetchone()[0] or 0

    def has_epoch(self, epoch: int) -> bool:
        return self.conn.execute("SELECT 1 FROM epochs WHERE epoch=?", (epoch,)).fetchone() is not None

    def keys_for(self, recipient: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT e.epoch, e.record, w.blob FROM epochs e JOIN wrapped w ON w.epoch=e.epoch"
                                 " WHERE w.recipient=? ORDER BY e.epoch", (recipient,)).fetchall()
        return [{"epoch": epoch, "record": json.loads(record), "wrapped": blob} for epoch, record, blob in rows]

    # --- segments ----------------------------------------------------------------

    def head(self, origin: str) -> tuple[int, str]:
        row = self.conn.execute("SELECT last, hash FROM segments WHERE origin=? ORDER BY first DESC LIMIT 1",
                                (origin,)).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def heads(self) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute("SELECT origin, last, hash FROM segments s WHERE first ="
                                 " (SELECT max(first) FROM segments WHERE origin=s.origin)").fetchall()
        return {origin: {"last": last, "hash": hash_} for origin, last, hash_ in rows}

    def segment_at(self, origin: str, first: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT pos, origin, first, last, epoch, hash, prev, size, blob FROM segments"
                                " WHERE origin=? AND first=?", (origin, first)).fetchone()
        if row is None:
            return None
        return dict(zip(("pos", "origin", "first", "last", "epoch", "hash", "prev", "size", "blob"), row))

    def covering(self, origin: str, seq: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT first FROM segments WHERE origin=? AND first<=? AND last>=?",
                                (origin, seq, seq)).fetchone()
        return self.segment_at(origin, row[0]) if row else None

    def placement(self, origin: str, first: int, prev: str, hash_: str) -> Placement:
        """Where a segment offered at (origin, first) falls, given what is stored."""
        # the head first: read without a lock (before the blob is put), a head
        # that already covers this segment means the row below is visible too
        last, head = self.head(origin)
        stored = self.segment_at(origin, first)
        if stored and stored["hash"] == hash_:
            return Placement("already", stored["hash"], pos=stored["pos"])
        if stored:
            return Placement("fork", stored["hash"], "fork: a different segment is stored at this position")
        if first <= last:
            covering = self.covering(origin, first)
            return Placement("stale", covering["hash"] if covering else head,
                             "stale: this position is already covered by another segment")
        if first > last + 1:
            return Placement("gap", head, last=last)
        if prev != head:
            return Placement("fork", head, "fork: the segment does not chain to the last stored one")
        return Placement("new")

    def store_segment(self, origin: str, first: int, last: int, epoch: int, hash_: str, prev: str, size: int,
                      blob: str, by: str) -> Placement:
        """Store a segment whose blob is durable, in one transaction that takes
        the next feed position first (the engine's lock) and checks the
        placement again under it: another node may have stored something there
        since. A fork found then is recorded, not stored."""
        with self.transaction():
            pos = self._next_position()
            found = self.placement(origin, first, prev, hash_)
            if found.verdict in ("fork", "stale"):
                self.record_fork(origin, first, found.stored, hash_, by, found.reason)
            if found.verdict != "new":
                return found
            found.pos = self._insert_segment(pos, origin, first, last, epoch, hash_, prev, size, blob)
            return found

    def _next_position(self) -> int | None:
        return None      # SQLite: BEGIN IMMEDIATE already serialises writers; AUTOINCREMENT numbers them

    def _insert_segment(self, pos: int | None, origin: str, first: int, last: int, epoch: int, hash_: str,
                        prev: str, size: int, blob: str) -> int:
        return self.conn.execute(
            "INSERT INTO segments (pos, origin, first, last, epoch, hash, prev, size, blob, stored_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING pos",
            (pos, origin, first, last, epoch, hash_, prev, size, blob, time.time())).fetchone()[0]

    def add_segment(self, origin: str, first: int, last: int, epoch: int, hash_: str, prev: str, size: int,
                    blob: str) -> int:
        """Inside a transaction, without checks (benchmarks, relays)."""
        return self._insert_segment(self._next_position(), origin, first, last, epoch, hash_, prev, size, blob)

    def record_fork(self, origin: str, first: int, stored: str | None, offered: str, by: str, reason: str) -> None:
        self.conn.execute("INSERT INTO forks (origin, first, stored_hash, offered_hash, offered_by, reason, at)"
                          " VALUES (?,?,?,?,?,?,?)", (origin, first, stored, offered, by, reason, time.time()))

    def feed(self, after: int, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT pos, origin, first, last, epoch, hash, prev, size FROM segments"
                                 " WHERE pos>? ORDER BY pos LIMIT ?", (after, limit)).fetchall()
        return [dict(zip(("pos", "origin", "first", "last", "epoch", "hash", "prev", "size"), r)) for r in rows]

    def counts(self) -> dict[str, int]:
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"segments": one("SELECT count(*) FROM segments"), "forks": one("SELECT count(*) FROM forks"),
                "devices": one("SELECT count(*) FROM devices WHERE status='active'"),
                "pending": one("SELECT count(*) FROM devices WHERE status='pending'"),
                "epoch": self.current_epoch()}

    # --- vault documents -------------------------------------------------------------

    def document_hash(self, name: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM documents WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def erased(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM erased_documents WHERE name=?", (name,)).fetchone() is not None

    def add_document(self, name: str, size: int, epoch: int, hash_: str, by: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO documents VALUES (?,?,?,?,?,?)", (name, size, epoch, hash_, by, time.time()))

    def erase_document(self, name: str, by: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM documents WHERE name=?", (name,))
            self.conn.execute("INSERT INTO erased_documents VALUES (?,?,?) ON CONFLICT (name) DO NOTHING",
                              (name, by, time.time()))
            self._mirror("erased", name, by)

    # --- incident orders -----------------------------------------------------------

    def add_order(self, order_id: str, raw: bytes) -> bool:
        """Keep an order (already checked by the caller); False if it was there."""
        cursor = self.conn.execute("INSERT INTO orders (id, raw, stored_at) VALUES (?,?,?) ON CONFLICT(id) DO NOTHING",
                                   (order_id, raw, time.time()))
        if cursor.rowcount == 1:
            self._mirror("order", order_id, raw)
        return cursor.rowcount == 1

    def orders(self) -> list[bytes]:
        return [bytes(raw) for (raw,) in self.conn.execute("SELECT raw FROM orders ORDER BY pos")]

    # --- replay protection ---------------------------------------------------------

    def use_nonce(self, key_id: str, nonce: str, now: float, window: float) -> bool:
        """True the first time a (key, nonce) is seen; requests older than the
        window are refused by their timestamp, so older nonces can go."""
        # one statement: two nodes given the same request at once store it once
        if self.conn.execute("INSERT INTO nonces VALUES (?,?,?) ON CONFLICT DO NOTHING",
                             (key_id, nonce, now)).rowcount != 1:
            return False
        self._nonces += 1
        if self._nonces % 1000 == 0:
            self.conn.execute("DELETE FROM nonces WHERE at < ?", (now - 2 * window,))
        return True


class Index(Rows):
    """The single-city index: SQLite in the SoR home (WAL, synchronous=FULL),
    backed up by litestream."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.conn = connect(self.home / "index.db")
        self._nonces = 0

    def transaction(self):
        return journal.transaction(self.conn)
