"""PC/SC through pcscd (pyscard's ``scard`` layer): readers, card presence, and a
link to a card. Every PC/SC failure becomes a :class:`CardError` a person can act on.

The low-level layer is used because its return codes tell apart "pcscd is
down", "no reader", "no card" and "card removed".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import CardError, CardRemoved, NoCard, NoReader, PcscUnavailable

try:
    from smartcard import scard
except ImportError as missing:  # pyscard absent, or libpcsclite.so.1 not installed: say so at login, not at import
    scard = None
    _MISSING = str(missing)


def _code(rc: int) -> int:
    return rc & 0xFFFFFFFF


def _codes(*names: str) -> set[int]:
    return {_code(getattr(scard, name)) for name in names}


def fail(rc: int, reader: str | None = None) -> CardError:
    """The error for a PC/SC return code."""
    rc = _code(rc)
    if rc in _codes("SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED", "SCARD_F_COMM_ERROR", "SCARD_E_INVALID_HANDLE"):
        return PcscUnavailable(scard.SCardGetErrorMessage(rc))
    if rc in _codes("SCARD_E_NO_READERS_AVAILABLE", "SCARD_E_UNKNOWN_READER", "SCARD_E_READER_UNAVAILABLE"):
        return NoReader(reader)
    if rc in _codes("SCARD_E_NO_SMARTCARD", "SCARD_W_UNPOWERED_CARD", "SCARD_W_UNRESPONSIVE_CARD"):
        return NoCard(reader)
    # NOT_TRANSACTED is what a transmit gets when the card left before pcscd noticed.
    if rc in _codes("SCARD_W_REMOVED_CARD", "SCARD_W_RESET_CARD", "SCARD_E_NOT_TRANSACTED"):
        return CardRemoved()
    message = scard.SCardGetErrorMessage(rc)
    return CardError(f"smart-card service error: {message} ({rc:08X})",
                     f"erreur du service des cartes à puce : {message} ({rc:08X})", "pcsc_error")


@dataclass(frozen=True)
class ReaderState:
    reader: str
    present: bool
    events: int  # pcsc-lite counts insertions/removals in the high 16 bits
    atr: bytes


class Pcsc:
    """One PC/SC context. Not thread-safe: each thread makes its own."""

    def __init__(self) -> None:
        if scard is None:
            raise PcscUnavailable(f"pyscard cannot load the PC/SC library ({_MISSING}); "
                                  "install libpcsclite1 and run `bash scripts/bootstrap`")
        rc, self.context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if rc != scard.SCARD_S_SUCCESS:
            raise fail(rc)

    def close(self) -> None:
        scard.SCardReleaseContext(self.context)

    def __enter__(self) -> "Pcsc":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readers(self) -> list[str]:
        rc, readers = scard.SCardListReaders(self.context, [])
        if _code(rc) == _code(scard.SCARD_E_NO_READERS_AVAILABLE):
            return []
        if rc != scard.SCARD_S_SUCCESS:
            raise fail(rc)
        return list(readers)

    def states(self, readers: list[str] | None = None) -> list[ReaderState]:
        readers = self.readers() if readers is None else readers
        if not readers:
            return []
        rc, states = scard.SCardGetStatusChange(self.context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
        if rc != scard.SCARD_S_SUCCESS:
            raise fail(rc, readers[0] if len(readers) == 1 else None)
        return [_state(s) for s in states]

    def state(self, reader: str) -> ReaderState:
        if reader not in self.readers():
            raise NoReader(reader, self.readers())
        return self.states([reader])[0]

    def wait(self, reader: str, present: bool, timeout: float) -> ReaderState:
        """Block until the reader has (or has not) a card, as pcscd sees it; pcscd
        polls drivers every 400 ms, so this is how to wait, never a fixed sleep."""
        deadline = time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE
        while True:
            left = deadline - time.monotonic()
            rc, states = scard.SCardGetStatusChange(self.context, max(0, int(left * 1000)), [(reader, known)])
            if _code(rc) == _code(scard.SCARD_E_TIMEOUT) or left <= 0:
                state = self.state(reader)
                if state.present == present:
                    return state
                raise (NoCard(reader) if present else CardError(
                    f"the card is still in {reader}", f"la carte est toujours dans {reader}", "card_present"))
            if rc != scard.SCARD_S_SUCCESS:
                raise fail(rc, reader)
            state = _state(states[0])
            if state.present == present:
                return state
            known = states[0][1] & ~scard.SCARD_STATE_CHANGED

    def pick(self, reader: str | None = None) -> str:
        """The named reader, or the first reader holding a card."""
        readers = self.readers()
        if reader is not None:
            if reader not in readers:
                raise NoReader(reader, readers)
            return reader
        if not readers:
            raise NoReader()
        for state in self.states(readers):
            if state.present:
                return state.reader
        raise NoCard()

    def connect(self, reader: str) -> "Link":
        rc, handle, protocol = scard.SCardConnect(self.context, reader, scard.SCARD_SHARE_SHARED,
                                                  scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if rc != scard.SCARD_S_SUCCESS:
            raise fail(rc, reader)
        return Link(self, reader, handle, protocol)


def _state(raw: tuple) -> ReaderState:
    reader, flags, atr = raw
    return ReaderState(reader, bool(flags & scard.SCARD_STATE_PRESENT) and not flags & scard.SCARD_STATE_MUTE,
                       (flags >> 16) & 0xFFFF, bytes(atr))


class Link:
    """A connection to the card in one reader: raw APDUs in, raw answers out."""

    def __init__(self, pcsc: Pcsc, reader: str, handle: int, protocol: int) -> None:
        self.pcsc, self.reader, self.handle, self.protocol = pcsc, reader, handle, protocol

    def transmit(self, apdu: bytes) -> bytes:
        rc, answer = scard.SCardTransmit(self.handle, self.protocol, list(apdu))
        if rc != scard.SCARD_S_SUCCESS:
            raise fail(rc, self.reader)
        return bytes(answer)

    @contextmanager
    def transaction(self) -> Iterator["Link"]:
        """Exclusive use of the card between begin and end: on a shared reader no
        other process's command (a SELECT, a VERIFY status) lands between our
        VERIFY and our signature. Ending leaves the card as it is; :meth:`close`
        resets it."""
        rc = scard.SCardBeginTransaction(self.handle)
        for _ in range(3):
            # Another program reset the card since we connected (pcsc-lite says so
            # once per handle): take the card as it now is, then begin again.
            if _code(rc) != _code(scard.SCARD_W_RESET_CARD):
                break
            rc, self.protocol = scard.SCardReconnect(self.handle, scard.SCARD_SHARE_SHARED,
                                                     scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                                                     scard.SCARD_LEAVE_CARD)
            if rc == scard.SCARD_S_SUCCESS:
                rc = scard.SCardBeginTransaction(self.handle)
        if rc != scard.SCARD_S_SUCCESS:
            raise fail(rc, self.reader)
        try:
            yield self
        finally:
            scard.SCardEndTransaction(self.handle, scard.SCARD_LEAVE_CARD)

    def close(self) -> None:
        # Reset on the way out so the PIN-verified state never outlives this login.
        scard.SCardDisconnect(self.handle, scard.SCARD_RESET_CARD)

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
