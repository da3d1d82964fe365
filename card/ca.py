"""The demo city CA: an agent CA and a citizen CA kept in ``<home>/ca/``, which
issue virtual cards into ``<home>/cards/<uid>.json`` and revoke them.

For development and tests. A real city keeps its CA keys off the terminals;
a terminal then holds only ``ca/*-ca.pem`` and ``ca/*-ca.crl``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.durable import write_private
from hub.errors import Invalid, NotFound
from hub.terminal import DEFAULT_CITY

from .trust import UID_PATTERNS, ca_dir

ROLES = ("agent", "ops", "citizen")
# Cheap on purpose: this stands in for the card's own PIN comparison, which a
# real card does in hardware in microseconds; the card file itself is 0600.
_SCRYPT_N = 2**11


def cards_dir(home: Path) -> Path:
    return Path(home) / "cards"


def card_path(home: Path, uid: str) -> Path:
    return cards_dir(home) / f"{uid}.json"


def audience_of(role: str) -> str:
    return "citizen" if role == "citizen" else "agent"


def hash_pin(pin: str) -> str:
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(pin.encode())
    return f"scrypt${_SCRYPT_N}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_pin(pin: str, stored: str) -> bool:
    _, n, salt, digest = stored.split("$")
    actual = Scrypt(salt=base64.b64decode(salt), length=32, n=int(n), r=8, p=1).derive(pin.encode())
    return hmac.compare_digest(actual, base64.b64decode(digest))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(city: str, cn: str, ou: str, uid: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, city), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou)]
    if uid is not None:
        parts.append(x509.NameAttribute(NameOID.USER_ID, uid))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(parts)


def _load(home: Path, audience: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    folder = ca_dir(home)
    key_path = folder / f"{audience}-ca.key"
    if not key_path.exists():
        raise NotFound(f"this home holds no {audience} CA key ({key_path}): cards are issued where the city's CA is",
                       f"ce répertoire ne contient pas de clé d'AC {audience} ({key_path}) : les cartes sont émises "
                       "là où se trouve l'AC de la ville", "no_ca")
    cert = x509.load_pem_x509_certificate((folder / f"{audience}-ca.pem").read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    return cert, key


def ensure(home: Path, city: str = DEFAULT_CITY) -> None:
    """Create the demo agent and citizen CAs (with empty revocation lists) if absent."""
    folder = ca_dir(home)
    folder.mkdir(mode=0o700, exist_ok=True)
    for audience in ("agent", "citizen"):
        if (folder / f"{audience}-ca.pem").exists():
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(city, f"{city} — AC {audience} (démonstration)", f"{audience}-ca")
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(folder / f"{audience}-ca.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (folder / f"{audience}-ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_crl(home, audience, cert, key, [])


def _write_crl(home: Path, audience: str, ca: x509.Certificate, key, serials: list[int]) -> None:
    now = _now()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
               .last_update(now).next_update(now + dt.timedelta(days=365)))
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    crl = builder.sign(key, hashes.SHA256())
    write_private(ca_dir(home) / f"{audience}-ca.crl", crl.public_bytes(serialization.Encoding.PEM))


def revoke_serial(home: Path, audience: str, serial: int) -> None:
    ca, key = _load(home, audience)
    crl = x509.load_pem_x509_crl((ca_dir(home) / f"{audience}-ca.crl").read_bytes())
    serials = {r.serial_number for r in crl} | {serial}
    _write_crl(home, audience, ca, key, sorted(serials))


def certify(home: Path, uid: str, name: str, role: str, public_key: ec.EllipticCurvePublicKey, *,
            city: str = DEFAULT_CITY, not_before: dt.datetime | None = None,
            not_after: dt.datetime | None = None, create: bool = True) -> x509.Certificate:
    """The city CA's certificate for a card key: identity in the subject (UID,
    OU = role, CN = name), client authentication, 3 years."""
    ca, ca_key = check_identity(home, uid, name, role, city, create=create)
    now = _now()
    return (x509.CertificateBuilder().subject_name(_name(city, name.strip(), role, uid)).issuer_name(ca.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def check_identity(home: Path, uid: str, name: str, role: str, city: str = DEFAULT_CITY, *,
                   create: bool = True):
    """Refuse a bad uid, role or name, or a home without the CA key; returns the
    CA. ``create`` makes the demo CA when there is none (never for enrolment:
    a card certified by a CA made on the spot would be trusted nowhere else)."""
    if role not in ROLES:
        raise Invalid("role must be agent, ops or citizen", "le rôle doit être agent, ops ou citizen")
    audience = audience_of(role)
    if not UID_PATTERNS[audience].match(uid or ""):
        if audience == "agent":
            raise Invalid(f"agent id {uid!r}: 2 to 32 lower-case letters, digits, . _ or -",
                          f"identifiant agent {uid!r} : 2 à 32 minuscules, chiffres, . _ ou -")
        raise Invalid(f"citizen id {uid!r}: 1 to 64 letters, digits, _ or -",
                      f"identifiant citoyen {uid!r} : 1 à 64 lettres, chiffres, _ ou -")
    if not (name or "").strip():
        raise Invalid("the card holder's name is empty", "le nom du titulaire de la carte est vide")
    if create:
        ensure(home, city)
    return _load(home, audience)


def _check_pin(pin: str) -> None:
    if not re.fullmatch(r"\d{6,8}", pin or ""):
        raise Invalid("a PIN is 6 to 8 digits", "un code PIN compte 6 à 8 chiffres")


def blank(home: Path, label: str) -> dict[str, Any]:
    """A factory-fresh virtual card in ``<home>/cards/<label>.json``: default
    PIN 123456, PUK 12345678 and management key, nothing on it; to be enrolled
    with `beffroi card enrol`, exactly as a new YubiKey is."""
    from .virtual import factory_file
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,31}", label or ""):
        raise Invalid(f"card label {label!r}: 1 to 32 lower-case letters, digits, . _ or -",
                      f"étiquette de carte {label!r} : 1 à 32 minuscules, chiffres, . _ ou -")
    if card_path(home, label).exists():
        raise Invalid(f"there is already a virtual card {label!r} in {cards_dir(home)}",
                      f"il existe déjà une carte virtuelle {label!r} dans {cards_dir(home)}", "card_exists")
    card = factory_file(int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF)
    cards_dir(home).mkdir(mode=0o700, exist_ok=True)
    write_private(card_path(home, label), json.dumps(card, indent=2).encode())
    return {"card": label, "serial": card["serial"], "pin": "123456", "puk": "12345678",
            "management_key": card["management"]["key"]}


def issue(home: Path, uid: str, name: str, role: str, pin: str, *, city: str = DEFAULT_CITY,
          not_before: dt.datetime | None = None, not_after: dt.datetime | None = None) -> dict[str, Any]:
    """Issue a virtual card already personalised, as a card bureau delivers it
    (a shortcut for tests and the demo; `beffroi card enrol` is the path a real
    card takes): a P-256 key in slot 9A, its certificate from the city CA,
    CHUID and CCC, the PIN (hashed), PUK 12345678 and the default management
    key. Reissuing a uid revokes the old card."""
    from . import objects
    from .virtual import factory_file
    _check_pin(pin)
    previous = read_card(home, uid) if card_path(home, uid).exists() else None
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certify(home, uid, name, role, key.public_key(), city=city, not_before=not_before, not_after=not_after)
    card = factory_file(int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF)
    card.update({"uid": uid, "name": name.strip(), "role": role, "pin": hash_pin(pin)})
    card["keys"]["9A"] = {"alg": 0x11, "pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()).decode()}
    chuid = objects.chuid(os.urandom(16), cert.not_valid_after_utc.date())
    card["objects"] = {
        "5FC102": chuid.hex(),
        "5FC106": security_object(home, audience_of(role), chuid).hex(),
        "5FC107": objects.ccc(os.urandom(14)).hex(),
        "5FC105": objects.certificate(cert).hex(),
    }
    cards_dir(home).mkdir(mode=0o700, exist_ok=True)
    write_private(card_path(home, uid), json.dumps(card, indent=2).encode())
    if previous is not None and certificate_of(previous) is not None:
        revoke_serial(home, audience_of(previous.get("role", role)), certificate_of(previous).serial_number)
    return describe(card)


def security_object(home: Path, audience: str, chuid: bytes) -> bytes:
    """The card's security object, signed by the city CA of ``audience``."""
    from . import objects
    cert, key = _load(home, audience)
    return objects.security({1: chuid}, cert, key)


