"""Whether a card certificate makes its holder an agent (or a citizen) of the
city: issued by the city's agent CA (citizen CA at a kiosk), in its validity
period, not on the CA's revocation list. Identity and role come from the
certificate: UID is the agent (or citizen) id, OU the role, CN the name.

The terminal's home holds what it trusts: ``ca/agent-ca.pem`` and
``ca/agent-ca.crl`` (and ``citizen-ca.*``). A missing or badly signed
revocation list refuses every login: a terminal that cannot tell a revoked
card from a good one must not guess. A list past its ``next_update`` is still
used: during an incident the terminal may be cut off from IT for weeks, and the
last list it holds is the best it knows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .errors import Expired, NoTrust, Revoked, Untrusted, WrongCA

AUDIENCES = {"agent": ("agent", "ops"), "citizen": ("citizen",)}
UID_PATTERNS = {"agent": re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$"), "citizen": re.compile(r"^[0-9A-Za-z_-]{1,64}$")}


def ca_dir(home: Path) -> Path:
    return Path(home) / "ca"


@dataclass(frozen=True)
class Identity:
    uid: str
    name: str
    role: str  # agent | ops | citizen
    serial: int
    fingerprint: str  # SHA-256 of the certificate: what the card monitor compares
    not_after: dt.datetime

    def to_dict(self) -> dict:
        return {"uid": self.uid, "name": self.name, "role": self.role, "serial": f"{self.serial:x}",
                "fingerprint": self.fingerprint, "not_after": self.not_after.isoformat()}


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        return None
    return str(values[0].value)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return (cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
                and cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
    except x509.ExtensionNotFound:
        return False


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


class Trust:
    """The CA certificates and revocation lists of one terminal home."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    def _anchor(self, audience: str) -> tuple[x509.Certificate, x509.CertificateRevocationList]:
        folder = ca_dir(self.home)
        cert_path, crl_path = folder / f"{audience}-ca.pem", folder / f"{audience}-ca.crl"
        if not cert_path.exists():
            raise NoTrust(f"this terminal trusts no {audience} CA yet: install the city's CA certificate as {cert_path} "
                          f"(or run `beffroi card provision` for a demo CA)",
                          f"ce terminal ne fait encore confiance à aucune AC {audience} : installez le certificat de l'AC "
                          f"de la ville dans {cert_path} (ou lancez `beffroi card provision` pour une AC de démonstration)")
        try:
            ca = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError:
            raise NoTrust(f"{cert_path} is not a PEM certificate; reinstall the city's CA certificate",
                          f"{cert_path} n'est pas un certificat PEM ; réinstallez le certificat de l'AC de la ville") from None
        try:
            crl = x509.load_pem_x509_crl(crl_path.read_bytes())
        except (OSError, ValueError):
            crl = None
        if crl is None or crl.issuer != ca.subject or not crl.is_signature_valid(ca.public_key()):
            raise NoTrust(f"the revocation list {crl_path} is missing or not signed by the {audience} CA; "
                          "no card login until IT reinstalls it",
                          f"la liste de révocation {crl_path} est absente ou non signée par l'AC {audience} ; "
                          "aucune connexion par carte avant sa réinstallation par le service informatique")
        if not _is_ca(ca):
            raise NoTrust(f"{cert_path} is not a CA certificate (basic constraints / key usage); "
                          "reinstall the city's CA certificate",
                          f"{cert_path} n'est pas un certificat d'AC (contraintes de base / usage de clé) ; "
                          "réinstallez le certificat de l'AC de la ville")
        return ca, crl

    def check(self, cert: x509.Certificate, audience: str = "agent", now: dt.datetime | None = None) -> Identity:
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience!r}")
        now = now or dt.datetime.now(dt.UTC)
        ca, crl = self._anchor(audience)
        try:
            if cert.issuer != ca.subject:
                raise ValueError("issuer name differs")
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise WrongCA(f"this card was not issued by the city's {audience} CA; use your own city card",
                          f"cette carte n'a pas été émise par l'AC {audience} de la ville ; utilisez votre carte de la ville") from None
        if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            raise Expired(f"the city's {audience} CA certificate is outside its validity period; IT must renew it",
                          f"le certificat de l'AC {audience} de la ville est hors de sa période de validité ; "
                          "le service informatique doit le renouveler")
        if now < cert.not_valid_before_utc:
            raise Expired(f"this card is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                          f"cette carte n'est pas valide avant le {cert.not_valid_before_utc:%d/%m/%Y %H:%M} UTC")
        if now > cert.not_valid_after_utc:
            raise Expired(f"this card expired on {cert.not_valid_after_utc:%Y-%m-%d}; ask IT for a new one",
                          f"cette carte a expiré le {cert.not_valid_after_utc:%d/%m/%Y} ; demandez-en une nouvelle "
                          "au service informatique")
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            raise Revoked("this card has been revoked; ask IT for a new one",
                          "cette carte a été révoquée ; demandez-en une nouvelle au service informatique")
        return self._identity(cert, audience)

    def _identity(self, cert: x509.Certificate, audience: str) -> Identity:
        def bad(en: str, fr: str) -> Untrusted:
            return Untrusted(f"this card's certificate {en}", f"le certificat de cette carte {fr}", "bad_certificate")

        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise bad("does not hold an ECDSA P-256 key", "ne contient pas de clé ECDSA P-256")
        try:
            if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                raise bad("is a CA certificate", "est un certificat d'AC")
        except x509.ExtensionNotFound:
            pass
        try:
            if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
                raise bad("does not allow signing", "n'autorise pas la signature")
        except x509.ExtensionNotFound:
            raise bad("has no key usage", "n'a pas d'usage de clé") from None
        uid, role = _attr(cert.subject, NameOID.USER_ID), _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        name = _attr(cert.subject, NameOID.COMMON_NAME) or uid
        if uid is None or not UID_PATTERNS[audience].match(uid):
            raise bad("has no valid UID", "n'a pas d'UID valide")
        if role not in AUDIENCES[audience]:
            raise bad(f"gives the role {role!r}, not one of {', '.join(AUDIENCES[audience])}",
                      f"donne le rôle {role!r}, qui n'est pas parmi {', '.join(AUDIENCES[audience])}")
        return Identity(uid, name, role, cert.serial_number, fingerprint(cert), cert.not_valid_after_utc)
