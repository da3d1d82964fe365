"""Why a card login was refused, for the person at the counter (fr/en) and for
scripts (``code``). Every one means nobody was logged in."""

from __future__ import annotations

from hub.errors import HubError


class CardError(HubError):
    code = "card_refused"


class PcscUnavailable(CardError):
    code = "pcscd_down"

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "the smart-card service (pcscd) is not running; start it with `pcscd` as root, then try again"
            + (f" ({detail})" if detail else ""),
            "le service des cartes à puce (pcscd) ne répond pas ; démarrez-le avec `pcscd` (root), puis réessayez"
            + (f" ({detail})" if detail else ""))


class NoReader(CardError):
    code = "no_reader"

    def __init__(self, reader: str | None = None, known: list[str] | None = None) -> None:
        if reader:
            others = ", ".join(known or []) or "none"
            super().__init__(f"card reader {reader!r} is not connected (readers: {others})",
                             f"le lecteur de carte {reader!r} n'est pas branché (lecteurs : {others})")
        else:
            super().__init__("no card reader is connected; plug one in and try again",
                             "aucun lecteur de carte n'est branché ; branchez-en un et réessayez")


class NoCard(CardError):
    code = "no_card"

    def __init__(self, reader: str | None = None) -> None:
        where = f" in {reader}" if reader else ""
        ou = f" dans {reader}" if reader else ""
        super().__init__(f"no card{where}; insert your agent card and try again",
                         f"aucune carte{ou} ; insérez votre carte agent et réessayez")


class CardRemoved(CardError):
    code = "card_removed"

    def __init__(self) -> None:
        super().__init__("the card was removed during login; insert it again and retry",
                         "la carte a été retirée pendant la connexion ; réinsérez-la et recommencez")


class CardProtocolError(CardError):
    """The card answered something a PIV card should not: refused, never guessed at."""
    code = "card_protocol"


class NotPiv(CardError):
    code = "not_piv"

    def __init__(self, detail: str) -> None:
        super().__init__(f"this card has no PIV applet ({detail}); use your city agent card",
                         f"cette carte n'a pas d'application PIV ({detail}) ; utilisez votre carte agent de la ville")


class WrongPin(CardError):
    code = "wrong_pin"

    def __init__(self, tries_left: int) -> None:
        plural_en = "try" if tries_left == 1 else "tries"
        plural_fr = "essai" if tries_left == 1 else "essais"
        super().__init__(f"wrong PIN: {tries_left} {plural_en} left before the card is blocked",
                         f"code PIN erroné : {tries_left} {plural_fr} restant(s) avant le blocage de la carte")
        self.tries_left = tries_left


class PinBlocked(CardError):
    code = "pin_blocked"

    def __init__(self) -> None:
        super().__init__("this card's PIN is blocked after too many wrong tries; unblock it with your PUK "
                         "(`beffroi card unblock`) or ask IT",
                         "le code PIN de cette carte est bloqué après trop d'essais ; débloquez-le avec votre code PUK "
                         "(`beffroi card unblock`) ou demandez au service informatique")
        self.tries_left = 0


class BadPin(CardError):
    code = "invalid_pin"

    def __init__(self) -> None:
        super().__init__("a PIN is 6 to 8 digits", "un code PIN compte 6 à 8 chiffres")


class FactoryPin(CardError):
    code = "factory_pin"

    def __init__(self) -> None:
        super().__init__("choose a PIN other than the factory PIN 123456, which every new card has",
                         "choisissez un code PIN autre que le code d'usine 123456, commun à toutes les cartes neuves")


class BadPuk(CardError):
    code = "invalid_puk"

    def __init__(self) -> None:
        super().__init__("a PUK is 6 to 8 digits (the one given with your card)",
                         "un code PUK compte 6 à 8 chiffres (celui remis avec votre carte)")


class WrongPuk(CardError):
    code = "wrong_puk"

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"wrong PUK: {tries_left} {'try' if tries_left == 1 else 'tries'} left before the card "
                         "can no longer be unblocked",
                         f"code PUK erroné : {tries_left} essai(s) restant(s) avant que la carte ne puisse plus "
                         "être débloquée")
        self.tries_left = tries_left


class PukBlocked(CardError):
    code = "puk_blocked"

    def __init__(self) -> None:
        super().__init__("this card's PUK is blocked too: it can no longer be unblocked; ask IT to enrol a new card",
                         "le code PUK de cette carte est bloqué lui aussi : elle ne peut plus être débloquée ; "
                         "demandez au service informatique d'enrôler une nouvelle carte")
        self.tries_left = 0


class Untrusted(CardError):
    """The certificate does not make this card an agent (or citizen) card of the city."""
    code = "untrusted"


class WrongCA(Untrusted):
    code = "wrong_ca"


class Revoked(Untrusted):
    code = "revoked"


class Expired(Untrusted):
    code = "expired"


class NoTrust(Untrusted):
    code = "no_trust"


class BadSignature(CardError):
    code = "bad_signature"

    def __init__(self) -> None:
        super().__init__("the card's signature does not match this login's challenge (replayed or forged); "
                         "login refused, report the card to IT",
                         "la signature de la carte ne correspond pas au défi de cette connexion (rejouée ou falsifiée) ; "
                         "connexion refusée, signalez la carte au service informatique")


class OtherCard(CardError):
    code = "other_card"

    def __init__(self) -> None:
        super().__init__("this is not the card that opened the session; the session stays locked",
                         "ce n'est pas la carte qui a ouvert la session ; la session reste verrouillée")
