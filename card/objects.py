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


# --- the security object: the issuer's signature over the card's data ---------------
# SP 800-73-4 Part 1 Table 12: BA maps data group numbers to container IDs, BB is
# an ICAO LDS security object (hashes of the mapped objects) in a CMS SignedData.
# DER is TLV, so it is written with the same encoder as the card's objects.

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
CONTAINER_IDS = {1: 0x3000}  # data group 1: the CHUID


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(p) for p in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return tlv.encode(0x06, bytes(body))


def _int(value: int) -> bytes:
    return tlv.encode(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=False))


def _seq(*parts: bytes) -> bytes:
    return tlv.encode(0x30, b"".join(parts))


def _set(*parts: bytes) -> bytes:
    return tlv.encode(0x31, b"".join(sorted(parts)))  # DER: a SET OF is sorted by encoding


def security(groups: dict[int, bytes], signer: x509.Certificate, key) -> bytes:
    """Security object content: the hashes of ``groups`` (data group number →
    the object's content), signed by ``signer``'s key (ECDSA P-256, SHA-256)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SHA256())
        h.update(data)
        return h.finalize()

    sha256 = _seq(_oid(OID_SHA256))
    lds = _seq(_int(0), sha256, _seq(*(_seq(_int(n), tlv.encode(0x04, digest(c))) for n, c in sorted(groups.items()))))
    attributes = [_seq(_oid(OID_CONTENT_TYPE), _set(_oid(OID_LDS_SECURITY_OBJECT))),
                  _seq(_oid(OID_MESSAGE_DIGEST), _set(tlv.encode(0x04, digest(lds))))]
    signed = _set(*attributes)
    signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    signer_info = _seq(_int(1), _seq(signer.issuer.public_bytes(), _int(signer.serial_number)), sha256,
                       tlv.encode(0xA0, tlv.one(signed, 0x31)),  # signed as a SET, sent as [0] IMPLICIT
                       _seq(_oid(OID_ECDSA_SHA256)), tlv.encode(0x04, signature))
    signed_data = _seq(_int(3), _set(sha256),
                       _seq(_oid(OID_LDS_SECURITY_OBJECT), tlv.encode(0xA0, tlv.encode(0x04, lds))),
                       tlv.encode(0xA0, signer.public_bytes(serialization.Encoding.DER)),
                       _set(signer_info))
    content_info = _seq(_oid(OID_SIGNED_DATA), tlv.encode(0xA0, signed_data))
    mapping = b"".join(bytes([n]) + CONTAINER_IDS[n].to_bytes(2, "big") for n in sorted(groups))
    return tlv.encode(0xBA, mapping) + tlv.encode(0xBB, content_info) + tlv.encode(0xFE, b"")
