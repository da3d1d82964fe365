"""What a terminal trusts: the city admin key it pinned at enrolment, and only
what that key signed (device certificates, the revocation list, each epoch
key's check value). Nothing the SoR says on its own can make a terminal accept
an event or seal with a key the SoR knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import NotFound
from hub.journal import Event

from . import keys, segment
from .local import Local
from .segment import Segment, SegmentError


@dataclass
class Trust:
    admin: Ed25519PublicKey
    devices: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    revoked: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, bytes] = field(default_factory=dict)
    allow_plain: bool = False  # the benchmark's unsealed baseline only

    @classmethod
    def from_local(cls, local: Local, recipient: str | None, kx: X25519PrivateKey | None) -> "Trust":
        city = local.get("city")
        if not city:
            raise NotFound("this terminal knows no SoR yet: run `beffroi enroll --sor URL` first",
                           "ce terminal ne connaît encore aucun SoR : lancez d'abord `beffroi enroll --sor URL`",
                           "not_enrolled")
        trust = cls(keys.sign_public(city["admin_sign"]))
        trust.load_devices(local.get("devices") or {"devices": [], "revocations": None})
        if recipient and kx:
            trust.load_keys(local.wrapped_keys(recipient), recipient, kx)
        return trust

    def load_devices(self, listing: dict[str, Any]) -> None:
        for entry in listing.get("devices", []):
            cert = keys.verify_doc(self.admin, entry.get("certificate"), f"certificate of {entry.get('id')}")
            if cert.get("kind") != "enrolment":
                raise keys.KeyRefused("a device certificate is not an enrolment", "certificat d'appareil invalide")
            self.devices[cert["terminal"]] = keys.sign_public(cert["sign_pub"])
            self.names[cert["terminal"]] = cert["name"]
        if listing.get("revocations"):
            doc = keys.verify_doc(self.admin, listing["revocations"], "revocation list")
            if doc.get("kind") != "revocations":
                raise keys.KeyRefused("the revocation list is not one", "liste de révocation invalide")
            self.revoked = doc["revoked"]

    def load_keys(self, epochs: list[dict[str, Any]], recipient: str, kx: X25519PrivateKey) -> None:
        for entry in epochs:
            record = keys.verify_doc(self.admin, entry["record"], f"epoch {entry.get('epoch')} record")
            if record.get("kind") != "epoch" or record.get("epoch") != entry["epoch"]:
                raise keys.KeyRefused("an epoch record does not match its epoch", "enregistrement d'époque incohérent")
            data_key = keys.unwrap(entry["wrapped"], kx, keys.wrap_context(entry["epoch"], recipient))
            if keys.key_check(data_key) != record["check"]:
                raise keys.KeyRefused(f"the epoch {entry['epoch']} key is not the one the admin signed",
                                     f"la clé de l'époque {entry['epoch']} n'est pas celle signée par l'administrateur")
            self.keys[entry["epoch"]] = data_key

    def open(self, raw: bytes) -> tuple[Segment, list[Event]]:
        """Parse, check signature and revocation, decrypt: the segment's events,
        or a :class:`SegmentError` saying why not."""
        seg = segment.parse(raw, allow_plain=self.allow_plain)
        origin = seg.header.origin
        public = self.devices.get(origin)
        if public is None:
            raise SegmentError(f"unknown key: {origin} has no admin-signed certificate",
                               f"clé inconnue : {origin} n'a pas de certificat signé par l'administrateur")
        revoked = self.revoked.get(origin)
        if revoked and seg.header.last > revoked["last"]:
            raise SegmentError(f"{seg.label} comes from revoked terminal {self.names.get(origin, origin)}"
                               f" after its revocation (#{revoked['last']})",
                               f"{seg.label} vient du terminal révoqué {self.names.get(origin, origin)}"
                               f" après sa révocation (n°{revoked['last']})")
        seg.verify(public)
        return seg, seg.events(self.keys.get(seg.header.epoch))
