"""UI language: gettext catalogs for words, babel for dates and amounts.

Source strings are English; the French catalog is the default. The language
is one process-wide setting because one app runs per terminal; the kiosk
switches it at run time and recomposes its screen.
"""

from __future__ import annotations

import datetime as dt
import gettext
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time, format_timedelta
from babel.numbers import format_currency

from hub.clock import millis

LANGS = ("fr", "en")
LOCALES = {"fr": "fr_FR", "en": "en_GB"}
LOCALE_DIR = Path(__file__).parent / "locale"
# The city's wall clock, whatever the machine's TZ: receipts and timelines agree.
CITY_TZ = ZoneInfo("Europe/Paris")

_state = {"lang": "fr", "catalog": gettext.NullTranslations()}


def set_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}")
    _state["lang"] = lang
    _state["catalog"] = gettext.translation("beffroi", LOCALE_DIR, languages=[lang], fallback=True)


def lang() -> str:
    return _state["lang"]


def _(text: str) -> str:
    return _state["catalog"].gettext(text)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _state["catalog"].ngettext(singular, plural, n)


def N_(text: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return text


def pick(names: dict[str, str]) -> str:
    """The catalog's own bilingual labels (services, statuses, fields)."""
    return names.get(lang()) or names.get("fr") or next(iter(names.values()), "")


def locale() -> str:
    return LOCALES[lang()]


def money(cents: int) -> str:
    return format_currency(cents / 100, "EUR", locale=locale())


def when(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(CITY_TZ), "short", locale=locale())


def day(moment: dt.date) -> str:
    return format_date(moment, "long", locale=locale())


def clock_time(moment: dt.datetime) -> str:
    return format_time(moment.astimezone(CITY_TZ), "short", locale=locale())


def hlc_time(hlc: int) -> str:
    return when(dt.datetime.fromtimestamp(millis(hlc) / 1000, dt.UTC))


def duration(seconds: float) -> str:
    return format_timedelta(dt.timedelta(seconds=max(seconds, 0)), threshold=1.0, locale=locale())


def day_short(value: dt.date | str) -> str:
    """A date as people write it here: 12/03/1985 in French, 12/03/1985 in British English."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return format_date(value, "short" if lang() == "en" else "dd/MM/yyyy", locale=locale())


def labelled(label: str, value: object) -> str:
    """"Label : value" in French typography, "Label: value" in English."""
    return f"{label} : {value}" if lang() == "fr" else f"{label}: {value}"
