"""Rebuild the message catalogs: extract the template, merge it into each
language's .po (keeping translations) and compile the .mo files that ship in
the package (so a fresh ``pip install -e .`` has them without a build step).

    .venv/bin/python tui/locale/build.py          # extract, update, compile
    .venv/bin/python tui/locale/build.py --check  # fail if a string is untranslated or a .mo is stale
"""

from __future__ import annotations

import gettext
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
TUI = HERE.parent
DOMAIN = "beffroi"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
LANGS = ("fr",)   # English is the source language


def template() -> Catalog:
    pot = Catalog(project="beffroi", domain=DOMAIN)
    for _file, _line, message, _comments, _context in extract_from_dir(str(TUI), keywords=KEYWORDS):
        if message and message != ("",) and message != "":
            pot.add(message)
    return pot


def po_path(lang: str) -> Path:
    return HERE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def messages(mo: bytes) -> dict:
    """The translations a compiled catalog holds, without its header: a newer
    Babel writes another ``Generated-By`` into the same catalog, which is not a
    stale translation."""
    table = gettext.GNUTranslations(io.BytesIO(mo))._catalog  # type: ignore[attr-defined]
    return {key: value for key, value in table.items() if key != ""}


def problems(lang: str) -> list[str]:
    pot = template()
    catalog = read_po(po_path(lang).open("rb"), locale=lang)
    found = []
    for message in pot:
        if not message.id:
            continue
        have = catalog.get(message.id)
        strings = have.string if have else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            found.append(f"{lang}: untranslated {message.id!r}")
    mo = po_path(lang).with_suffix(".mo")
    if not mo.exists() or messages(mo.read_bytes()) != messages(mo_bytes(catalog)):
        found.append(f"{lang}: {mo} is stale; run tui/locale/build.py")
    return found


def build() -> None:
    pot = template()
    for lang in LANGS:
        path = po_path(lang)
        catalog = read_po(path.open("rb"), locale=lang) if path.exists() else Catalog(locale=lang, domain=DOMAIN)
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, omit_header=False, no_location=True, sort_output=True, width=120)
        path.with_suffix(".mo").write_bytes(mo_bytes(catalog))


if __name__ == "__main__":
    if "--check" in sys.argv:
        issues = [p for lang in LANGS for p in problems(lang)]
        print("\n".join(issues) or "catalogs complete")
        sys.exit(1 if issues else 0)
    build()
