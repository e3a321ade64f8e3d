"""Which community a user means (bot/domain/communities.py `resolve`): act only on a clear match."""

from __future__ import annotations

import pytest

from bot.domain.communities import PREFIX_MIN, Lookup, Named, resolve, slugify

COMMUNITIES = [
    Named(1, "Vélo en ville", slugify("Vélo en ville"), ("CVELO",)),
    Named(2, "Urban mobility", slugify("Urban mobility"), ("CURBMOB",)),
    Named(3, "Urban planning", slugify("Urban planning"), ("CURBPLAN", "CURBPLAN2")),
    Named(4, "Water quality", slugify("Water quality"), ("CWATER",)),
    Named(5, "Safe streets", slugify("Safe streets"), ("CSAFE",)),
]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        # Exact name, any case; the slug; the channel name made from the name; a channel mention.
        ("Vélo en ville", 1),
        ("vélo EN VILLE", 1),
        ("velo-en-ville", 1),
        ("#cdp-velo-en-ville", 1),
        ("<#CURBPLAN2|planning>", 3),
        ("<#CWATER>", 4),
        # An unambiguous start of the name, at least PREFIX_MIN characters long.
        ("vel", 1),
        ("velo", 1),
        ("Vélo en", 1),
        ("wat", 4),
        ("safe str", 5),
        ("urban m", 2),
        ("urban-p", 3),
    ],
)
def test_a_clear_match_is_found(query: str, found: int) -> None:
    lookup = resolve(query, COMMUNITIES)
    assert lookup.found is not None and lookup.found.id == found, lookup


@pytest.mark.parametrize(
    ("query", "candidates"),
    [
        # One or two letters never pick a community on their own, even when only one fits.
        ("v", (1,)),
        ("ve", (1,)),
        ("wa", (4,)),
        # A start shared by several: the user chooses.
        ("urb", (2, 3)),
        ("urban", (2, 3)),
        # A word inside a name, not its start.
        ("quality", (4,)),
        ("streets", (5,)),
        # Typos.
        ("vleo en ville", (1,)),
        ("water qualty", (4,)),
        ("safe-stret", (5,)),
    ],
)
def test_below_a_clear_match_only_candidates(query: str, candidates: tuple[int, ...]) -> None:
    lookup = resolve(query, COMMUNITIES)
    assert lookup.found is None
    assert tuple(c.id for c in lookup.candidates) == candidates


@pytest.mark.parametrize("query", ["", "   ", "#", "!!!", "zzzzzz", "<#CUNKNOWN>", "<#CUNKNOWN|nothing>"])
def test_nothing_matches(query: str) -> None:
    assert resolve(query, COMMUNITIES) == Lookup(None)


def test_the_prefix_rule_has_a_reasonable_length() -> None:
    assert PREFIX_MIN >= 3
    assert resolve("a" * PREFIX_MIN, [Named(9, "Aaaa", "aaaa", ())]).found is not None
    assert resolve("a" * (PREFIX_MIN - 1), [Named(9, "Aaaa", "aaaa", ())]).found is None


def test_candidates_are_at_most_five() -> None:
    many = [Named(i, f"Team {i}", f"team-{i}", ()) for i in range(10)]
    lookup = resolve("team", many)
    assert lookup.found is None and len(lookup.candidates) == 5
