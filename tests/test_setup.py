"""The environment the suite runs in is exactly the locked one: every package
pinned in requirements.lock is installed at its locked version, and every
dependency pyproject.toml declares is pinned there."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def locked() -> dict[str, str]:
    pins = re.findall(r"(?m)^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", (ROOT / "requirements.lock").read_text())
    return {canonicalize_name(name): ver for name, ver in pins}


def test_installed_versions_are_the_locked_ones():
    wrong = {}
    for name, want in locked().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != want:
            wrong[name] = (have, want)
    assert not wrong, f"installed ≠ locked (run scripts/bootstrap): {wrong}"


def test_every_declared_dependency_is_locked():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = locked()
    missing = []
    for text in declared:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
            missing.append(text)
    assert not missing, f"declared but not locked (run scripts/lock): {missing}"
