"""User-visible text: `t(key, lang, **params)` over French and English catalogues.

Catalogues are TOML files under `en/` and `fr/`, one file per area (core, circles, ...), keyed by
message id (`help.title`); placeholders use `{name}`. A key defined in two files is an error.
Babel formats dates and lists the way each language writes them.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

from babel.dates import format_date as babel_format_date
from babel.lists import format_list as babel_format_list

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


def t(key: str, lang: str, **params: Any) -> str:
    """Translate `key` into `lang`; a missing key is a bug caught by the catalogue test."""
    language = normalise_language(lang)
    template = catalogue(language).get(key) or catalogue(FALLBACK)[key]
    return template.format(**params) if params else template


def format_day(day: date, lang: str) -> str:
    return str(babel_format_date(day, format="long", locale=normalise_language(lang)))


def format_list(items: Iterable[str], lang: str) -> str:
    values = list(items)
    if not values:
        return ""
    return str(babel_format_list(values, locale=normalise_language(lang)))
