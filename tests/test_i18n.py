"""Every key exists in both languages with the same placeholders, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, catalogue, normalise_language, placeholders, t

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ["bot", "handlers"]
# t("some.key", ...) with a literal key; dynamic keys (f-strings) are checked by their own tests.
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")


def test_both_languages_have_the_same_keys() -> None:
    english, french = set(catalogue("en")), set(catalogue("fr"))
    assert english - french == set(), "missing in French"
    assert french - english == set(), "missing in English"


@pytest.mark.parametrize("key", sorted(catalogue("en")))
def test_placeholders_match(key: str) -> None:
    assert placeholders(catalogue("en")[key]) == placeholders(catalogue("fr")[key]), key


def test_every_literal_key_in_the_code_exists() -> None:
    used: set[str] = set()
    for directory in CODE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            used.update(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    assert used, "the scan found no t() calls: the pattern is wrong"
    for lang in LANGUAGES:
        assert used - set(catalogue(lang)) == set(), lang


def test_no_empty_message() -> None:
    for lang in LANGUAGES:
        assert [key for key, value in catalogue(lang).items() if not value.strip()] == []


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr-FR", "fr"),
        ("fr_CA", "fr"),
        ("FR", "fr"),
        ("en-GB", "en"),
        ("de-DE", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_locale_mapping(locale: str | None, expected: str) -> None:
    assert normalise_language(locale) == expected


def test_t_formats_placeholders() -> None:
    assert t("errors.unknown_subcommand", "fr", given="x", suggestion="help").startswith("Je ne connais pas")
