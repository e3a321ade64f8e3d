"""Parsing `/cdp` text into a subcommand and its argument."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

HELP = "help"


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
    """The known subcommand a typo most likely meant, or None when nothing is close."""
    matches = difflib.get_close_matches(given.lower(), list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None
