"""ISO 7816-4 short APDUs: commands the terminal sends, answers the card gives,
and what each status word means for the person at the counter.

Both parsers are strict: the virtual card refuses a malformed command with
67 00, the client refuses a malformed answer; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CardProtocolError

OK = 0x9000


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # expected answer length, 1..256 (256 is sent as 00)

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be one byte")
        if len(self.data) > 255:
            raise ValueError("short APDU data is at most 255 bytes")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ValueError("Le must be 1..256")

    def to_bytes(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out

    @classmethod
    def parse(cls, raw: bytes) -> "Command":
        """Cases 1, 2S, 3S and 4S of ISO 7816-3 §12.1; extended length is refused."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise CardProtocolError("APDU shorter than its 4-byte header", "APDU plus courte que son en-tête de 4 octets")
        head, body = raw[:4], raw[4:]
        if not body:
            return cls(*head)
        if len(body) == 1:
            return cls(*head, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise CardProtocolError("extended-length APDUs are not supported", "APDU de longueur étendue non prise en charge")
        if len(body) == 1 + lc:
            return cls(*head, data=body[1:])
        if len(body) == 2 + lc:
            return cls(*head, data=body[1:1 + lc], le=body[-1] or 256)
        raise CardProtocolError(f"APDU length byte says {lc} but {len(body) - 1} bytes follow",
                                f"l'octet de longueur de l'APDU annonce {lc} mais {len(body) - 1} octets suivent")


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def to_bytes(self) -> bytes:
        return bytes(self.data) + self.sw.to_bytes(2, "big")

    @classmethod
    def parse(cls, raw: bytes) -> "Response":
        raw = bytes(raw)
        if len(raw) < 2:
            raise CardProtocolError("card answer shorter than its 2-byte status word",
                                    "réponse de la carte plus courte que son mot d'état de 2 octets")
        if len(raw) > 258:
            raise CardProtocolError("card answer longer than a short APDU allows",
                                    "réponse de la carte plus longue qu'une APDU courte")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))


# What a status word means, in words a counter agent or IT can act on.
_MEANINGS: dict[int, tuple[str, str]] = {
    0x9000: ("success", "succès"),
    0x6281: ("part of the answer may be corrupted", "une partie de la réponse est peut-être corrompue"),
    0x6283: ("the applet is invalidated", "l'application est invalidée"),
    0x6581: ("the card's memory failed", "la mémoire de la carte est défaillante"),
    0x6700: ("wrong length", "longueur incorrecte"),
    0x6882: ("secure messaging not supported", "messagerie sécurisée non prise en charge"),
    0x6883: ("last command of a chain expected", "dernière commande de la chaîne attendue"),
    0x6884: ("command chaining not supported", "chaînage de commandes non pris en charge"),
    0x6982: ("PIN not verified (security status not satisfied)", "code PIN non vérifié (condition de sécurité non remplie)"),
    0x6983: ("PIN blocked", "code PIN bloqué"),
    0x6984: ("referenced data invalidated", "données référencées invalidées"),
    0x6985: ("conditions of use not satisfied", "conditions d'utilisation non remplies"),
    0x6986: ("command not allowed", "commande non autorisée"),
    0x6A80: ("incorrect data in the command", "données incorrectes dans la commande"),
    0x6A81: ("function not supported", "fonction non prise en charge"),
    0x6A82: ("applet or file not found", "application ou fichier introuvable"),
    0x6A84: ("not enough memory on the card", "mémoire insuffisante sur la carte"),
    0x6A86: ("incorrect P1/P2", "P1/P2 incorrects"),
    0x6A88: ("referenced data (key or object) not found", "donnée référencée (clé ou objet) introuvable"),
    0x6B00: ("wrong parameters", "paramètres incorrects"),
    0x6D00: ("instruction not supported", "instruction non prise en charge"),
    0x6E00: ("class not supported", "classe non prise en charge"),
    0x6F00: ("unknown card error", "erreur inconnue de la carte"),
}


def meaning(sw: int) -> tuple[str, str]:
    """(en, fr) for any status word, including the families 61xx, 63Cx and 6Cxx."""
    if sw in _MEANINGS:
        return _MEANINGS[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return (f"{sw2 or 256} more bytes to fetch", f"{sw2 or 256} octets restent à lire")
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return (f"wrong PIN, {sw2 & 0x0F} tries left", f"code PIN erroné, {sw2 & 0x0F} essais restants")
    if sw1 == 0x6C:
        return (f"wrong Le, the card has {sw2 or 256} bytes", f"Le incorrect, la carte a {sw2 or 256} octets")
    if sw1 in (0x62, 0x63):
        return ("warning from the card", "avertissement de la carte")
    if sw1 in (0x64, 0x65, 0x66):
        return ("the card failed to execute the command", "la carte n'a pas pu exécuter la commande")
    return ("unexpected status", "état inattendu")


def refusal(sw: int, doing: tuple[str, str]) -> CardProtocolError:
    """The error for an unexpected status word while ``doing`` (en, fr)."""
    en, fr = meaning(sw)
    return CardProtocolError(f"the card refused to {doing[0]}: {en} (status {sw:04X})",
                             f"la carte a refusé de {doing[1]} : {fr} (état {sw:04X})")
