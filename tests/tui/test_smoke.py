"""`beffroi demo` as a person starts it: in a real terminal (tmux), read back
with capture-pane."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/bootstrap")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.base = ["tmux", "-L", socket]

    def __call__(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=20).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "demo")

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once every text is on it: a capture can fall between two
        paints (the login box drawn, the mode banner not yet)."""
        try:
            def complete() -> str | None:
                shown = self.screen()
                return shown if all(text in shown for text in texts) else None
            return wait_until(complete, within=timeout, what=repr(texts), every=0.2)
        except AssertionError:
            raise AssertionError(f"{texts!r} never all appeared; the screen shows:\n{self.screen()}") from None


def test_demo_opens_the_counter_in_a_terminal(tmp_path: Path):
    beffroi = Path(sys.executable).with_name("beffroi")
    home = tmp_path / "demo"
    tmux = Tmux(f"beffroi-smoke-{os.getpid()}")
    env = "env -u BEFFROI_HOME -u COLUMNS -u LINES TERM=xterm-256color LANG=C.UTF-8"
    tmux("new-session", "-d", "-s", "demo", "-x", "120", "-y", "36", f"{env} {beffroi} demo --home {home}")
    try:
        login = tmux.wait_for("Guichet — connexion", "EN LIGNE", "Code PIN", timeout=60)
        assert "Ville d'Angers" in login
        if "Insérez votre carte" in login:
            # The demo inserted the demo agent's virtual card: the card says who, the PIN is asked.
            assert "Identifiant agent" not in login and "Code PIN de la carte" in login
        else:
            # Every vpcd reader was taken (by card tests running beside this one): agent id + PIN.
            assert "Identifiant agent" in login
            tmux("send-keys", "-t", "demo", "agent", "Enter")
            tmux.wait_for("agent")
        tmux("send-keys", "-t", "demo", "246810", "Enter")
        desk = tmux.wait_for("f2 Appeler")
        assert "Claire Moreau" in desk and "Rechercher un citoyen" in desk
        assert "État civil" in desk and "File d'attente" in desk
        # The demo city's back offices: the four simulators on loopback, the outbox delivered to them.
        connectors = json.loads((home / "connectors.json").read_text())
        assert set(connectors) == {"etat-civil", "urbanisme", "tresor", "travaux"}
        assert all(url.startswith("http://127.0.0.1:") for url in connectors.values())

        def outbox() -> dict:
            return json.loads(subprocess.run([str(beffroi), "outbox", "--json", "--home", str(home)],
                                             capture_output=True, text=True, timeout=60).stdout)["counts"]
        counts = wait_until(lambda: (lambda c: c if c["sent"] and c["sent"] == sum(c.values()) else None)(outbox()),
                            within=60, what="the demo's outbox to reach the simulators")
        held = 0
        for url in connectors.values():
            with urllib.request.urlopen(f"{url}/v1/stats", timeout=10) as answer:
                stats = json.loads(answer.read())
            held += stats["records"]
            assert stats["duplicates"] == 0
        assert held == counts["sent"]
        tmux("send-keys", "-t", "demo", "helene dupont")
        found = tmux.wait_for("12/03/1985")
        assert "Dupont" in found and "Hélène" in found
        tmux("send-keys", "-t", "demo", "C-q")
        wait_until(lambda: "demo" not in tmux("list-sessions"), within=10, what="ctrl+q to quit the counter")
        # Closing the counter stops the simulators too.
        for url in connectors.values():
            try:
                urllib.request.urlopen(f"{url}/v1/health", timeout=5)
            except OSError:
                continue
            raise AssertionError(f"{url} still answers after the demo closed")
    finally:
        tmux("kill-server")
