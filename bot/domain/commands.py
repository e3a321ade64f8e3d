"""Parsing `/cdp` text into a subcommand and its argument, in English or French.

Every subcommand has an English name (the one the code registers) and French aliases, so that
`/cdp rejoindre X` does exactly what `/cdp join X` does. Accents are optional: `créer` and `creer`
are the same word. The French help shows the first French alias of each subcommand.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HELP = "help"

# English name -> French aliases (the first one is shown in the French help), in `/cdp help` order.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "help": ("aide",),
    "create": ("creer",),
    "join": ("rejoindre",),
    "leave": ("quitter",),
    "list": ("liste",),
    "info": ("infos",),
    "me": ("moi",),
    "circles": ("cercles",),
    "moderators": ("moderateurs",),
    "settings": ("parametres",),
    "review": ("revue",),
    "dissolve": ("dissoudre",),
    "privacy": ("confidentialite",),
    "pairing": ("jumelage",),
    "product": ("produit",),
    "products": ("produits",),
}

# Sub-verbs of a subcommand: English verb -> French aliases.
VERB_ALIASES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "moderators": {"add": ("ajouter",), "remove": ("retirer",)},
    "privacy": {"export": ("exporter",), "forget": ("oublier",)},
    "pairing": {"on": ("activer", "oui"), "off": ("desactiver", "non")},
    "product": {"add": ("ajouter",)},
}


def _fold(word: str) -> str:
    """Lower case without accents: `Modérateurs` -> `moderateurs`."""
    decomposed = unicodedata.normalize("NFKD", word.strip().casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _index(table: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {word: name for name, aliases in table.items() for word in (name, *aliases)}


_CANONICAL = _index(ALIASES)
_VERBS = {subcommand: _index(verbs) for subcommand, verbs in VERB_ALIASES.items()}


def canonical(word: str) -> str | None:
    """The English name of the subcommand `word` names (a name or an alias, any case, accents
    optional), or None when it names none. Only this name, never the word typed, may be logged."""
    return _CANONICAL.get(_fold(word))


def canonical_verb(subcommand: str, word: str) -> str | None:
    """The English sub-verb (`moderators ajouter` -> `add`), or None when `word` is not one of them."""
    return _VERBS.get(subcommand, {}).get(_fold(word))


def all_words() -> list[str]:
    """Every word that names a subcommand: English names and French aliases."""
    return list(_CANONICAL)


def localised_name(name: str, lang: str) -> str:
    """What a speaker of `lang` types for the subcommand `name`: its French alias in French."""
    if lang.lower().startswith("fr") and ALIASES.get(name):
        return ALIASES[name][0]
    return name


@dataclass(frozen=True)
class ParsedCommand:
    name: str  # lower-cased first word; "help" when the text is empty
    argument: str  # the rest of the text, stripped


def parse(text: str | None) -> ParsedCommand:
    words = (text or "").strip().split(maxsplit=1)
    if not words:
        return ParsedCommand(HELP, "")
    return ParsedCommand(words[0].lower(), words[1].strip() if len(words) > 1 else "")


def known_subcommand(name: str, known: Iterable[str]) -> str | None:
    """The subcommand `name` (a parsed, lower-cased first word) stands for, when it is one of `known`;
    else None. The one place that decides it: the request log names only what this returns, so that a
    word someone typed that is not ours is never written anywhere."""
    return name if name in set(known) else None


def closest(given: str, known: Iterable[str]) -> str | None:
    """The known word a typo most likely meant, or None when nothing is close."""
    matches = difflib.get_close_matches(_fold(given), list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None
