"""Keeping a kiosk on screen: ``beffroi kiosk --supervised``.

Whatever ends the kiosk app — a crash, a kill, the out-of-memory killer — the
person in front of it must never see a shell or the last citizen's screen. The
supervisor runs the app as a child process on the same terminal, wipes the
screen and the typed-ahead keys the moment it ends, and starts a fresh one
(a new session, in the kiosk's language) at once. A restart is a cold start
of Python, Textual and the home, seconds on a loaded machine, so a *spare*
app waits ready (imports done, ``--standby FD``) a few seconds after each
start, and a restart only releases it: the new welcome screen is a paint
away. After ``max_crashes``
crashes within ``window`` seconds it stops trying and keeps the fixed
out-of-service screen up instead. It ends only when the app ends with
``MAINTENANCE_EXIT`` (IT staff, ops card or id + PIN, journalled: status 0),
when the system stops it (SIGTERM: 0) or when its terminal is gone (SIGHUP:
1, a failure systemd restarts). No key sends a signal: the terminal's signal
keys are off for as long as it runs.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .appliance import IGNORED_SIGNALS, MAINTENANCE_EXIT

# Leave the alternate screen, stop mouse reporting and bracketed paste, hide
# the cursor, clear the screen and its scrollback: the state a killed app left
# the terminal in, undone, with nothing of what it showed.
WIPE = ("\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l"
        "\x1b[?25l\x1b[0m\x1b[2J\x1b[3J\x1b[H")
# If even the out-of-service app cannot start, this is written as plain text.
FALLBACK = {"fr": "Borne hors service. Merci de vous adresser à l'accueil.",
            "en": "This kiosk is out of service. Please ask at the reception desk."}


def kiosk_environment(environ: dict[str, str]) -> dict[str, str]:
    """The child's environment without Textual's switches (TEXTUAL_ALLOW_SIGNALS
    would give ctrl+c back its signal, TEXTUAL_PRESS type keys, …)."""
    return {k: v for k, v in environ.items() if not k.startswith("TEXTUAL")}


@dataclass
class Supervisor:
    kiosk: Sequence[str]             # the command running the kiosk app
    out_of_service: Sequence[str]    # the command running the out-of-service screen
    lang: str = "fr"
    max_crashes: int = 5
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    tty: int | None = None           # the terminal's fd; None: stdin if it is a terminal
    crashes: collections.deque = field(default_factory=collections.deque)
    child: subprocess.Popen | None = None
    stopping: int = 0               # the signal that stops the supervisor
    locked: list | None = None
    spare_after: float | None = 3.0  # seconds after a start to prepare the spare (None: no spare)
    spare: tuple[subprocess.Popen, int] | None = None   # the waiting app and the pipe that releases it

    def run(self) -> int:
        saved = self._lock_terminal()
        handlers = {signum: signal.getsignal(signum) for signum in (*IGNORED_SIGNALS, signal.SIGTERM, signal.SIGHUP)}
        for signum in IGNORED_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGHUP, self._stop)   # the terminal is gone: nothing left to show
        try:
            while not self.stopping:
                code = self._run(self.kiosk, spare=True)
                self._wipe()
                if code == MAINTENANCE_EXIT:
                    return 0
                if not self.stopping and self._crashed():
                    self._drop_spare()
                    self._out_of_service()
            return 0 if self.stopping == signal.SIGTERM else 1
        finally:
            self._drop_spare()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            if saved is not None:
                try:
                    termios.tcsetattr(self.tty, termios.TCSANOW, saved)
                except termios.error:   # the terminal hung up
                    pass

    def _crashed(self) -> bool:
        """Count one crash; True when there were too many lately."""
        now = self.clock()
        self.crashes.append(now)
        while self.crashes and self.crashes[0] < now - self.window:
            self.crashes.popleft()
        return len(self.crashes) >= self.max_crashes

    def _out_of_service(self) -> None:
        while not self.stopping:
            self._run(self.out_of_service)
            self._wipe()
            if self.stopping:
                break
            # Even the fixed screen failed: plain text, then try it again.
            self._write(FALLBACK.get(self.lang, FALLBACK["fr"]) + "\r\n")
            self.sleep(5.0)

    def _run(self, command: Sequence[str], spare: bool = False) -> int:
        self.child = self._release_spare() if spare else None
        if self.child is None:
            self.child = subprocess.Popen(list(command), env=kiosk_environment(dict(os.environ)))
        if spare and self.spare_after is not None:
            try:
                # Let this start have the machine first, then prepare the next one.
                return self.child.wait(timeout=self.spare_after)
            except subprocess.TimeoutExpired:
                self._prepare_spare()
        return self.child.wait()

    def _prepare_spare(self) -> None:
        if self.spare is not None or self.stopping:
            return
        release, go = os.pipe()
        try:
            process = subprocess.Popen([*self.kiosk, "--standby", str(release)], pass_fds=(release,),
                                       env=kiosk_environment(dict(os.environ)))
        except OSError:
            os.close(go)
            return
        finally:
            os.close(release)
        self.spare = (process, go)

    def _release_spare(self) -> subprocess.Popen | None:
        """The spare app, told to start; None if there is none, or it died waiting."""
        if self.spare is None:
            return None
        process, go = self.spare
        self.spare = None
        try:
            os.write(go, b"go")
        except OSError:   # it ended while waiting (a broken home, say): start the usual way
            process.wait()
            return None
        finally:
            os.close(go)
        return process

    def _drop_spare(self) -> None:
        if self.spare is None:
            return
        process, go = self.spare
        self.spare = None
        os.close(go)      # end of file: the spare ends by itself
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _stop(self, signum, frame) -> None:
        self.stopping = signum
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()

    def _lock_terminal(self):
        """No signal keys and no echo on the terminal, also between two runs
        of the app (the app itself puts it in raw mode while it runs)."""
        if self.tty is None:
            self.tty = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else -1
        if self.tty < 0:
            return None
        try:
            saved = termios.tcgetattr(self.tty)
            locked = termios.tcgetattr(self.tty)
            locked[3] &= ~(termios.ISIG | termios.ECHO | termios.ICANON | termios.IEXTEN)
            termios.tcsetattr(self.tty, termios.TCSANOW, locked)
            self.locked = locked
        except termios.error:
            self.tty = -1
            return None
        return saved

    def _wipe(self) -> None:
        self._write(WIPE)
        if self.tty is not None and self.tty >= 0:
            try:
                # A killed app leaves the terminal however it had set it.
                termios.tcsetattr(self.tty, termios.TCSANOW, self.locked)
                # Keys typed while the app was down must not reach the next citizen's session.
                termios.tcflush(self.tty, termios.TCIFLUSH)
            except termios.error:
                pass

    def _write(self, text: str) -> None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError:
            pass
