"""`/cdp` words in English and French: subcommands, their French aliases and sub-verbs (pure)."""

from __future__ import annotations

import pytest

from bot.domain.commands import (
    ALIASES,
    VERB_ALIASES,
    all_words,
    canonical,
    canonical_verb,
    closest,
    localised_name,
    parse,
)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # English names are their own canonical name, in any case.
        ("join", "join"),
        ("JOIN", "join"),
        ("help", "help"),
        # The French aliases of the issue, with and without accents.
        ("aide", "help"),
        ("rejoindre", "join"),
        ("quitter", "leave"),
        ("liste", "list"),
        ("moi", "me"),
        ("cercles", "circles"),
        ("revue", "review"),
        ("confidentialite", "privacy"),
        ("confidentialité", "privacy"),
        ("Confidentialité", "privacy"),
        ("parametres", "settings"),
        ("paramètres", "settings"),
        ("dissoudre", "dissolve"),
        ("moderateurs", "moderators"),
        ("modérateurs", "moderators"),
        ("creer", "create"),
        ("créer", "create"),
        ("infos", "info"),
        # Anything else names no subcommand (and so is never logged).
        ("rejoin", None),
        ("v", None),
        ("", None),
        ("join urbanism", None),
        ("<@UALICE>", None),
    ],
)
def test_canonical(word: str, expected: str | None) -> None:
    assert canonical(word) == expected


@pytest.mark.parametrize(
    ("subcommand", "word", "expected"),
    [
        ("moderators", "add", "add"),
        ("moderators", "ajouter", "add"),
        ("moderators", "Ajouter", "add"),
        ("moderators", "remove", "remove"),
        ("moderators", "retirer", "remove"),
        ("privacy", "export", "export"),
        ("privacy", "exporter", "export"),
        ("privacy", "forget", "forget"),
        ("privacy", "oublier", "forget"),
        # A verb of another subcommand, or none.
        ("privacy", "ajouter", None),
        ("moderators", "oublier", None),
        ("moderators", "", None),
        ("join", "add", None),
    ],
)
def test_canonical_verb(subcommand: str, word: str, expected: str | None) -> None:
    assert canonical_verb(subcommand, word) == expected


def test_every_alias_is_unique_and_never_an_english_name() -> None:
    words = [word for name, aliases in ALIASES.items() for word in (name, *aliases)]
    assert len(words) == len(set(words))
    for verbs in VERB_ALIASES.values():
        verb_words = [word for verb, aliases in verbs.items() for word in (verb, *aliases)]
        assert len(verb_words) == len(set(verb_words))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("rejoidre", "rejoindre"),  # a French typo suggests the French word
        ("jion", "join"),
        ("lsit", "list"),
        ("modérateur", "moderateurs"),
        ("xyzzy", None),
    ],
)
def test_closest_considers_the_aliases(given: str, expected: str | None) -> None:
    assert closest(given, all_words()) == expected


@pytest.mark.parametrize(
    ("name", "lang", "expected"),
    [("join", "fr", "rejoindre"), ("join", "en", "join"), ("privacy", "fr-CA", "confidentialite")],
)
def test_localised_name(name: str, lang: str, expected: str) -> None:
    assert localised_name(name, lang) == expected


def test_parse_keeps_the_argument() -> None:
    parsed = parse("  Rejoindre   Mobilité douce ")
    assert (parsed.name, parsed.argument) == ("rejoindre", "Mobilité douce")
    assert parse("").name == "help"
