"""The console's languages: catalogs, the choice of a language per request, and locale formatting.

UI strings are English msgids translated through gettext. Each language's catalog is a ``.po``
file under ``locale/<lang>/LC_MESSAGES/messages.po`` beside this module, read with Babel at
start-up (no compiled ``.mo`` files are kept: the ``.po`` is the one source, reviewed as text).
``babel.cfg`` beside it tells ``pybabel extract`` where the strings are (the templates and the
``N_`` markers in the Python modules). Country and language names come from CLDR, never from the
catalogs; dates and numbers are formatted by Babel for the page's locale.

Which language a page is in: the ``__Host-fp-lang`` cookie (set by the language chooser), else
the browser's ``Accept-Language`` negotiated among the configured languages, else the default.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from focalpoint.errors import ConfigError

__all__ = ["LOCALE_DIR", "N_", "Catalogs", "PageLanguage", "accept_language", "choose_language"]

LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class PageLanguage:
    """The language one page is in: its tag, its CLDR locale and its translations."""

    tag: str
    locale: Locale
    translations: NullTranslations
    timezone: ZoneInfo

    @property
    def direction(self) -> str:
        return "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def datetime(self, at_ms: int) -> str:
        at = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC)
        return format_datetime(at, format="medium", tzinfo=self.timezone, locale=self.locale)

    def date(self, at_ms: int) -> str:
        """The calendar day of ``at_ms`` in the console's time zone, in the locale's date format."""
        day = dt.datetime.fromtimestamp(at_ms / 1000, self.timezone).date()
        return format_date(day, format="medium", locale=self.locale)


def _read_catalog(tag: str) -> NullTranslations:
    """The translations of ``tag`` (English is the source language and needs none)."""
    if tag == "en":
        return NullTranslations()
    path = LOCALE_DIR / tag / "LC_MESSAGES" / "messages.po"
    try:
        with path.open("rb") as f:
            catalog = read_po(f, locale=tag.replace("-", "_"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no translations for the offered language {tag!r}") from None
    # Compiled in memory: the .po file stays the one source, no .mo file is kept beside it.
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


class Catalogs:
    """Every configured language's translations, loaded once at start-up."""

    def __init__(self, languages: tuple[str, ...], default: str, timezone: str) -> None:
        self.languages, self.default = languages, default
        tz = ZoneInfo(timezone)
        self._pages = {
            tag: PageLanguage(tag, Locale.parse(tag.replace("-", "_")), _read_catalog(tag), tz) for tag in languages
        }

    def page(self, tag: str) -> PageLanguage:
        return self._pages.get(tag) or self._pages[self.default]

    def names(self, shown_in: PageLanguage) -> list[tuple[str, str]]:
        """(tag, the language's own name) for the chooser: each in itself, so anyone finds theirs."""
        return [(tag, str(page.locale.get_display_name(page.locale) or tag)) for tag, page in self._pages.items()]


def accept_language(header: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > 0:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


def choose_language(cookie: str | None, header: str, languages: tuple[str, ...], default: str) -> str:
    """The page's language: the chosen one (cookie) when offered, else the browser's best, else the default."""
    if cookie in languages:
        return cookie
    wanted = accept_language(header)
    chosen = negotiate_locale(wanted, list(languages), sep="-")
    if chosen is None:
        # "fr-CH" finds "fr": negotiate on the primary subtags too.
        chosen = negotiate_locale([w.split("-")[0] for w in wanted], list(languages), sep="-")
    return chosen if chosen in languages else default
