"""The citizen's document vault (*coffre-fort*): documents that survive the
loss of a terminal, reach every counter of the city, and can be erased for good.

Why it is built this way:

- **One random content key per document**, never derived from the content:
  two citizens' equal files share no key, no ciphertext and no name. A
  document's *blob name* is 128 random bits, so a name says nothing about
  the content and holding a copy of a document does not let anyone find it.
- **The content key never enters the journal.** Events are immutable and
  replicated for ever (segments at the SoR, their backups); a key there could
  never be destroyed. The key lives only beside the ciphertext, in the
  document's own file: on a terminal wrapped by the terminal's storage key
  (``<home>/vault/ab/<blob>``), at the SoR wrapped by a key epoch's data key
  (``replication/vault.py``). Deleting those files is crypto-shredding.
- The journal keeps what an audit needs and nothing that opens the content:
  who deposited what kind of document and its size, a key check and a keyed
  digest (HMAC under the document key: worthless once the key is gone), and
  who erased it, when and why.
- Getting a document that is not on this terminal goes through a
  :class:`Courier` (the replication package provides one through the
  ``beffroi.vault`` entry point): the hub itself does no network I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .durable import write_private
from .errors import Invalid, NotFound
from .projections import MERGED_UNDER, row_dicts

if TYPE_CHECKING:
    from .session import Session
    from .terminal import Terminal

MAX_BYTES = 10 * 1024 * 1024
DEFAULT_QUOTA_MIB = 50   # per citizen, terminal.json "vault_quota_mib" changes it
KINDS = ("identite", "domicile", "impots", "famille", "autre")
# Magic numbers, not file names: a renamed executable is not a PDF.
MEDIA_TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
LOCAL_MAGIC = b"BFL1"
WRAPPED = 40          # AES key wrap of a 256-bit key
SEALED_OVERHEAD = 12 + 16   # nonce + GCM tag
KEY_CHECK_INFO = b"beffroi vault key check v1"
ENTRY_POINT = "beffroi.vault"

DAMAGED = ("the stored document is damaged and cannot be opened; restore it from the backup",
           "le document stocké est endommagé et ne peut pas être ouvert ; restaurez-le depuis la sauvegarde")

TAMPERED = ("the document received is damaged or was tampered with; it was neither shown nor kept",
            "le document reçu est endommagé ou a été modifié ; il n'a été ni affiché ni conservé")


def sniff(content: bytes) -> str | None:
    for magic, media_type in MEDIA_TYPES.items():
        if content.startswith(magic):
            return media_type
    return None


# --- the sealed document ------------------------------------------------------

def _aad(blob: str) -> bytes:
    # binds the ciphertext to its name: a blob swapped for another fails to open
    return b"beffroi vault v1|" + blob.encode()


def seal(key: bytes, blob: str, content: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, content, _aad(blob))


def key_check(key: bytes) -> str:
    """Commits the journal to one key without revealing it."""
    return hmac.new(key, KEY_CHECK_INFO, hashlib.sha256).hexdigest()


def digest(key: bytes, content: bytes) -> str:
    """A content check only the key's holder can compute or compare: once the
    key is shredded it confirms nothing about any file."""
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def unseal(document: dict[str, Any], key: bytes, sealed: bytes, refusal: tuple[str, str] = DAMAGED) -> bytes:
    """The plaintext, after checking the key against the journal, the GCM tag
    and the keyed digest; refuses anything else with a clear message."""
    if not hmac.compare_digest(key_check(key), document["key_check"] or ""):
        raise Invalid(*refusal)
    try:
        content = AESGCM(key).decrypt(sealed[:12], sealed[12:], _aad(document["blob"]))
    except (InvalidTag, ValueError):
        raise Invalid(*refusal)
    if len(content) != document["size"] or not hmac.compare_digest(digest(key, content), document["digest"]):
        raise Invalid(*refusal)
    return content


class Courier(Protocol):
    """Brings a document this terminal does not hold: its content key and
    sealed bytes (:func:`seal`), from wherever the city keeps them."""

    def fetch(self, document: dict[str, Any]) -> tuple[bytes, bytes]: ...


def courier_for(terminal: "Terminal") -> Courier | None:
    """The terminal's courier: one set on it (tests), else the first installed
    ``beffroi.vault`` plugin that serves this terminal (an enrolled one)."""
    courier: Courier | None = getattr(terminal, "courier", None)
    if courier is not None:
        return courier
    for factory in _couriers():
        found = factory(terminal)
        if found is not None:
            return found
    return None


@cache
def _couriers() -> tuple[Callable[["Terminal"], Courier | None], ...]:
    # scanning the installed distributions costs tens of milliseconds: once per process
    return tuple(ep.load() for ep in entry_points(group=ENTRY_POINT))


# --- this terminal's copies -----------------------------------------------------

def _path(terminal: "Terminal", blob: str) -> Path:
    return terminal.home / "vault" / blob[:2] / blob


def _storage_key(terminal: "Terminal") -> bytes:
    return (terminal.home / "keys" / "storage.key").read_bytes()


def held(terminal: "Terminal", document: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """(content key, sealed bytes) of a document this terminal holds, or None."""
    path = _path(terminal, document["blob"])
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    if not raw.startswith(LOCAL_MAGIC) or len(raw) < len(LOCAL_MAGIC) + WRAPPED + SEALED_OVERHEAD:
        raise Invalid(*DAMAGED)
    try:
        key = aes_key_unwrap(_storage_key(terminal), raw[4:4 + WRAPPED])
    except (InvalidUnwrap, ValueError):
        raise Invalid(*DAMAGED)
    return key, raw[4 + WRAPPED:]


def keep(terminal: "Terminal", document: dict[str, Any], key: bytes, sealed: bytes) -> bytes:
    """Check a document brought from elsewhere and keep it here; its content."""
    content = unseal(document, key, sealed, TAMPERED)
    _write(terminal, document["blob"], key, sealed)
    return content


def _write(terminal: "Terminal", blob: str, key: bytes, sealed: bytes) -> None:
    path = _path(terminal, blob)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, LOCAL_MAGIC + aes_key_wrap(_storage_key(terminal), key) + sealed)


def documents(terminal: "Terminal", where: str = "1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Vault rows for the replication (no principal: the terminal's own work)."""
    return row_dicts(terminal.conn.execute(
        "SELECT id, citizen_id, blob, key_check, digest, media_type, size, origin, erased_hlc"
        f" FROM vault_documents WHERE blob IS NOT NULL AND ({where}) ORDER BY hlc, id", params))


