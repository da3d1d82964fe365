"""The contract between the ``beffroi`` command and the packages that plug
commands into it (the apps, card login, replication, the API, continuity).

Each package names, in the ``beffroi.commands`` entry point group, a function
returning a :class:`Plugin`. The hub imports none of those packages: it only
loads the entry points, checks what they return against this Protocol, and
says on stderr which plugin failed to load, so that missing commands are
never a silent mystery.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

GROUP = "beffroi.commands"


@runtime_checkable
class Plugin(Protocol):
    def register(self, subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
        """Add the package's commands (each parser takes ``common`` as a parent)."""
        ...

    def run(self, home: Path) -> int | None:
        """Open the package's app on a home (only the counter's is used, by
        ``beffroi demo``); None when the package has no app."""
        ...

    def demo(self, home: Path) -> Callable[[], None] | None:
        """Prepare the demo home; return what undoes it when the app closes."""
        ...


@dataclass(frozen=True)
class Commands:
    """The usual Plugin: functions given by name, the optional ones left out."""
    add: Callable[[argparse._SubParsersAction[Any], argparse.ArgumentParser], None]
    app: Callable[[Path], int] | None = None
    prepare_demo: Callable[[Path], Callable[[], None] | None] | None = None

    def register(self, subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
        self.add(subparsers, common)

    def run(self, home: Path) -> int | None:
        return None if self.app is None else self.app(home)

    def demo(self, home: Path) -> Callable[[], None] | None:
        return None if self.prepare_demo is None else self.prepare_demo(home)

    @property
    def has_app(self) -> bool:
        return self.app is not None


def command_adder(common: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
    """``add(parent, name, func, help)``: a subcommand that takes the common
    options (``--home``, ``--json``) and runs ``func(args)`` — what every
    plugin's ``register`` needs."""
    def add(parent: argparse._SubParsersAction[Any], name: str, func: Callable[[argparse.Namespace], int],
            help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p
    return add


def load(warn: Callable[[str], None] | None = None) -> dict[str, Plugin]:
    """Every installed plugin by entry-point name; one that fails to import or
    returns something else than a Plugin is reported through ``warn`` (stderr
    by default) and left out."""
    def _stderr(message: str) -> None:
        print(message, file=sys.stderr)
    warn = warn or _stderr
    found: dict[str, Plugin] = {}
    for ep in entry_points(group=GROUP):
        try:
            plugin = ep.load()()
        except Exception as exc:  # any failure of a plugin's import must not take the hub's commands down
            warn(f"beffroi: warning: the {ep.name!r} commands are unavailable: {ep.value} failed to load "
                 f"({type(exc).__name__}: {exc})")
            continue
        if not isinstance(plugin, Plugin):
            warn(f"beffroi: warning: the {ep.name!r} commands are unavailable: {ep.value} returned "
                 f"{type(plugin).__name__}, not a hub.plugins.Plugin")
            continue
        found[ep.name] = plugin
    return found
