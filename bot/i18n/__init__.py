"""User-visible text: `t(key, lang, **params)` over French and English catalogues.

Catalogues are TOML files under `en/` and `fr/`, one file per area (core, circles, ...), keyed by
message id (`help.title`); placeholders use `{name}`. A key defined in two files is an error.
Babel formats dates and lists the way each language writes them, and chooses plural forms.

Counts choose their own words: `{n:# member|# members}` takes the first form when the language's
plural rule (Babel's CLDR data) says "one" for n, the second otherwise; `#` stands for the number.
French says "one" for 0 and 1 (« 0 membre »), English for 1 only (“0 members”). A third form in front,
`{n:no member|# member|# members}`, is used for zero in every language. Any int parameter can be
formatted so; without `|` in the format spec it formats as a plain number.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.lists import format_list as babel_format_list
from babel.numbers import format_decimal

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")
FALLBACK: Language = "en"
CATALOGUE_DIR = Path(__file__).parent


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        else:
            out[full] = str(value)


@cache
def catalogue(lang: Language) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((CATALOGUE_DIR / lang).glob("*.toml")):
        with path.open("rb") as handle:
            flat: dict[str, str] = {}
            _flatten("", tomllib.load(handle), flat)
        clash = merged.keys() & flat.keys()
        if clash:
            raise ValueError(f"{path}: keys already defined in another {lang} file: {sorted(clash)}")
        merged.update(flat)
    return merged


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def normalise_language(value: str | None, default: Language = FALLBACK) -> Language:
    """`fr-FR`, `fr_CA`, `FR` -> `fr`; anything we do not speak -> the default."""
    if not value:
        return default
    head = value.replace("_", "-").split("-")[0].lower()
    return "fr" if head == "fr" else "en" if head == "en" else default


def plural(value: int, spec: str, lang: str) -> str:
    """`plural(3, "# member|# members", "en")` -> "3 members": the form the language's plural rule picks.

    Two forms are (one, other); three are (zero, one, other), the zero form winning for 0.
    """
    forms = spec.split("|")
    if len(forms) == 2:
        zero, one, other = None, forms[0], forms[1]
    elif len(forms) == 3:
        zero, one, other = forms
    else:
        raise ValueError(f"a plural format takes 2 or 3 forms separated by '|', not {spec!r}")
    if value == 0 and zero is not None:
        chosen = zero
    else:
        chosen = one if _plural_category(normalise_language(lang), value) == "one" else other
    return chosen.replace("#", str(value))


@cache
def _locale(language: Language) -> Locale:
    # One Locale per language for the process, handed to every Babel call: given a language code
    # instead, Babel parses a new Locale and loads its data again on each call.
    return Locale.parse(language)


@lru_cache(maxsize=4096)
def _plural_category(language: Language, value: int) -> str:
    # Babel evaluates the CLDR rule through Decimal operands (~15 us a call); the counts a message shows
    # repeat (member counts, days, weeks), and the answer for a language and a number never changes.
    return str(_locale(language).plural_form(value))


class _Formatter(string.Formatter):
    """`str.format` that understands the plural format spec for ints, in one language."""

    def __init__(self, language: Language) -> None:
        super().__init__()
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> Any:
        if "|" in format_spec and isinstance(value, int) and not isinstance(value, bool):
            return plural(value, format_spec, self.language)
        return super().format_field(value, format_spec)


_FORMATTERS: dict[Language, _Formatter] = {language: _Formatter(language) for language in LANGUAGES}


def t(key: str, lang: str, **params: Any) -> str:
    """Translate `key` into `lang`; a missing key is a bug caught by the catalogue test."""
    language = normalise_language(lang)
    template = catalogue(language).get(key) or catalogue(FALLBACK)[key]
    return _FORMATTERS[language].format(template, **params) if params else template


def format_day(day: date, lang: str) -> str:
    return str(babel_format_date(day, format="long", locale=_locale(normalise_language(lang))))


def format_list(items: Iterable[str], lang: str) -> str:
    values = list(items)
    if not values:
        return ""
    return str(babel_format_list(values, locale=_locale(normalise_language(lang))))


def format_number(value: float, lang: str) -> str:
    """`2.5` -> "2.5" in English, "2,5" in French; at most one decimal, none for whole numbers."""
    return str(format_decimal(round(value, 1), format="#,##0.#", locale=_locale(normalise_language(lang))))