def missing(terminal: "Terminal") -> list[dict[str, Any]]:
    """Documents the journal knows of, not erased, whose content is not here."""
    return [d for d in documents(terminal, "erased_hlc IS NULL") if not _path(terminal, d["blob"]).exists()]


def shred(terminal: "Terminal") -> int:
    """Delete this terminal's copy (ciphertext and wrapped key) of every erased
    document: run after an erasure and after every merge."""
    count = 0
    for document in documents(terminal, "erased_hlc IS NOT NULL"):
        path = _path(terminal, document["blob"])
        if path.exists():
            path.unlink()
            count += 1
    return count


def _quota(terminal: "Terminal") -> int:
    return int(terminal.config.get("vault_quota_mib", DEFAULT_QUOTA_MIB)) * 1024 * 1024


class Vault:
    def __init__(self, session: "Session") -> None:
        self.session = session

    @property
    def _terminal(self) -> "Terminal":
        return self.session.terminal

    def deposit(self, citizen_id: str, name: str, content: bytes, kind: str = "autre") -> dict[str, Any]:
        who = self.session.principal
        who.require("vault.write")
        self.session.citizens.get(citizen_id)
        if not content:
            raise Invalid("the document is empty", "le document est vide")
        if len(content) > MAX_BYTES:
            raise Invalid(f"the document is larger than {MAX_BYTES // 1048576} MiB",
                          f"le document dépasse {MAX_BYTES // 1048576} Mio")
        media_type = sniff(content)
        if media_type is None:
            raise Invalid("only PDF, PNG and JPEG documents are accepted",
                          "seuls les documents PDF, PNG et JPEG sont acceptés")
        if kind not in KINDS:
            raise Invalid(f"document kind must be one of {', '.join(KINDS)}",
                          f"le type de document doit être l'un de {', '.join(KINDS)}")
        used = self.session.conn.execute(
            "SELECT coalesce(sum(size), 0) FROM vault_documents WHERE citizen_id=? AND erased_hlc IS NULL"
            " AND removed_hlc IS NULL", (citizen_id,)).fetchone()[0]
        quota = _quota(self._terminal)
        if used + len(content) > quota:
            raise Invalid(f"this citizen's vault would exceed its quota of {quota // 1048576} MiB "
                          f"({used // 1024} KiB used): erase a document first",
                          f"le coffre de ce citoyen dépasserait son quota de {quota // 1048576} Mio "
                          f"({used // 1024} Kio utilisés) : effacez d'abord un document")
        name = (name or "").strip()[:120] or "document"
        key = AESGCM.generate_key(bit_length=256)
        blob = os.urandom(16).hex()
        # The file is durable before the event that points at it commits.
        _write(self._terminal, blob, key, seal(key, blob, content))
        document_id = self._terminal.new_id()
        data: dict[str, Any] = {"id": document_id, "citizen_id": citizen_id, "blob": blob, "key_check": key_check(key),
                "digest": digest(key, content), "media_type": media_type, "size": len(content), "name": name,
                "kind": kind}
        try:
            with self._terminal.writing() as w:
                w.record(who, "vault.document_deposited", f"citizen:{citizen_id}", data)
        except BaseException:
            _path(self._terminal, blob).unlink(missing_ok=True)
            raise
        return self.get(document_id)

    def get(self, document_id: str) -> dict[str, Any]:
        rows = row_dicts(self.session.conn.execute(
            "SELECT id, citizen_id, media_type, size, name, kind, origin, hlc, removed_hlc, erased_hlc, erased_by"
            " FROM vault_documents WHERE id=?", (document_id,)))
        if not rows:
            raise NotFound(f"no document {document_id}", f"aucun document {document_id}")
        owner, scope = rows[0]["citizen_id"], self.session.principal.scope_citizen
        if scope and owner != scope and self.session.conn.execute(
                f"SELECT 1 WHERE ? IN ({MERGED_UNDER})", (owner, scope)).fetchone():
            owner = scope     # a document of a record merged into the card holder's is theirs
        self.session.principal.require("vault.read", citizen_id=owner)
        return rows[0]

    def read(self, document_id: str) -> bytes:
        """The plaintext of a document, checked; fetched through the courier
        (and kept here) when this terminal does not hold it."""
        meta = self.get(document_id)
        if meta["erased_hlc"] is not None:
            raise NotFound("this document was erased at the citizen's request: its content no longer exists anywhere",
                           "ce document a été effacé à la demande du citoyen : son contenu n'existe plus nulle part",
                           "erased")
        if meta["removed_hlc"] is not None:
            raise NotFound("this document was removed from the vault", "ce document a été retiré du coffre")
        document = row_dicts(self.session.conn.execute(
            "SELECT id, blob, key_check, digest, size, sha256, wrapped_key FROM vault_documents WHERE id=?",
            (document_id,)))[0]
        if document["blob"] is None:
            return self._read_legacy(document)
        local = held(self._terminal, document)
        if local is not None:
            return unseal(document, *local)
        courier = courier_for(self._terminal)
        if courier is None:
            raise NotFound("the document's content is not on this terminal, and this terminal is not enrolled "
                           "with the city's SoR to fetch it (`beffroi enroll`)",
                           "le contenu de ce document n'est pas sur ce terminal, et ce terminal n'est pas inscrit "
                           "auprès du SoR de la ville pour le chercher (`beffroi enroll`)", "not_here")
        return keep(self._terminal, document, *courier.fetch(document))

    def _read_legacy(self, document: dict[str, Any]) -> bytes:
        # deposits made before the vault replicated: key wrapped in the event
        path = self._terminal.home / "vault" / document["sha256"][:2] / document["sha256"]
        if not path.exists():
            raise NotFound("the document's content is not on this terminal",
                           "le contenu de ce document n'est pas sur ce terminal")
        raw = path.read_bytes()
        try:
            key = aes_key_unwrap(_storage_key(self._terminal), bytes.fromhex(document["wrapped_key"]))
            content = AESGCM(key).decrypt(raw[:12], raw[12:], document["sha256"].encode())
        except (InvalidTag, InvalidUnwrap, ValueError):
            raise Invalid(*DAMAGED)
        if hashlib.sha256(content).hexdigest() != document["sha256"]:
            raise Invalid(*DAMAGED)
        return content

    def for_citizen(self, citizen_id: str) -> list[dict[str, Any]]:
        self.session.principal.require("vault.read", citizen_id=citizen_id)
        return row_dicts(self.session.conn.execute(
            "SELECT id, media_type, size, name, kind, hlc FROM vault_documents"
            f" WHERE citizen_id IN ({MERGED_UNDER}) AND removed_hlc IS NULL AND erased_hlc IS NULL ORDER BY hlc DESC",
            (citizen_id,)))

    def remove(self, document_id: str) -> None:
        who = self.session.principal
        who.require("vault.write")
        meta = self.get(document_id)
        with self.session.terminal.writing() as w:
            w.record(who, "vault.document_removed", f"citizen:{meta['citizen_id']}", {"id": document_id})

    def erase(self, document_id: str, reason: str) -> dict[str, Any]:
        """Erase a document for good (the citizen's right to erasure): the
        journal records that it was erased, when, by whom and why; this
        terminal's copy is shredded at once, the SoR's and the other
        terminals' at their next sync."""
        who = self.session.principal
        who.require("vault.write")
        meta = self.get(document_id)
        reason = (reason or "").strip()
        if not reason or len(reason) > 200:
            raise Invalid("give the reason for the erasure (1 to 200 characters, no personal details)",
                          "indiquez le motif de l'effacement (1 à 200 caractères, sans données personnelles)")
        if meta["erased_hlc"] is not None:
            raise Invalid(f"document {document_id} is already erased", f"le document {document_id} est déjà effacé")
        with self.session.terminal.writing() as w:
            w.record(who, "vault.document_erased", f"citizen:{meta['citizen_id']}",
                     {"id": document_id, "reason": reason})
        shred(self._terminal)
        return self.get(document_id)

