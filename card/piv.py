"""The PIV applet client (NIST SP 800-73-4): select, read the slot 9A
certificate, verify the PIN, sign a challenge; and for enrolment change the PIN
and PUK, unblock, authenticate with the management key, generate a key on the
card and write data objects. It speaks APDUs over any link with a
``transmit(bytes) -> bytes`` method; the login never sees an APDU.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from . import management, tlv
from .apdu import OK, Command, Response, refusal
from .errors import BadPin, BadPuk, CardError, CardProtocolError, NotPiv, PinBlocked, PukBlocked, WrongPin, WrongPuk

AID = bytes.fromhex("A000000308")
CERT_9A = bytes.fromhex("5FC105")  # X.509 certificate for PIV authentication (slot 9A)
SLOT_9A = 0x9A
ALG_ECC_P256, ALG_ECC_P384 = 0x11, 0x14
PIN_REF, PUK_REF = 0x80, 0x81  # the PIV application PIN and its PUK
MAX_CHAIN = 64  # 61xx answers followed before giving up on a card that never ends
PIN_RULE = re.compile(r"\d{6,8}")  # SP 800-73-4 Part 2 §2.4.3: 6 to 8 digits
PUK_RULE = re.compile(r"\d{6,8}")  # YubiKeys and most cards: up to 8 (ours are 8 digits)


def pin_block(pin: str) -> bytes:
    """PIV PINs travel as ASCII digits padded with FF to 8 bytes."""
    if not PIN_RULE.fullmatch(pin or ""):
        raise BadPin()
    return pin.encode().ljust(8, b"\xff")


def puk_block(puk: str) -> bytes:
    if not PUK_RULE.fullmatch(puk or ""):
        raise BadPuk()
    return puk.encode().ljust(8, b"\xff")


def valid_reference(ref: int, block: bytes) -> bool:
    """Whether an 8-byte PIN (or PUK) block is well formed: digits, then FF padding."""
    if len(block) != 8:
        return False
    digits = block.rstrip(b"\xff")
    return b"\xff" not in digits and bool((PIN_RULE if ref == PIN_REF else PUK_RULE).fullmatch(digits.decode("latin-1")))


def tries_in(sw: int) -> int | None:
    """Tries left in a "wrong reference data" status: 63Cx (SP 800-73-4) or the
    630x older cards answer; None for any other status (6300 says nothing)."""
    if sw >> 4 == 0x63C or (sw >> 4 == 0x630 and sw & 0x0F):
        return sw & 0x0F
    return None


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

    def _reference_status(self, sw: int, ref: int = PIN_REF) -> None:
        if sw == OK:
            return
        blocked, wrong = (PinBlocked, WrongPin) if ref == PIN_REF else (PukBlocked, WrongPuk)
        if sw == 0x6983:
            raise blocked()
        tries = tries_in(sw)
        if tries is None and sw == 0x6300 and ref == PIN_REF:
            tries = self.pin_tries()  # "wrong" with no count: ask the card how many are left
        if tries == 0:
            raise blocked()
        if tries is not None:
            raise wrong(tries)
        if sw == 0x6A80:
            raise (BadPin() if ref == PIN_REF else BadPuk())
        raise refusal(sw, ("check the PIN", "vérifier le code PIN") if ref == PIN_REF else
                      ("check the PUK", "vérifier le code PUK"))

    def verify_pin(self, pin: str) -> None:
        self._reference_status(self.send(Command(0x00, 0x20, 0x00, PIN_REF, pin_block(pin))).sw)

    def pin_tries(self) -> int | None:
        """Tries left, or None when the PIN is already verified in this card session."""
        sw = self.send(Command(0x00, 0x20, 0x00, PIN_REF)).sw
        if sw == OK:
            return None
        if sw == 0x6983:
            return 0
        tries = tries_in(sw)
        if tries is not None:
            return tries
        raise refusal(sw, ("tell the PIN tries left", "indiquer les essais de code PIN restants"))

    def change_pin(self, old: str, new: str) -> None:
        """CHANGE REFERENCE DATA for the PIN: a wrong old PIN costs a try."""
        self._reference_status(self.send(Command(0x00, 0x24, 0x00, PIN_REF, pin_block(old) + pin_block(new))).sw)

    def change_puk(self, old: str, new: str) -> None:
        self._reference_status(self.send(Command(0x00, 0x24, 0x00, PUK_REF, puk_block(old) + puk_block(new))).sw,
                               PUK_REF)

    def unblock_pin(self, puk: str, new_pin: str) -> None:
        """RESET RETRY COUNTER: the PUK sets a new PIN and gives back every try."""
        self._reference_status(self.send(Command(0x00, 0x2C, 0x00, PIN_REF, puk_block(puk) + pin_block(new_pin))).sw,
                               PUK_REF)

    # --- provisioning ---------------------------------------------------------------

    def authenticate_management(self, key: bytes, alg: int = management.ALG_3DES,
                                random: Callable[[int], bytes] = os.urandom) -> None:
        """Mutual authentication with the management key (9B): decrypt the
        card's witness, and check the card encrypts our challenge with the same key."""
        ask = tlv.encode(0x7C, tlv.encode(0x80, b""))
        answer = self.send(Command(0x00, 0x87, alg, management.KEY_REF, ask, le=256))
        if answer.sw in (0x6A80, 0x6A81, 0x6A86):
            raise CardError(f"the card's management key is not {management.NAMES[alg]}",
                            f"la clé de gestion de la carte n'est pas {management.NAMES[alg]}", "management_algorithm")
        if answer.sw != OK:
            raise refusal(answer.sw, ("start the management key authentication",
                                      "commencer l'authentification par clé de gestion"))
        size = management.block_size(alg)
        witness = tlv.find(tlv.one(answer.data, 0x7C), 0x80)
        if len(witness) != size:
            raise CardProtocolError("the card's management witness has the wrong size",
                                    "le témoin de gestion de la carte n'a pas la bonne taille")
        challenge = random(size)
        reply = tlv.encode(0x7C, tlv.encode(0x80, management.decrypt(alg, key, witness)) + tlv.encode(0x81, challenge))
        answer = self.send(Command(0x00, 0x87, alg, management.KEY_REF, reply, le=256))
        if answer.sw == 0x6982:
            raise CardError("the card refused the management key: it is not this card's key",
                            "la carte a refusé la clé de gestion : ce n'est pas la clé de cette carte", "wrong_key")
        if answer.sw != OK:
            raise refusal(answer.sw, ("check the management key", "vérifier la clé de gestion"))
        if tlv.find(tlv.one(answer.data, 0x7C), 0x82) != management.encrypt(alg, key, challenge):
            raise CardError("the card did not prove it holds the same management key; it may be counterfeit",
                            "la carte n'a pas prouvé qu'elle détient la même clé de gestion ; elle est peut-être "
                            "contrefaite", "card_not_authentic")

    def set_management_key(self, key: bytes, alg: int = management.ALG_3DES) -> bool:
        """YubiKey's SET MANAGEMENT KEY (the standard leaves it to card makers);
        False when the card has no such instruction."""
        if len(key) != management.KEY_SIZES[alg]:
            raise ValueError("wrong management key size")
        sw = self.send(Command(0x00, 0xFF, 0xFF, 0xFF, bytes([alg, management.KEY_REF, len(key)]) + key)).sw
        if sw in (0x6D00, 0x6E00):
            return False
        if sw != OK:
            raise refusal(sw, ("change its management key", "changer sa clé de gestion"))
        return True

    def generate(self, slot: int = SLOT_9A, alg: int = ALG_ECC_P256) -> ec.EllipticCurvePublicKey:
        """GENERATE ASYMMETRIC KEY PAIR: the private key is made on the card and stays there."""
        answer = self.send(Command(0x00, 0x47, 0x00, slot, tlv.encode(0xAC, tlv.encode(0x80, bytes([alg]))), le=256))
        if answer.sw != OK:
            raise refusal(answer.sw, ("generate a key", "générer une clé"))
        point = tlv.find(tlv.one(answer.data, 0x7F49), 0x86)
        curve = ec.SECP256R1() if alg == ALG_ECC_P256 else ec.SECP384R1()
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        except ValueError:
            raise CardProtocolError("the card's new public key is not a point of the curve",
                                    "la nouvelle clé publique de la carte n'est pas un point de la courbe") from None

    def get_data(self, tag: bytes) -> bytes | None:
        """A data object's content (inside tag 53), or None when the card has none."""
        answer = self.send(Command(0x00, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, tag), le=256))
        if answer.sw in (0x6A82, 0x6A88):
            return None
        if answer.sw != OK:
            raise refusal(answer.sw, (f"read the object {tag.hex().upper()}", f"lire l'objet {tag.hex().upper()}"))
        return tlv.one(answer.data, 0x53)

    def put_data(self, tag: bytes, content: bytes) -> None:
        """PUT DATA, chained in 255-byte pieces (CLA 10) when it does not fit one APDU."""
        data = tlv.encode(0x5C, tag) + tlv.encode(0x53, content)
        pieces = [data[i:i + 255] for i in range(0, len(data), 255)]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            sw = self.send(Command(0x00 if last else 0x10, 0xDB, 0x3F, 0xFF, piece)).sw
            if sw != OK:
                raise refusal(sw, (f"write the object {tag.hex().upper()}", f"écrire l'objet {tag.hex().upper()}"))

    def sign(self, digest: bytes) -> bytes:
        """ECDSA P-256 with the slot 9A key over a 32-byte digest; DER signature."""
        if len(digest) != 32:
            raise ValueError("a P-256 challenge is 32 bytes")
        template = tlv.encode(0x7C, tlv.encode(0x82, b"") + tlv.encode(0x81, digest))
        answer = self.send(Command(0x00, 0x87, ALG_ECC_P256, SLOT_9A, template, le=256))
        if answer.sw != OK:
            raise refusal(answer.sw, ("sign the login challenge", "signer le défi de connexion"))
        return tlv.find(tlv.one(answer.data, 0x7C), 0x82)
