"""Card login, the API the counter and kiosk apps call (no APDU in sight):

    principal = card.login.login(terminal, pin)            # or raises a CardError (fr/en)
    session = card.login.open_session(terminal, pin, on_lock=callback)
    session.principal; session.locked; session.unlock(pin); session.close()

The steps: select the PIV applet, read the slot 9A certificate and check it
against the city CA and revocation list (before the PIN, so a revoked card does
not burn PIN tries), verify the PIN, have the card sign a fresh challenge bound
to this terminal and this login session, verify the signature with the
certificate's key. A replayed signature, or one over another challenge, fails
that last check. VERIFY and the signature run in one PC/SC transaction, so on a
shared reader no other program's command lands between them. Sign-ins, failed
PINs, lockouts and removals are journal events (:mod:`card.presence`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hub import ids
from hub.roles import Principal

from . import presence
from .errors import BadSignature, NoCard, OtherCard, PinBlocked, WrongPin
from .monitor import CardMonitor
from .piv import PivCard, pin_block
from .reader import Pcsc
from .trust import Identity, Trust

CONTEXT = b"beffroi/card-login/v1"


def challenge(terminal_id: str, session: str, nonce: bytes) -> bytes:
    """The 32 bytes the card signs: a fresh nonce bound to the terminal and the
    login session, so a signature is worth nothing anywhere else."""
    return hashlib.sha256(b"\0".join([CONTEXT, terminal_id.encode(), session.encode(), nonce])).digest()


def verify_signature(certificate, digest: bytes, signature: bytes) -> None:
    try:
        certificate.public_key().verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        raise BadSignature() from None


@dataclass(frozen=True)
class CardLogin:
    principal: Principal
    identity: Identity
    reader: str
    session: str  # the login session the challenge was bound to
    events: int  # the reader's insertion counter at login: any change means the card left

    def to_dict(self) -> dict:
        return {"principal": {"role": self.principal.role, "id": self.principal.id,
                              "scope_citizen": self.principal.scope_citizen},
                **self.identity.to_dict(), "reader": self.reader, "session": self.session}


def _principal(terminal, identity: Identity) -> Principal:
    if identity.role == "ops":
        return Principal.ops(identity.uid)
    if identity.role == "agent":
        return Principal.agent(identity.uid)
    return Principal.kiosk(terminal.name).narrowed(citizen_id=identity.uid)


def authenticate(terminal, pin: str, reader: str | None = None, audience: str = "agent") -> CardLogin:
    """Log in with the card in ``reader`` (default: the first reader holding a
    card). ``audience`` is "agent" at a counter, "citizen" at a kiosk."""
    pin_block(pin)  # a malformed PIN never reaches the card, so it costs no try
    trust = Trust(terminal.home)
    with Pcsc() as pcsc:
        name = pcsc.pick(reader)
        state = pcsc.state(name)
        if not state.present:
            raise NoCard(name)
        with pcsc.connect(name) as link, link.transaction():
            card = PivCard(link)
            card.select()
            certificate = card.certificate()
            identity = trust.check(certificate, audience)
            try:
                card.verify_pin(pin)
            except PinBlocked:
                presence.record(terminal, presence.PIN_BLOCKED, identity, name)
                raise
            except WrongPin as wrong:
                presence.record(terminal, presence.PIN_FAILED, identity, name, tries_left=wrong.tries_left)
                raise
            session = ids.ulid()
            digest = challenge(terminal.id, session, os.urandom(32))
            verify_signature(certificate, digest, card.sign(digest))
    principal = _principal(terminal, identity)
    presence.record(terminal, presence.SIGNED_IN, identity, name, by=principal, session=session)
    return CardLogin(principal, identity, name, session, state.events)


def login(terminal, pin: str, reader: str | None = None, audience: str = "agent") -> Principal:
    return authenticate(terminal, pin, reader, audience).principal


class CardSession:
    """An open session held by one card: removing the card locks it (within 1 s,
    ``on_lock(reason)`` is called from the monitor's thread — a Textual app hands
    it to ``call_from_thread``); only the same card, with its PIN, unlocks it."""

    def __init__(self, terminal, first: CardLogin, on_lock: Callable[[str], None] | None = None,
                 audience: str = "agent") -> None:
        self.terminal, self.login, self.audience, self.on_lock = terminal, first, audience, on_lock
        self.monitor = CardMonitor(first.reader, first.events, self._locked).start()

    def _locked(self, reason: str) -> None:
        if self.on_lock is not None:
            self.on_lock(reason)
        presence.record_removal(self.terminal.home, self.login.identity, self.login.reader, reason)

    @property
    def principal(self) -> Principal:
        return self.login.principal

    @property
    def locked(self) -> bool:
        return self.monitor.locked.is_set()

    def unlock(self, pin: str) -> Principal:
        """Reopen the locked session with the card that opened it; any other card,
        even a valid one, is refused and the session stays locked."""
        again = authenticate(self.terminal, pin, self.login.reader, self.audience)
        if again.identity.fingerprint != self.login.identity.fingerprint:
            raise OtherCard()
        self.monitor.stop()
        self.login = again
        self.monitor = CardMonitor(again.reader, again.events, self._locked).start()
        return again.principal

    def close(self) -> None:
        self.monitor.stop()


def open_session(terminal, pin: str, on_lock: Callable[[str], None] | None = None, reader: str | None = None,
                 audience: str = "agent") -> CardSession:
    return CardSession(terminal, authenticate(terminal, pin, reader, audience), on_lock, audience)
