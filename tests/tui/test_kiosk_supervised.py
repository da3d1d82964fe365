"""`beffroi kiosk --supervised` as it runs at a kiosk: in a real terminal
(tmux), keys sent as a citizen types them, the screen read back with
capture-pane, the app killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.roles import Principal
from hub.terminal import Terminal

from ..waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/bootstrap")

BEFFROI = Path(sys.executable).with_name("beffroi")
ENV = "env -u BEFFROI_HOME -u COLUMNS -u LINES TERM=xterm-256color LANG=C.UTF-8 TEXTUAL_ALLOW_SIGNALS=1"
WELCOME = ("Bienvenue", "Prendre un ticket")


def _name(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""   # gone already


class Kiosk:
    """One supervised kiosk in its own tmux server."""

    def __init__(self, home: Path, *options: str) -> None:
        self.base = ["tmux", "-L", f"beffroi-kiosk-{os.getpid()}-{id(self)}"]
        self.tmux("new-session", "-d", "-s", "kiosk", "-x", "110", "-y", "34",
                  f"{ENV} {BEFFROI} kiosk --supervised --home {home} --maintenance-login pin {' '.join(options)}")
        self.supervisor = int(self.tmux("display", "-p", "-t", "kiosk", "#{pane_pid}").strip())

    def tmux(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=20).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "kiosk")

    def shows(self, *texts: str, within: float = 30.0) -> str:
        return wait_until(lambda: (lambda s: s if all(t in s for t in texts) else "")(self.screen()), within,
                          f"{texts!r} on screen")

    def cursor_row(self) -> int:
        """The terminal cursor's row: Textual puts it in the focused field."""
        return int(self.tmux("display", "-p", "-t", "kiosk", "#{cursor_y}").strip() or -1)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "kiosk", *keys)

    def app(self) -> int | None:
        """The pid of the app the supervisor runs now."""
        try:
            children = Path(f"/proc/{self.supervisor}/task/{self.supervisor}/children").read_text().split()
        except FileNotFoundError:
            return None
        # Not the spare waiting to replace it: the app names itself once it shows.
        shown = [int(pid) for pid in children if _name(pid) == "beffroi-kiosk"]
        return shown[0] if shown else None

    def new_app(self, previous: int | None) -> int:
        """Wait for an app other than ``previous`` to run."""
        return wait_until(lambda: (lambda pid: pid if pid not in (None, previous) else None)(self.app()),
                          what="a new kiosk app")

    def alive(self) -> bool:
        return "kiosk" in self.tmux("list-sessions")

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def kiosk_home(tmp_path: Path) -> Path:
    home = tmp_path / "borne"
    with Terminal.init(home, "BORNE-HALL", "Ville d'Angers") as terminal:
        terminal.session(Principal.system()).agents.enroll("ops", "Julien Faure", "135790", "ops")
    return home


def test_signal_keys_do_nothing_and_a_killed_kiosk_comes_back_fresh(kiosk_home):
    kiosk = Kiosk(kiosk_home)
    try:
        kiosk.shows(*WELCOME)
        first = wait_until(kiosk.app, what="the kiosk app")
        # Ctrl+Q, Ctrl+C, Ctrl+\, Ctrl+Z, Ctrl+P, each as a citizen would press them.
        for key in ("C-q", "C-c", "C-\\", "C-z", "C-p", "C-d"):
            kiosk.send(key)
        kiosk.send("2")                                   # a key that does work: the screen moves on
        screen = kiosk.shows("Suivre une demande", "Code de suivi")
        assert kiosk.alive() and kiosk.app() == first     # not even restarted: the keys did nothing
        for word in ("quit", "Quitter", "ctrl+q", "^q", "$ ", "# "):
            assert word not in screen
        # The same signals sent from outside the keyboard: ignored too.
        for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            os.kill(first, signum)
        kiosk.send("Escape")
        kiosk.shows(*WELCOME)
        assert kiosk.app() == first and Path(f"/proc/{first}/stat").read_text().split()[2] != "T"
        # A citizen half-way through, in English, when the app dies.
        kiosk.send("l")
        kiosk.shows("Welcome")
        kiosk.send("2")
        kiosk.shows("Tracking code")
        kiosk.send("ABCD-EFGH")
        kiosk.shows("ABCD-EFGH")
        os.kill(first, signal.SIGKILL)
        second = kiosk.new_app(first)
        screen = kiosk.shows(*WELCOME)                    # French again, a fresh session
        assert "ABCD-EFGH" not in screen and "Tracking code" not in screen and "Welcome" not in screen
        assert kiosk.app() == second
    finally:
        kiosk.close()


def test_repeated_crashes_end_on_the_out_of_service_screen(kiosk_home):
    kiosk = Kiosk(kiosk_home, "--max-crashes", "3")
    try:
        kiosk.shows(*WELCOME)
        previous = None
        for _ in range(3):
            previous = kiosk.new_app(previous)
            os.kill(previous, signal.SIGKILL)
        screen = kiosk.shows("Cette borne est hors service", "accueil")
        for key in ("C-q", "C-c", "C-\\", "C-z", "C-o", "Escape", "q", "Enter"):
            kiosk.send(key)
        screen = kiosk.shows("Cette borne est hors service")
        assert kiosk.alive() and "$ " not in screen
        # Only the system stops it (systemctl stop): SIGTERM, and the terminal closes.
        os.kill(kiosk.supervisor, signal.SIGTERM)
        wait_until(lambda: not kiosk.alive(), what="the supervisor to stop")
    finally:
        kiosk.close()


def test_ops_maintenance_exit_ends_the_supervised_kiosk(kiosk_home):
    kiosk = Kiosk(kiosk_home)
    try:
        kiosk.shows(*WELCOME)
        kiosk.send("C-o")
        kiosk.shows("Maintenance", "Identifiant ops")
        kiosk.send("ops")
        kiosk.shows("▊  ops ")                          # typed in the ops id field
        ops_row = kiosk.cursor_row()
        kiosk.send("Enter")
        wait_until(lambda: kiosk.cursor_row() > ops_row, what="the PIN field to take the focus")
        kiosk.send("9999")
        kiosk.shows("▊  ••••")                          # in the PIN field, hidden
        kiosk.send("Enter")                      # wrong: refused, the kiosk stays
        kiosk.shows("essais restants")
        assert kiosk.alive()
        kiosk.send("135790")
        kiosk.shows("▊  ••••")
        kiosk.send("Enter")
        wait_until(lambda: not kiosk.alive(), what="the kiosk to end for maintenance")
    finally:
        kiosk.close()
    with Terminal.open(kiosk_home) as terminal:
        [event] = [e for e in terminal.journal.events() if e.type == "kiosk.maintenance_opened"]
        assert event.actor == "ops:ops" and event.data["kiosk"] == "BORNE-HALL"
        assert terminal.failures("pin:ops", 0) == 0     # the right PIN cleared the wrong one
