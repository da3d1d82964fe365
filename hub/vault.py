"""The citizen's document vault: documents encrypted at rest, one key per
document content, keys wrapped by the terminal's storage key.

Blobs are content-addressed by the SHA-256 of the plaintext, so depositing the
same file twice stores it once; the second deposit reuses the first key. The
AES-GCM associated data is that hash, so a blob swapped for another fails to
decrypt instead of showing the wrong document.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from .durable import write_private
from .errors import Invalid, NotFound
from .projections import row_dicts

if TYPE_CHECKING:
    from .session import Session

MAX_BYTES = 10 * 1024 * 1024
KINDS = ("identite", "domicile", "impots", "famille", "autre")
# Magic numbers, not file names: a renamed executable is not a PDF.
MEDIA_TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def sniff(content: bytes) -> str | None:
    for magic, media_type in MEDIA_TYPES.items():
        if content.startswith(magic):
            return media_type
    return None


class Vault:
    def __init__(self, session: "Session") -> None:
        self.session = session

    @property
    def _root(self) -> Path:
        return self.session.terminal.home / "vault"

    def _storage_key(self) -> bytes:
        return (self.session.terminal.home / "keys" / "storage.key").read_bytes()

    def _blob(self, sha: str) -> Path:
        return self._root / sha[:2] / sha

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
        name = (name or "").strip()[:120] or "document"
        sha = hashlib.sha256(content).hexdigest()
        storage_key = self._storage_key()
        existing = self.session.conn.execute(
            "SELECT wrapped_key FROM vault_documents WHERE sha256=? AND origin=? LIMIT 1",
            (sha, self.session.terminal.id)).fetchone()
        blob = self._blob(sha)
        if existing and blob.exists():
            wrapped = existing[0]
        else:
            key = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(12)
            blob.parent.mkdir(parents=True, exist_ok=True)
            # The blob is durable before the event that points at it commits.
            write_private(blob, nonce + AESGCM(key).encrypt(nonce, content, sha.encode()))
            wrapped = aes_key_wrap(storage_key, key).hex()
        data = {"id": self.session.terminal.new_id(), "citizen_id": citizen_id, "sha256": sha, "media_type": media_type,
                "size": len(content), "name": name, "kind": kind, "wrapped_key": wrapped}
        with self.session.terminal.writing() as w:
            w.record(who, "vault.document_deposited", f"citizen:{citizen_id}", data)
        return self.get(data["id"])

    def get(self, document_id: str) -> dict[str, Any]:
        rows = row_dicts(self.session.conn.execute(
            "SELECT id, citizen_id, sha256, media_type, size, name, kind, origin, hlc, removed_hlc"
            " FROM vault_documents WHERE id=?", (document_id,)))
        if not rows:
            raise NotFound(f"no document {document_id}", f"aucun document {document_id}")
        self.session.principal.require("vault.read", citizen_id=rows[0]["citizen_id"])
        return rows[0]

    def read(self, document_id: str) -> bytes:
        """The plaintext of a document, checked against its hash."""
        meta = self.get(document_id)
        if meta["removed_hlc"] is not None:
            raise NotFound("this document was removed from the vault", "ce document a été retiré du coffre")
        wrapped = self.session.conn.execute("SELECT wrapped_key FROM vault_documents WHERE id=?",
                                            (document_id,)).fetchone()[0]
        blob = self._blob(meta["sha256"])
        if not blob.exists():
            raise NotFound("the document's content is not on this terminal yet",
                           "le contenu de ce document n'est pas encore sur ce terminal")
        raw = blob.read_bytes()
        try:
            key = aes_key_unwrap(self._storage_key(), bytes.fromhex(wrapped))
            content = AESGCM(key).decrypt(raw[:12], raw[12:], meta["sha256"].encode())
        except (InvalidTag, InvalidUnwrap, ValueError):
            raise Invalid("the stored document is damaged and cannot be opened; restore it from the backup",
                          "le document stocké est endommagé et ne peut pas être ouvert ; restaurez-le depuis la sauvegarde")
        if hashlib.sha256(content).hexdigest() != meta["sha256"]:
            raise Invalid("the stored document is corrupted", "le document stocké est corrompu")
        return content

    def for_citizen(self, citizen_id: str) -> list[dict[str, Any]]:
        self.session.principal.require("vault.read", citizen_id=citizen_id)
        return row_dicts(self.session.conn.execute(
            "SELECT id, sha256, media_type, size, name, kind, hlc FROM vault_documents"
            " WHERE citizen_id=? AND removed_hlc IS NULL ORDER BY hlc DESC", (citizen_id,)))

    def remove(self, document_id: str) -> None:
        who = self.session.principal
        who.require("vault.write")
        meta = self.get(document_id)
        with self.session.terminal.writing() as w:
            w.record(who, "vault.document_removed", f"citizen:{meta['citizen_id']}", {"id": document_id})
