"""Keys of the replication: who may write segments, who may read them.

- A terminal's **device keys** (``<home>/keys/``, 0600): Ed25519 to sign its
  segments and its requests, X25519 to receive data keys.
- The city's **admin keys** (Ed25519 signs enrolments, revocations and key
  epochs; X25519 receives every data key so that it can grant them to a newly
  approved terminal).
- The **recovery key** (X25519), never stored whole: split k-of-n with
  SLIP-39 Shamir shares (``shamir-mnemonic``) into one file per IT staff member.
- An **epoch data key** (AES-256) seals segments; it is wrapped (X25519 +
  HKDF-SHA256 + AES-256-GCM) to each recipient and the admin signs a check
  value of it, so the SoR can neither read it nor slip in a key of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shamir_mnemonic
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub import canonical
from hub.durable import write_private
from hub.errors import Invalid

RAW = serialization.Encoding.Raw
WRAP_INFO = b"beffroi key wrap v1"
CHECK_INFO = b"beffroi epoch key check v1"


class KeyRefused(Invalid):
    """A key or a signed document that must not be trusted."""

    code = "key_refused"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str, size: int | None = None) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError, AttributeError):
        raise KeyRefused("malformed base64 value", "valeur base64 malformée")
    if size is not None and len(data) != size:
        raise KeyRefused(f"expected {size} bytes, got {len(data)}", f"{size} octets attendus, {len(data)} reçus")
    return data


def public_bytes(key: Ed25519PrivateKey | X25519PrivateKey | Ed25519PublicKey | X25519PublicKey) -> bytes:
    if hasattr(key, "public_key"):
        key = key.public_key()
    return key.public_bytes(RAW, serialization.PublicFormat.Raw)


def private_bytes(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def fingerprint(public: bytes) -> str:
    """Short, readable: what two people compare over the phone."""
    digest = hashlib.sha256(public).hexdigest()[:20].upper()
    return "-".join(digest[i:i + 4] for i in range(0, 20, 4))


def sign_public(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(unb64(text, 32))
    except (ValueError, TypeError):
        raise KeyRefused("not an Ed25519 public key", "pas une clé publique Ed25519")


def kx_public(text: str) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(unb64(text, 32))
    except (ValueError, TypeError):
        raise KeyRefused("not an X25519 public key", "pas une clé publique X25519")


# --- key pairs on disk -------------------------------------------------------

@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 signing key and an X25519 key-agreement key, kept together."""

    sign: Ed25519PrivateKey
    kx: X25519PrivateKey

    @property
    def sign_pub(self) -> str:
        return b64(public_bytes(self.sign))

    @property
    def kx_pub(self) -> str:
        return b64(public_bytes(self.kx))

    @classmethod
    def generate(cls) -> "KeyPair":
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    def save(self, folder: Path, stem: str) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(folder / f"{stem}-sign.key", private_bytes(self.sign))
        write_private(folder / f"{stem}-kx.key", private_bytes(self.kx))

    @classmethod
    def load(cls, folder: Path, stem: str) -> "KeyPair | None":
        sign, kx = folder / f"{stem}-sign.key", folder / f"{stem}-kx.key"
        if not sign.exists() or not kx.exists():
            return None
        try:
            return cls(Ed25519PrivateKey.from_private_bytes(sign.read_bytes()),
                       X25519PrivateKey.from_private_bytes(kx.read_bytes()))
        except ValueError:
            raise KeyRefused(f"key files {stem}-*.key in {folder} are damaged",
                            f"les fichiers de clé {stem}-*.key dans {folder} sont endommagés")


def device_keys(home: Path, create: bool = False) -> KeyPair | None:
    """The terminal's device keys, under ``<home>/keys/``."""
    keys = KeyPair.load(Path(home) / "keys", "device")
    if keys is None and create:
        keys = KeyPair.generate()
        keys.save(Path(home) / "keys", "device")
    return keys


# --- signed documents ----------------------------------------------------------

def sign_doc(key: Ed25519PrivateKey, doc: dict[str, Any]) -> dict[str, Any]:
    return {"doc": doc, "sig": b64(key.sign(canonical.encode(doc)))}


def verify_doc(public: Ed25519PublicKey, signed: Any, what: str) -> dict[str, Any]:
    """The document inside ``signed`` if the signature holds; refuses otherwise."""
    if not isinstance(signed, dict) or set(signed) != {"doc", "sig"} or not isinstance(signed["doc"], dict) \
            or not isinstance(signed["sig"], str):
        raise KeyRefused(f"{what} is not a signed document", f"{what} n'est pas un document signé")
    try:
        public.verify(unb64(signed["sig"], 64), canonical.encode(signed["doc"]))
    except InvalidSignature:
        raise KeyRefused(f"{what} is not signed by the city admin key",
                        f"{what} n'est pas signé par la clé d'administration de la ville")
    return signed["doc"]


