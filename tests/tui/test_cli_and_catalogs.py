"""`beffroi counter|kiosk` refusals, the mode file, and the message catalogs."""

from __future__ import annotations

import gettext
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tui import i18n
from tui.counter.app import CounterApp
from tui.mode import MODES, read_mode
from tui.widgets.banner import ModeBanner

from .conftest import NOW, SIZE, frozen_clock, set_mode


def test_commands_are_registered_with_their_options():
    out = run_cli("kiosk", "--help").stdout
    assert "--lang" in out and "--idle" in out
    assert "--lang" in run_cli("counter", "--help").stdout


@pytest.mark.parametrize("args,message", [
    (["counter", "--lang", "de"], "language must be one of fr, en"),
    (["kiosk", "--idle", "1"], "idle delay must be between 5 and 3600 seconds"),
    (["kiosk", "--idle", "soon"], "idle delay must be a number of seconds"),
    (["kiosk", "--kiosk-id", "borne 1; rm"], "kiosk id: 1 to 32 letters"),
])
def test_bad_options_are_refused_with_one_line(tmp_path, args, message):
    result = run_cli(*args, home=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []                  # nothing written


@pytest.mark.parametrize("command", ["counter", "kiosk"])
def test_a_missing_home_is_refused_before_any_screen(tmp_path, command):
    result = run_cli(command, home=tmp_path / "nowhere")
    assert result.returncode == 2
    assert "is not a Beffroi home" in result.stderr and "beffroi init" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_commands_entry_point_gives_the_demo_a_runner():
    from hub.plugins import Plugin
    from tui.cli import commands, run_counter
    plugin = commands()
    assert isinstance(plugin, Plugin) and plugin.app is run_counter


@pytest.mark.parametrize("entry", [None, "nonsense", 42, {"name": "flying"}, {"name": "isolated", "since": "hier"}])
def test_mode_file_defaults_safely(tmp_path, entry):
    config = {"terminal_id": "x", "name": "T"}
    if entry is not None:
        config["mode"] = entry
    (tmp_path / "terminal.json").write_text(json.dumps(config))
    mode = read_mode(tmp_path)
    expected = "isolated" if isinstance(entry, dict) and entry.get("name") == "isolated" else "online"
    assert mode.name == expected and mode.since is None


@pytest.mark.parametrize("name,fr,en", [
    ("online", "EN LIGNE", "ONLINE"), ("degraded", "DÉGRADÉ", "DEGRADED"),
    ("isolated", "ISOLÉ", "ISOLATED"), ("recovery", "REPRISE", "RECOVERY"),
])
async def test_banner_shows_each_mode_in_words_colour_and_time(city, name, fr, en, frozen):
    home, _ = city
    set_mode(home, name)
    for lang, word, since in (("fr", fr, "depuis 2 heures"), ("en", en, "for 2 hours")):
        app = CounterApp(home, lang, clock=frozen_clock, blink=False, **frozen.app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            banner = app.screen.query_one(ModeBanner)
            text = str(banner.render()).replace("\xa0", " ")
            assert word in text and since in text
            assert banner.has_class(f"-{name}") and all(not banner.has_class(f"-{m}") for m in MODES if m != name)
            assert str(banner.styles.background) != str(app.screen.styles.background)


async def test_banner_follows_a_mode_change_while_running(city, frozen):
    home, _ = city
    app = CounterApp(home, clock=frozen_clock, blink=False, **frozen.app)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.screen.query_one(ModeBanner)
        assert "EN LIGNE" in str(banner.render())
        set_mode(home, "degraded")
        banner.poll()
        await pilot.pause()
        assert "DÉGRADÉ" in str(banner.render()) and banner.has_class("-degraded")


def test_french_catalog_is_complete_and_compiled():
    build = Path(i18n.__file__).parent / "locale" / "build.py"
    result = subprocess.run([sys.executable, str(build), "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_compiled_catalog_is_found_where_the_package_looks():
    catalog = gettext.translation("beffroi", i18n.LOCALE_DIR, languages=["fr"])
    assert catalog.gettext("Call next") == "Appeler"
    assert catalog.ngettext("{n} citizen found", "{n} citizens found", 2) == "{n} citoyens trouvés"


def test_amounts_and_dates_follow_the_locale():
    try:
        i18n.set_lang("fr")
        assert i18n.money(123456) == "1\u202f234,56\xa0€"
        assert i18n.when(NOW) == "02/03/2026 12:00"
        i18n.set_lang("en")
        assert i18n.money(123456) == "€1,234.56"
        assert i18n.when(NOW) == "02/03/2026, 12:00"
    finally:
        i18n.set_lang("fr")


def test_catalog_check_compares_messages_not_the_header():
    import importlib.util
    spec = importlib.util.spec_from_file_location("locale_build", Path(i18n.__file__).parent / "locale" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    from babel.messages.catalog import Catalog
    catalog = Catalog(locale="fr", domain="beffroi")
    catalog.add("Call next", "Appeler")
    written = build.mo_bytes(catalog)
    reheaded = Catalog(locale="fr", domain="beffroi", project="another generator")
    reheaded.add("Call next", "Appeler")
    assert build.messages(build.mo_bytes(reheaded)) == build.messages(written)
    retranslated = Catalog(locale="fr", domain="beffroi")
    retranslated.add("Call next", "Appeler le suivant")
    assert build.messages(build.mo_bytes(retranslated)) != build.messages(written)
