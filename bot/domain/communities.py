"""Rules about communities that need no Slack and no SQL: names, slugs, objectives, lookups."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.domain.circles import RULE_BOUNDS

NAME_MAX = 80
DOMAIN_MAX = 1000
OBJECTIVES_OTHER_MAX = 1000
CADENCES = (2, 4, 8, 12)
DEFAULT_CADENCE = 4

# The card's four typical objectives (step 1), in its order.
OBJECTIVES = ("exchange_information", "develop_solutions", "test_applications", "change_process")

# The circle rule's settings the form shows and checks, by field: (default, lowest, highest), taken from
# the rule's own table so that the form refuses, with a field error, whatever the rule would refuse.
CIRCLE_RULE_SETTINGS: dict[str, tuple[int, int, int]] = {
    field: (bounds.default, bounds.low, bounds.high)
    for field, bounds in (
        ("circle_window_days", RULE_BOUNDS["window_days"]),
        ("inner_min_contributions", RULE_BOUNDS["inner_min_contributions"]),
        ("inner_min_days", RULE_BOUNDS["inner_min_days"]),
        ("demotion_grace_days", RULE_BOUNDS["demotion_grace_days"]),
    )
}

Visibility = Literal["open", "protected"]
VISIBILITIES: tuple[Visibility, ...] = ("open", "protected")

CHANNEL_MENTION = re.compile(r"^<#(C[A-Z0-9]+|G[A-Z0-9]+)(?:\|([^>]*))?>$")
USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def slugify(name: str) -> str:
    """`Urbanisme & Mobilité` -> `urbanisme-mobilite`: how names are compared and how channels are named."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:NAME_MAX]


def channel_name_for(name: str) -> str:
    """A Slack channel name for a new community channel (lowercase, no spaces, at most 80)."""
    return ("cdp-" + slugify(name))[:80].rstrip("-")


def name_problem(name: str | None) -> str | None:
    """An error key when a community name is unusable, else None."""
    cleaned = (name or "").strip()
    if not cleaned:
        return "communities.errors.name_empty"
    if len(cleaned) > NAME_MAX:
        return "communities.errors.name_too_long"
    if not slugify(cleaned):
        return "communities.errors.name_no_letters"
    return None


@dataclass(frozen=True)
class Named:
    """What the lookup needs to know about a community."""

    id: int
    name: str
    slug: str
    channel_ids: tuple[str, ...]


PREFIX_MIN = 3
"""The shortest start of a name that may pick a community on its own: `/cdp join v` never does."""


@dataclass(frozen=True)
class Lookup:
    """The outcome of resolving what a user typed to a community."""

    found: Named | None
    candidates: tuple[Named, ...] = ()  # when ambiguous, or close matches when not found


@dataclass(frozen=True)
class ExactKeys:
    """What a query names exactly, so that the database can answer by its indexes before any fuzzy
    match: a bound channel (`<#C…>`), else a slug (`Urbanism`, `urbanism`, `#cdp-urbanism`)."""

    channel_id: str | None
    slugs: tuple[str, ...]


CHANNEL_PREFIX = "cdp-"


def exact_keys(query: str) -> ExactKeys:
    """The keys `resolve` would take as a clear match by channel, slug or channel name. A slug that
    starts with `cdp-` may be a channel named from a community's name (`channel_name_for`): that
    community's slug is the rest (names short enough not to be truncated; longer ones are found by
    `resolve` over the cached names). Pure, like `resolve`; both must agree (tests check them)."""
    text = query.strip()
    channel_id = None
    mention = CHANNEL_MENTION.match(text)
    if mention:
        channel_id = mention.group(1)
        text = mention.group(2) or text
    slug = slugify(text.lstrip("#"))
    if not slug:
        return ExactKeys(channel_id, ())
    rest = slug.removeprefix(CHANNEL_PREFIX)
    return ExactKeys(channel_id, (slug, rest) if rest and rest != slug else (slug,))


def resolve(query: str, communities: Sequence[Named]) -> Lookup:
    """The community a user means, only when the match is clear; else the ones they may mean.

    Clear: the channel mention (`<#C…>`), the exact name (any case), the slug or the channel name made
    from the name (`#cdp-urbanism`), or the start of one community's slug, at least `PREFIX_MIN`
    characters long, that starts no other. Anything else (a short or ambiguous start, a word inside a
    name, a typo) is never taken: the communities it may mean come back as candidates, for the user
    to confirm ("did you mean …?") or to choose from.
    """
    text = query.strip()
    if not text:
        return Lookup(None)
    mention = CHANNEL_MENTION.match(text)
    if mention:
        channel_id, channel_name = mention.group(1), mention.group(2)
        by_channel = [c for c in communities if channel_id in c.channel_ids]
        if by_channel:
            return Lookup(by_channel[0])
        text = channel_name or text
    text = text.lstrip("#")
    exact = [c for c in communities if c.name.casefold() == text.casefold()]
    if exact:
        return Lookup(exact[0])
    slug = slugify(text)
    if not slug:
        return Lookup(None)
    by_slug = [c for c in communities if c.slug == slug or channel_name_for(c.name) == slug]
    if by_slug:
        return Lookup(by_slug[0])
    starts = [c for c in communities if c.slug.startswith(slug)]
    if len(starts) == 1 and len(slug) >= PREFIX_MIN:
        return Lookup(starts[0])
    maybe = {c.id: c for c in starts}
    maybe.update((c.id, c) for c in communities if slug in c.slug)
    slugs = {c.slug: c for c in communities}
    maybe.update(
        (slugs[s].id, slugs[s]) for s in difflib.get_close_matches(slug, list(slugs), n=5, cutoff=0.6)
    )
    return Lookup(None, tuple(maybe.values())[:5])


def mentioned_users(text: str) -> list[str]:
    return USER_MENTION.findall(text)


def without_mentions(text: str) -> str:
    return " ".join(USER_MENTION.sub(" ", text).split())
