"""The PIV applet client (NIST SP 800-73-4): select, read the slot 9A
certificate, verify the PIN, sign a challenge. It speaks APDUs over any link with
a ``transmit(bytes) -> bytes`` method; the login never sees an APDU.
"""

from __future__ import annotations

import re

from cryptography import x509

from . import tlv
from .apdu import OK, Command, Response, refusal
from .errors import BadPin, CardProtocolError, NotPiv, PinBlocked, WrongPin

AID = bytes.fromhex("A000000308")
CERT_9A = bytes.fromhex("5FC105")  # X.509 certificate for PIV authentication (slot 9A)
SLOT_9A = 0x9A
ALG_ECC_P256 = 0x11
PIN_REF = 0x80  # the PIV application PIN
MAX_CHAIN = 64  # 61xx answers followed before giving up on a card that never ends


def pin_block(pin: str) -> bytes:
    """PIV PINs travel as ASCII digits padded with FF to 8 bytes."""
    if not re.fullmatch(r"\d{4,8}", pin or ""):
        raise BadPin()
    return pin.encode().ljust(8, b"\xff")


class PivCard:
    def __init__(self, link) -> None:
        self.link = link

    def send(self, command: Command) -> Response:
        """One command, with its chained answer (61xx → GET RESPONSE) put together
        and a 6Cxx (wrong Le) resent once with the length the card asked for."""
        answer = Response.parse(self.link.transmit(command.to_bytes()))
        if answer.sw1 == 0x6C:
            command = Command(command.cla, command.ins, command.p1, command.p2, command.data, answer.sw2 or 256)
            answer = Response.parse(self.link.transmit(command.to_bytes()))
        data = bytearray(answer.data)
        for _ in range(MAX_CHAIN):
            if answer.sw1 != 0x61:
                return Response(bytes(data), answer.sw)
            answer = Response.parse(self.link.transmit(Command(0x00, 0xC0, 0x00, 0x00, le=answer.sw2 or 256).to_bytes()))
            data += answer.data
        raise CardProtocolError("the card's answer never ends (too many 61xx)",
                                "la réponse de la carte ne finit jamais (trop de 61xx)")

    def select(self) -> bytes:
        answer = self.send(Command(0x00, 0xA4, 0x04, 0x00, AID, le=256))
        if answer.sw != OK:
            raise NotPiv(f"SELECT answered {answer.sw:04X}")
        if answer.data:
            tlv.one(answer.data, 0x61)  # application property template: must at least parse
        return answer.data

    def certificate(self) -> x509.Certificate:
        answer = self.send(Command(0x00, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, CERT_9A), le=256))
        if answer.sw != OK:
            raise refusal(answer.sw, ("read the slot 9A certificate", "lire le certificat de l'emplacement 9A"))
        body = tlv.one(answer.data, 0x53)
        if (tlv.find(body, 0x71, required=False) or b"\x00") != b"\x00":
            raise CardProtocolError("the slot 9A certificate is compressed, which this terminal does not accept",
                                    "le certificat de l'emplacement 9A est compressé, ce que ce terminal n'accepte pas")
        der = tlv.find(body, 0x70)
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise CardProtocolError(f"the slot 9A certificate is not valid DER ({exc})",
                                    f"le certificat de l'emplacement 9A n'est pas un DER valide ({exc})") from None

    def _pin_status(self, sw: int) -> None:
        if sw == OK:
            return
        if sw == 0x6983:
            raise PinBlocked()
        if sw >> 4 == 0x63C:
            if sw & 0x0F == 0:
                raise PinBlocked()
            raise WrongPin(sw & 0x0F)
        raise refusal(sw, ("check the PIN", "vérifier le code PIN"))

    def verify_pin(self, pin: str) -> None:
        self._pin_status(self.send(Command(0x00, 0x20, 0x00, PIN_REF, pin_block(pin))).sw)

    def pin_tries(self) -> int | None:
        """Tries left, or None when the PIN is already verified in this card session."""
        sw = self.send(Command(0x00, 0x20, 0x00, PIN_REF)).sw
        if sw == OK:
            return None
        if sw == 0x6983:
            return 0
        if sw >> 4 == 0x63C:
            return sw & 0x0F
        raise refusal(sw, ("tell the PIN tries left", "indiquer les essais de code PIN restants"))

    def sign(self, digest: bytes) -> bytes:
        """ECDSA P-256 with the slot 9A key over a 32-byte digest; DER signature."""
        if len(digest) != 32:
            raise ValueError("a P-256 challenge is 32 bytes")
        template = tlv.encode(0x7C, tlv.encode(0x82, b"") + tlv.encode(0x81, digest))
        answer = self.send(Command(0x00, 0x87, ALG_ECC_P256, SLOT_9A, template, le=256))
        if answer.sw != OK:
            raise refusal(answer.sw, ("sign the login challenge", "signer le défi de connexion"))
        return tlv.find(tlv.one(answer.data, 0x7C), 0x82)
