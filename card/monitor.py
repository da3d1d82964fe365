"""The card monitor: watches the reader that holds the session's card and locks
the session as soon as pcscd sees the card leave (pcscd polls every 400 ms, so
within half a second). It compares pcsc-lite's insertion counter with the one
at login, so a card swapped between two polls locks the session too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import CardError
from .reader import Pcsc, _code, _state, scard

POLL_MS = 250


class _Watcher:
    """A thread that waits on pcscd's status changes until stopped; stopping
    cancels the wait (SCardCancel) instead of waiting for the next poll."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._pcsc: Pcsc | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._pcsc is not None:
            scard.SCardCancel(self._pcsc.context)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)


class CardMonitor(_Watcher):
    def __init__(self, reader: str, events: int, on_lock: Callable[[str], None] | None = None) -> None:
        super().__init__(f"card-monitor-{reader}")
        self.reader, self.events, self.on_lock = reader, events, on_lock
        self.locked = threading.Event()
        self.reason: str | None = None

    def _lock(self, reason: str) -> None:
        if self.locked.is_set():
            return
        self.reason = reason
        self.locked.set()
        if self.on_lock is not None:
            self.on_lock(reason)

    def _run(self) -> None:
        try:
            self._pcsc = Pcsc()
        except CardError:
            self._ready.set()
            self._lock("pcscd_down")
            return
        self._ready.set()
        known = scard.SCARD_STATE_UNAWARE
        try:
            while not self._stop.is_set():
                rc, states = scard.SCardGetStatusChange(self._pcsc.context, POLL_MS, [(self.reader, known)])
                if self._stop.is_set():
                    return
                if _code(rc) == _code(scard.SCARD_E_TIMEOUT):
                    continue
                if rc != scard.SCARD_S_SUCCESS:
                    self._lock("reader_lost")
                    return
                state = _state(states[0])
                if not state.present:
                    self._lock("card_removed")
                    return
                if state.events != self.events:
                    self._lock("card_changed")
                    return
                known = states[0][1] & ~scard.SCARD_STATE_CHANGED
        finally:
            self._pcsc.close()


class ReaderWatch(_Watcher):
    """Tells a login screen when a card enters or leaves any reader, so it can
    say "insert your card" and then ask for the PIN. ``on_change(reader, present)``
    runs on the watch's thread; ``on_error(error)`` once if pcscd is or goes down."""

    def __init__(self, on_change: Callable[[str, bool], None],
                 on_error: Callable[[CardError], None] | None = None) -> None:
        super().__init__("card-reader-watch")
        self.on_change, self.on_error = on_change, on_error

    def _fail(self, error: CardError) -> None:
        if self.on_error is not None and not self._stop.is_set():
            self.on_error(error)

    def _run(self) -> None:
        from .reader import fail
        try:
            self._pcsc = Pcsc()
        except CardError as error:
            self._ready.set()
            self._fail(error)
            return
        self._ready.set()
        known: dict[str, bool] = {}
        flags: dict[str, int] = {}
        try:
            while not self._stop.is_set():
                try:
                    readers = self._pcsc.readers()
                except CardError as error:
                    self._fail(error)
                    return
                # The special reader name asks pcscd to wake us when a reader is plugged in or out.
                watched = [(r, flags.get(r, scard.SCARD_STATE_UNAWARE)) for r in readers]
                watched.append(("\\\\?PnP?\\Notification", scard.SCARD_STATE_UNAWARE + (len(readers) << 16)))
                rc, states = scard.SCardGetStatusChange(self._pcsc.context, POLL_MS, watched)
                if self._stop.is_set():
                    return
                if _code(rc) == _code(scard.SCARD_E_TIMEOUT):
                    continue
                if rc != scard.SCARD_S_SUCCESS:
                    self._fail(fail(rc))
                    return
                for raw in states[:-1]:
                    state = _state(raw)
                    flags[state.reader] = raw[1] & ~scard.SCARD_STATE_CHANGED
                    if known.get(state.reader) != state.present:
                        known[state.reader] = state.present
                        self.on_change(state.reader, state.present)
                for gone in set(known) - set(readers):
                    if known.pop(gone):
                        self.on_change(gone, False)
                    flags.pop(gone, None)
        finally:
            self._pcsc.close()
