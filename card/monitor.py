"""The card monitor: watches the reader that holds the session's card and locks
the session as soon as pcscd sees the card leave (pcscd polls every 400 ms, so
within half a second). It compares pcsc-lite's insertion counter with the one
at login, so a card swapped between two polls locks the session too.
"""

from __future__ import annotations

import threading
from typing import Callable

from .errors import CardError
from .reader import Pcsc, _code, _state, scard

POLL_MS = 250


class CardMonitor:
    def __init__(self, reader: str, events: int, on_lock: Callable[[str], None] | None = None) -> None:
        self.reader, self.events, self.on_lock = reader, events, on_lock
        self.locked = threading.Event()
        self.reason: str | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._pcsc: Pcsc | None = None
        self._thread = threading.Thread(target=self._run, name=f"card-monitor-{reader}", daemon=True)

    def start(self) -> "CardMonitor":
        self._thread.start()
        self._ready.wait(5)
        return self

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

    def stop(self) -> None:
        self._stop.set()
        if self._pcsc is not None:
            scard.SCardCancel(self._pcsc.context)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
