"""Fixtures shared by every test package: real terminal homes on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.roles import Principal
from hub.terminal import Terminal

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def terminal(tmp_path: Path):
    """A fresh terminal home (SQLite on disk) named MAIRIE-01."""
    with Terminal.init(tmp_path / "home", "MAIRIE-01") as t:
        yield t


@pytest.fixture
def desk(terminal: Terminal):
    """An agent's session on the fresh terminal."""
    terminal.session(Principal.system()).agents.enroll("agent", "Claire Moreau", "246810", "agent")
    return terminal.session(Principal.agent("agent"))


@pytest.fixture
def citizen(desk):
    return desk.citizens.register(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12",
                                  postcode="49000", phone="06 12 34 56 78", address="3 rue Pasteur")


def run_cli(*args: str, home: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real `beffroi` console script, as scripts and the ops team do."""
    cmd = [str(Path(sys.executable).with_name("beffroi")), *args]
    if home is not None:
        cmd += ["--home", str(home)]
    env = {k: v for k, v in os.environ.items() if k != "BEFFROI_HOME"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=check, timeout=120)
