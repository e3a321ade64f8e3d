"""Every key exists in both languages with the same placeholders, and every key the code uses exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.demo import report as demo_report
from bot.domain import checklist
from bot.domain.circles import CIRCLES
from bot.domain.commands import ALIASES, VERB_ALIASES, localised_name
from bot.domain.communities import CIRCLE_RULE_SETTINGS, OBJECTIVES, VISIBILITIES
from bot.domain.momentum import AlertKind
from bot.i18n import LANGUAGES, catalogue, format_number, normalise_language, placeholders, plural, t
from bot.services import privacy

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


# ---- plurals: Babel's rule of each language -------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "spec", "lang", "expected"),
    [
        (1, "# day|# days", "en", "1 day"),
        (2, "# day|# days", "en", "2 days"),
        (0, "# day|# days", "en", "0 days"),
        (0, "no day|# day|# days", "en", "no day"),
        (1, "one more day|# more days", "en", "one more day"),
        (1, "# jour|# jours", "fr", "1 jour"),
        (0, "# jour|# jours", "fr", "0 jour"),  # French says « un » for 0 too
        (2, "# jour|# jours", "fr", "2 jours"),
        (0, "aucun jour|# jour|# jours", "fr", "aucun jour"),
        (3, "a|ont", "fr-CA", "ont"),
    ],
)
def test_plural_forms_follow_each_language(value: int, spec: str, lang: str, expected: str) -> None:
    assert plural(value, spec, lang) == expected


def test_a_bad_plural_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="2 or 3 forms"):
        plural(1, "a|b|c|d", "en")


def test_t_picks_plural_forms_and_formats_plain_numbers() -> None:
    assert t("alerts.greeted", "en", count=1, name="X") == "Thanks! 1 newcomer marked as greeted in *X*."
    assert t("alerts.greeted", "en", count=2, name="X") == "Thanks! 2 newcomers marked as greeted in *X*."
    assert t("alerts.greeted", "fr", count=0, name="X") == (
        "Merci ! 0 nouveau membre noté comme accueilli dans *X*."
    )
    assert "2 nouveaux membres notés comme accueillis" in t("alerts.greeted", "fr", count=2, name="X")
    assert t("communities.directory.title", "fr", count=3) == "*Communautés de pratique* (3)"


@pytest.mark.parametrize(
    ("value", "lang", "expected"), [(2.5, "en", "2.5"), (2.5, "fr", "2,5"), (3.0, "fr", "3"), (0, "en", "0")]
)
def test_format_number(value: float, lang: str, expected: str) -> None:
    assert format_number(value, lang) == expected


# ---- what a reader should never see ---------------------------------------------------------------
# "member(s)", « nouveau(x) », « accueilli(e)s »: a count is known, so say it in the right form.
HEDGED_PLURAL = re.compile(r"\w\((s|x|e|es|le|ne)\)")
# « compté·e », « modérateur·rice »: French uses epicene phrasing instead (« la personne qui… »);
# the mid dot stays only as a separator between spaces (« cercle interne 3 · cercle externe 5 »).


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_hedged_plural_nor_mid_dot_agreement(lang: str) -> None:
    for key, text in catalogue(lang).items():
        assert not HEDGED_PLURAL.search(text), (lang, key, text)
        assert not re.search(r"\w·\w", text), (lang, key, text)


def test_momentum_alert_in_french_uses_the_card_words() -> None:
    assert catalogue("fr")["momentum.title"] == "Alerte : l'élan faiblit"
    assert "élan" not in catalogue("fr")["alerts.intro"]  # the title carries it, once
    assert all("Alerte d'élan" not in text for text in catalogue("fr").values())


# ---- help: the names a speaker of each language types -----------------------------------------------
@pytest.mark.parametrize("name", sorted(ALIASES))
def test_each_subcommand_has_its_help_in_its_own_words(name: str) -> None:
    assert t(f"subcommand.{name}.usage", "en").startswith(name)
    assert t(f"subcommand.{name}.usage", "fr").startswith(localised_name(name, "fr"))
    assert t("help.usage", "fr", usage=t(f"subcommand.{name}.usage", "fr"), summary="x").startswith(
        f"`/cdp {localised_name(name, 'fr')}"
    )


def test_french_sub_verbs_are_in_the_french_help() -> None:
    for name, verbs in VERB_ALIASES.items():
        usage = t(f"subcommand.{name}.usage", "fr")
        for verb, aliases in verbs.items():
            assert aliases[0] in usage, (name, verb)
            assert verb in t(f"subcommand.{name}.usage", "en")


# ---- every key is used --------------------------------------------------------------------------
# Any dotted string literal in the code that is a catalogue key counts as a use (t("key"), key constants).
KEY_LITERAL = re.compile(r"""["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def dynamic_keys() -> set[str]:
    """Keys the code builds from its own tables (f-strings): derived from the same tables here, so a new
    objective or alert kind needs no change to this list, and a key nobody builds is still caught."""
    return {
        *(f"circles.name.{circle}" for circle in CIRCLES),  # handlers/activity.py
        *(f"subcommand.{name}.{part}" for name in ALIASES for part in ("usage", "summary")),  # views/help.py
        *(f"communities.objective.{key}" for key in OBJECTIVES),  # views/communities.py
        *(f"communities.visibility.{value}" for value in VISIBILITIES),
        *(f"communities.form.{key}" for key in CIRCLE_RULE_SETTINGS),
        *(f"communities.errors.request_{status}" for status in ("approved", "declined")),  # services
        *(answer.label_key for answer in checklist.Answer),  # domain/checklist.py
        *(decision.label_key for decision in checklist.Decision),
        *(checklist.item_key(item) for item in checklist.ITEMS),
        *(f"checklist.outcome.{decision.value}" for decision in checklist.Decision),
        *(f"review_together.item.{item}" for item in checklist.ITEMS),  # views/review_together.py
        *(f"review_together.count.{answer.value}" for answer in checklist.Answer),
        *(f"momentum.{kind.value}.{part}" for kind in AlertKind for part in ("reason", "suggestion")),
        *(f"activity.privacy.section.{name}" for name in privacy.SECTIONS),  # services/privacy.py
        *(
            f"activity.privacy.label.{group}.{v}"
            for group, values in privacy.LABELLED.items()
            for v in values
        ),
        *(f"communities.errors.request_{status}_former" for status in ("approved", "declined")),
        *(f"demo.kind.{kind}" for kind in demo_report.KINDS),  # bot/demo/report.py
        *(f"demo.sections.{key}" for key in demo_report.SECTIONS),
    }


def test_every_catalogue_key_is_used_by_the_code() -> None:
    used = set(dynamic_keys())
    for directory in CODE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            used.update(KEY_LITERAL.findall(path.read_text(encoding="utf-8")))
    assert set(catalogue("en")) - used == set(), "unused keys: delete them, or list how the code builds them"
    assert dynamic_keys() - set(catalogue("en")) == set(), "a key the code builds is missing"
