"""Enrolment of any PIV card (a YubiKey, another PIV card, or the virtual card)
with the standard commands, so the path a real card takes is the tested path:

    done = card.enrolment.enrol(terminal, reader, "claire", "Claire Moreau", "agent", new_pin)

authenticates with the card's management key, replaces the factory PIN and
PUK (the agent chooses the PIN; the PUK is drawn here and shown once), has the
card generate its slot 9A key (the private key never leaves the card), has the
city CA certify it, writes CHUID, CCC and the certificate, replaces the
factory management key, proves the result by a login challenge, and records
the enrolment in the journal. The CA keeps the certificate under
``ca/enrolled/<uid>.json`` so the card can be revoked. Secrets (PIN, PUK,
management key) are never written to the journal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub.durable import write_private
from hub.roles import Principal

from . import ca, management, objects
from .errors import CardError, FactoryPin
from .login import challenge, verify_signature
from .piv import ALG_ECC_P256, SLOT_9A, PivCard, pin_block, puk_block
from .reader import Pcsc
from .trust import Trust, fingerprint

DEFAULT_PIN, DEFAULT_PUK = "123456", "12345678"  # every PIV card and YubiKey leaves the factory with these


class Counted:
    """A link that counts the APDUs it carries (for the benchmark and the report)."""

    def __init__(self, link) -> None:
        self.link, self.apdus = link, 0

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        return self.link.transmit(apdu)


@dataclass(frozen=True)
class Enrolment:
    uid: str
    name: str
    role: str
    reader: str
    guid: str
    certificate: x509.Certificate
    puk: str
    management_key: str | None  # None: the card has no command to change it, it keeps the one it had
    apdus: int

    def to_dict(self) -> dict:
        return {"uid": self.uid, "name": self.name, "role": self.role, "reader": self.reader, "guid": self.guid,
                "serial": f"{self.certificate.serial_number:x}", "fingerprint": fingerprint(self.certificate),
                "subject": self.certificate.subject.rfc4514_string(),
                "not_after": self.certificate.not_valid_after_utc.isoformat(),
                "puk": self.puk, "management_key": self.management_key, "apdus": self.apdus}


def _digits(random: Callable[[int], bytes], count: int) -> str:
    return str(int.from_bytes(random(16), "big") % 10**count).zfill(count)


def enrol(terminal, reader: str | None, uid: str, name: str, role: str, new_pin: str, *,
          management_key: bytes = management.DEFAULT_KEY, algorithm: int | None = None, current_pin: str = DEFAULT_PIN,
          current_puk: str = DEFAULT_PUK, by: Principal | None = None,
          random: Callable[[int], bytes] = os.urandom, now: Callable[[], dt.datetime] | None = None) -> Enrolment:
    home = terminal.home
    pin_block(new_pin)  # refused here, before the card is touched
    if new_pin == DEFAULT_PIN:
        raise FactoryPin()
    pin_block(current_pin)
    puk_block(current_puk)
    city = terminal.city
    ca.check_identity(home, uid, name, role, city, create=False)  # before the card changes
    new_puk = _digits(random, 8)
    with Pcsc() as pcsc:
        reader = pcsc.pick(reader)
        with pcsc.connect(reader) as link, link.transaction():
            counted = Counted(link)
            piv = PivCard(counted)
            piv.select()
            algorithm = _authenticate(piv, management_key, algorithm, random)
            piv.verify_pin(current_pin)  # a wrong current PIN stops here, before anything changes
            public = piv.generate(SLOT_9A, ALG_ECC_P256)
            cert = ca.certify(home, uid, name, role, public, city=city, create=False)
            guid = random(16)
            chuid = objects.chuid(guid, cert.not_valid_after_utc.date())
            piv.put_data(objects.CHUID, chuid)
            piv.put_data(objects.SECURITY, ca.security_object(home, ca.audience_of(role), chuid))
            piv.put_data(objects.CCC, objects.ccc(random(14)))
            piv.put_data(objects.CERT_9A, objects.certificate(cert))
            # The secrets change last, so a failure before leaves a card that can be enrolled again as it was.
            piv.change_pin(current_pin, new_pin)
            piv.change_puk(current_puk, new_puk)
            try:
                new_key = random(management.KEY_SIZES[algorithm])
                if not piv.set_management_key(new_key, algorithm):
                    new_key = None  # SP 800-73-4 has no command for it: the card keeps its key
                # Proof that the card now logs in: its certificate reads back, the new
                # PIN opens it, and its key signs a challenge the certificate verifies.
                if piv.certificate() != cert:
                    raise CardError("the certificate read back from the card is not the one written",
                                    "le certificat relu sur la carte n'est pas celui écrit", "enrol_mismatch")
                piv.verify_pin(new_pin)
                digest = challenge(terminal.id, "enrolment", random(32))
                verify_signature(cert, digest, piv.sign(digest))
            except CardError as failed:
                raise CardError(f"{failed.en}; the card's PIN and PUK were already changed: its new PUK is {new_puk}, "
                                "keep it to enrol the card again",
                                f"{failed.fr} ; le PIN et le PUK de la carte étaient déjà changés : son nouveau PUK est "
                                f"{new_puk}, gardez-le pour enrôler la carte de nouveau", failed.code) from None
    Trust(home).check(cert, ca.audience_of(role))
    _remember(home, uid, name, role, cert, guid, (now or (lambda: dt.datetime.now(dt.UTC)))())
    with terminal.writing() as w:
        w.record(by or Principal.system(), "card.enrolled", f"agent:{uid}" if role != "citizen" else f"citizen:{uid}",
                 {"uid": uid, "role": role, "terminal": terminal.name, "reader": reader, "guid": guid.hex(),
                  "serial": f"{cert.serial_number:x}", "fingerprint": fingerprint(cert),
                  "not_after": cert.not_valid_after_utc.isoformat()})
    return Enrolment(uid, name.strip(), role, reader, guid.hex(), cert, new_puk, new_key.hex() if new_key else None,
                     counted.apdus)


def _authenticate(piv: PivCard, key: bytes, algorithm: int | None, random) -> int:
    """Authenticate with the management key; without a stated algorithm, try the
    ones cards leave the factory with (the card says 6A86 to a wrong one)."""
    for alg in (algorithm,) if algorithm is not None else management.FACTORY_ALGORITHMS:
        if len(key) != management.KEY_SIZES[alg]:
            continue
        try:
            piv.authenticate_management(key, alg, random=random)
            return alg
        except CardError as refused:
            if refused.code != "management_algorithm" or algorithm is not None:
                raise
    raise CardError("the card accepts none of the management key algorithms tried; give --management-algorithm",
                    "la carte n'accepte aucun des algorithmes de clé de gestion essayés ; indiquez "
                    "--management-algorithm", "management_algorithm")


def _remember(home, uid: str, name: str, role: str, cert: x509.Certificate, guid: bytes, when: dt.datetime) -> None:
    """Keep the certificate with the CA (to revoke it later); a card enrolled
    again for the same person revokes the one before."""
    path = ca.enrolled_path(home, uid)
    if path.exists():
        old = x509.load_pem_x509_certificate(json.loads(path.read_text("utf-8"))["certificate"].encode())
        if old.serial_number != cert.serial_number:
            ca.revoke_serial(home, ca.audience_of(role), old.serial_number)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, json.dumps({"uid": uid, "name": name.strip(), "role": role, "guid": guid.hex(),
                                    "enrolled_at": when.isoformat(),
                                    "certificate": cert.public_bytes(serialization.Encoding.PEM).decode()},
                                   indent=2).encode())
