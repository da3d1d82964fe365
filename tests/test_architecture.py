"""The architecture's rules, checked rather than remembered: the import
contracts (pyproject's [tool.importlinter]) and the plugin contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub import plugins

ROOT = Path(__file__).resolve().parent.parent
BEFFROI = str(Path(sys.executable).with_name("beffroi"))


def test_import_contracts_hold():
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_contract(tmp_path):
    """The checker really looks: a copy of the tree where the hub imports
    Textual fails it."""
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in ("hub", "tui", "api", "card", "replication", "continuity"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(copy / name)], check=True)
    (copy / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (copy / "hub" / "leak.py").write_text("import textual\n")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=copy, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "hub.leak -> textual" in result.stdout


def test_every_installed_plugin_honours_the_protocol():
    warnings: list[str] = []
    found = plugins.load(warnings.append)
    assert not warnings
    assert {"counter", "card", "replication", "api"} <= set(found)
    assert all(isinstance(p, plugins.Plugin) for p in found.values())


def test_a_plugin_that_fails_to_load_is_reported_not_dropped_silently(tmp_path):
    """A package whose entry point cannot load (a missing module here) costs its
    own commands only, and says so on stderr."""
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[beffroi.commands]\nbroken = no_such_module.cli:commands\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([BEFFROI, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "the 'broken' commands are unavailable: no_such_module.cli:commands failed to load" in result.stderr
    assert "ModuleNotFoundError" in result.stderr
    assert "enroll" in result.stdout and "counter" in result.stdout   # the others are all there