def certificate_of(card: dict[str, Any]) -> x509.Certificate | None:
    """The slot 9A certificate a card file holds, if any."""
    from . import tlv
    content = card.get("objects", {}).get("5FC105")
    if not content:
        return None
    return x509.load_der_x509_certificate(tlv.find(bytes.fromhex(content), 0x70))


def read_card(home: Path, uid: str) -> dict[str, Any]:
    path = card_path(home, uid)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in cards_dir(home).glob("*.json"))) or "none"
        raise NotFound(f"no virtual card {uid!r} in {cards_dir(home)} (cards: {known}); issue one with "
                       "`beffroi card provision`",
                       f"pas de carte virtuelle {uid!r} dans {cards_dir(home)} (cartes : {known}) ; émettez-en une avec "
                       "`beffroi card provision`", "no_card_file")
    return json.loads(path.read_text("utf-8"))


def revoke(home: Path, uid: str) -> dict[str, Any]:
    """Revoke the card issued (or enrolled) to ``uid``: its certificate's serial
    goes on the CA's revocation list."""
    enrolled = enrolled_path(home, uid)
    if enrolled.exists():
        record = json.loads(enrolled.read_text("utf-8"))
        cert = x509.load_pem_x509_certificate(record["certificate"].encode())
        revoke_serial(home, audience_of(record["role"]), cert.serial_number)
        return {**record, "serial": f"{cert.serial_number:x}"}
    card = read_card(home, uid)
    cert = certificate_of(card)
    if cert is None:
        raise Invalid(f"the virtual card {uid!r} holds no certificate: there is nothing to revoke",
                      f"la carte virtuelle {uid!r} ne contient pas de certificat : rien à révoquer", "no_certificate")
    revoke_serial(home, audience_of(card["role"]), cert.serial_number)
    return describe(card)


def enrolled_path(home: Path, uid: str) -> Path:
    """Where the CA keeps the certificate of a card enrolled with `beffroi card enrol`."""
    return ca_dir(home) / "enrolled" / f"{uid}.json"


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cert = certificate_of(card)
    return {"uid": card["uid"], "name": card["name"], "role": card["role"], "serial": f"{cert.serial_number:x}",
            "subject": cert.subject.rfc4514_string(), "not_after": cert.not_valid_after_utc.isoformat(),
            "tries": card["pin_tries"]}
