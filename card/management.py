"""The card management key (key reference 9B): the secret that guards a PIV
card's provisioning (key generation, certificate writing). SP 800-73-4 lets it
be 3DES or AES; cards ship with a well-known default that enrolment replaces.

Both sides of the challenge/response use these helpers: the virtual card, and
the enrolment client talking to any PIV card.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import CardError

ALG_3DES, ALG_AES128, ALG_AES192, ALG_AES256 = 0x03, 0x08, 0x0A, 0x0C
KEY_SIZES = {ALG_3DES: 24, ALG_AES128: 16, ALG_AES192: 24, ALG_AES256: 32}
NAMES = {ALG_3DES: "3DES", ALG_AES128: "AES-128", ALG_AES192: "AES-192", ALG_AES256: "AES-256"}
BY_NAME = {"3des": ALG_3DES, "aes128": ALG_AES128, "aes192": ALG_AES192, "aes256": ALG_AES256}
# Cards ship a 3DES key; YubiKeys from firmware 5.7 the same key value as AES-192.
FACTORY_ALGORITHMS = (ALG_3DES, ALG_AES192)
# The factory management key of PIV cards and YubiKeys (3DES); public, so it must be changed.
DEFAULT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")
KEY_REF = 0x9B


def block_size(alg: int) -> int:
    return 8 if alg == ALG_3DES else 16


def _cipher(alg: int, key: bytes) -> Cipher:
    if KEY_SIZES.get(alg) != len(key):
        raise ValueError("management key size does not match its algorithm")
    return Cipher(TripleDES(key) if alg == ALG_3DES else algorithms.AES(key), modes.ECB())


def encrypt(alg: int, key: bytes, block: bytes) -> bytes:
    """One block, as the card's challenge/response uses it (ECB on a random block)."""
    enc = _cipher(alg, key).encryptor()
    return enc.update(block) + enc.finalize()


def decrypt(alg: int, key: bytes, block: bytes) -> bytes:
    dec = _cipher(alg, key).decryptor()
    return dec.update(block) + dec.finalize()


def parse_key(text: str, alg: int = ALG_3DES) -> bytes:
    """A management key typed as hex (48 digits for 3DES or AES-192)."""
    try:
        key = bytes.fromhex((text or "").strip())
    except ValueError:
        key = b""
    if len(key) != KEY_SIZES[alg]:
        raise CardError(f"a management key is {2 * KEY_SIZES[alg]} hexadecimal digits",
                        f"une clé de gestion compte {2 * KEY_SIZES[alg]} chiffres hexadécimaux", "invalid_key")
    return key