# --- data keys ----------------------------------------------------------------

def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def key_check(data_key: bytes) -> str:
    """A value the admin signs to commit to an epoch key without revealing it."""
    return hmac.new(data_key, CHECK_INFO, hashlib.sha256).hexdigest()


def _wrap_key(shared: bytes, eph: bytes, recipient: bytes, context: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=eph + recipient, info=WRAP_INFO + b"|" + context).derive(shared)


def wrap(data_key: bytes, recipient: X25519PublicKey, context: str) -> str:
    """Encrypt ``data_key`` to ``recipient`` (ephemeral X25519 + HKDF + AES-GCM)."""
    eph = X25519PrivateKey.generate()
    eph_pub, rcpt_pub = public_bytes(eph), public_bytes(recipient)
    kek = _wrap_key(eph.exchange(recipient), eph_pub, rcpt_pub, context.encode())
    nonce = os.urandom(12)
    return b64(eph_pub + nonce + AESGCM(kek).encrypt(nonce, data_key, context.encode()))


def unwrap(blob: str, recipient: X25519PrivateKey, context: str) -> bytes:
    raw = unb64(blob)
    if len(raw) != 32 + 12 + 48:
        raise KeyRefused("wrapped key has the wrong size", "clé enveloppée de taille incorrecte")
    eph_pub, nonce, sealed = raw[:32], raw[32:44], raw[44:]
    kek = _wrap_key(recipient.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub,
                    public_bytes(recipient), context.encode())
    try:
        return AESGCM(kek).decrypt(nonce, sealed, context.encode())
    except InvalidTag:
        raise KeyRefused(f"wrapped key ({context}) does not open with this key",
                        f"la clé enveloppée ({context}) ne s'ouvre pas avec cette clé")


def wrap_context(epoch: int, recipient: str) -> str:
    return f"epoch:{epoch}:{recipient}"


# --- the recovery key ----------------------------------------------------------

RECOVERY_SIGN_INFO = b"beffroi recovery signing key v1"


def recovery_signer(recovery: X25519PrivateKey) -> Ed25519PrivateKey:
    """The Ed25519 identity that a machine holding the recovery key signs its
    (read-only) requests with: derived, so the shares carry one secret only."""
    seed = HKDF(hashes.SHA256(), 32, salt=None, info=RECOVERY_SIGN_INFO).derive(private_bytes(recovery))
    return Ed25519PrivateKey.from_private_bytes(seed)


def split_recovery(recovery: X25519PrivateKey, shares: int, threshold: int) -> list[str]:
    if not 1 <= threshold <= shares <= 16:
        raise Invalid("shares: need 1 <= threshold <= shares <= 16",
                      "parts : il faut 1 <= seuil <= parts <= 16")
    if threshold == 1 and shares > 1:
        raise Invalid("a threshold of 1 with several shares would give the whole key to each person",
                      "un seuil de 1 avec plusieurs parts donnerait la clé entière à chacun")
    groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], private_bytes(recovery))
    return groups[0]


def share_text(mnemonic: str, number: int, shares: int, threshold: int, city: str, recovery_pub: str) -> str:
    return (f"# Beffroi recovery share {number} of {shares} ({threshold} needed) — {city}\n"
            f"# Part de récupération {number} sur {shares} ({threshold} nécessaires)\n"
            f"# recovery key fingerprint: {fingerprint(unb64(recovery_pub))}\n"
            f"{mnemonic}\n")


def combine_shares(texts: list[str]) -> X25519PrivateKey:
    mnemonics = []
    for text in texts:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if len(lines) != 1:
            raise Invalid("a share file holds exactly one line of words",
                          "un fichier de part contient exactement une ligne de mots")
        mnemonics.append(lines[0])
    try:
        secret = shamir_mnemonic.combine_mnemonics(mnemonics)
    except (shamir_mnemonic.MnemonicError, ValueError) as exc:
        raise Invalid(f"the recovery shares do not combine: {exc}",
                      f"les parts de récupération ne se combinent pas : {exc}")
    if len(secret) != 32:
        raise Invalid("the recovery shares do not hold a recovery key",
                      "les parts ne contiennent pas une clé de récupération")
    return X25519PrivateKey.from_private_bytes(secret)
