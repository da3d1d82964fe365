"""The PIV data objects a card carries (SP 800-73-4 Part 1 §3.1 and Table 3):
the Card Holder Unique Identifier (CHUID, whose GUID is the card's serial for
OpenSC and most middleware), the Card Capability Container (CCC), the
discovery object (what the card's PIN policy is), and the certificate
containers. Enrolment writes them with PUT DATA; the virtual card answers them
with GET DATA, so both speak the same bytes.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import tlv

CHUID = bytes.fromhex("5FC102")
CCC = bytes.fromhex("5FC107")
CERT_9A = bytes.fromhex("5FC105")  # PIV authentication
CERT_9C = bytes.fromhex("5FC10A")  # digital signature
CERT_9D = bytes.fromhex("5FC10B")  # key management
CERT_9E = bytes.fromhex("5FC101")  # card authentication
SECURITY = bytes.fromhex("5FC106")
DISCOVERY = bytes.fromhex("7E")
CERTIFICATES = {0x9A: CERT_9A, 0x9C: CERT_9C, 0x9D: CERT_9D, 0x9E: CERT_9E}
# Readable only once the PIN is verified (Part 1 Table 3: fingerprints, facial
# image, printed information, iris images); everything else is free to read.
PIN_GUARDED = {bytes.fromhex(t) for t in ("5FC103", "5FC108", "5FC109", "5FC121")}

PIV_AID = bytes.fromhex("A000000308000010000100")
# A FASC-N for a non-federal issuer (agency code 9999, as most non-federal cards carry).
FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")


def chuid(guid: bytes, expires: dt.date) -> bytes:
    """CHUID content (inside tag 53): FASC-N, GUID, expiry, an empty issuer
    signature and error detection code, as non-federal issuers write it."""
    if len(guid) != 16:
        raise ValueError("a GUID is 16 bytes")
    return (tlv.encode(0x30, FASCN) + tlv.encode(0x34, guid) + tlv.encode(0x35, expires.strftime("%Y%m%d").encode())
            + tlv.encode(0x3E, b"") + tlv.encode(0xFE, b""))


def guid_of(content: bytes) -> bytes | None:
    return tlv.find(content, 0x34, required=False)


def ccc(card_id: bytes) -> bytes:
    """CCC content: the card identifier (GSC-RID A000000116, manufacturer FF,
    card type 02 = Java card, 14 bytes of identifier) and version 2.1 fields."""
    if len(card_id) != 14:
        raise ValueError("a CCC card identifier is 14 bytes")
    body = tlv.encode(0xF0, bytes.fromhex("A000000116FF02") + card_id)
    body += tlv.encode(0xF1, b"\x21") + tlv.encode(0xF2, b"\x21") + tlv.encode(0xF3, b"") + tlv.encode(0xF4, b"\x00")
    body += tlv.encode(0xF5, b"\x10")
    for tag in (0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE):
        body += tlv.encode(tag, b"")
    return body


def discovery() -> bytes:
    """Discovery object (whole, tag 7E): the PIV AID and the PIN usage policy
    40 00 (the PIV application PIN only, no global PIN, no on-card comparison)."""
    return tlv.encode(0x7E, tlv.encode(0x4F, PIV_AID) + tlv.encode(0x5F2F, b"\x40\x00"))


def certificate(cert: x509.Certificate) -> bytes:
    """Certificate container content: the DER certificate, not compressed (71 = 00)."""
    return tlv.encode(0x70, cert.public_bytes(serialization.Encoding.DER)) + tlv.encode(0x71, b"\x00") + tlv.encode(0xFE, b"")
