"""The README documents every command and option the CLI offers: a person
reading it learns what `--help` would tell them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from hub.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
COMMON = {"-h", "--help", "--home", "--json"}   # documented once, for every command


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from commands(child, (*path, name))


def documented(path: tuple[str, ...]) -> bool:
    """``beffroi a b`` written out, or ``a b`` in a line about beffroi commands
    (``queue issue E | queue call`` lists several on one line)."""
    words = r"\s+".join(map(re.escape, path))
    return re.search(rf"(beffroi|\|)\s+{words}\b", README) is not None


def test_every_command_is_in_the_readme():
    missing = [" ".join(p) for p, _ in commands(build_parser()) if not documented(p)]
    assert not missing, f"commands missing from the README: {missing}"


def test_every_option_is_in_the_readme():
    missing = set()
    for path, parser in commands(build_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in COMMON and option not in README:
                    missing.add(f"{' '.join(path)} {option}")
    assert not missing, f"options missing from the README: {sorted(missing)}"
