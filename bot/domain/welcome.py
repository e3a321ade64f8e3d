"""The welcome, once (issue 10, item 1): who is welcomed when they become a member. Pure rules.

The card: « Les nouveaux membres commencent souvent dans le cercle externe, en suivant de près les
activités du cercle interne, avant de le rejoindre ». A newcomer hears that once, when they join; the
founders never (they wrote it), nor someone coming back after a short absence (they know it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

TEXT_MAX = 2000  # the moderators' own welcome text, in characters
REJOIN_QUIET = timedelta(days=30)  # a re-join this soon after leaving is not welcomed again

DM = "dm"  # joined by /cdp join (or an approved request): the welcome comes as a direct message
EPHEMERAL = "ephemeral"  # joined the channel in Slack: an ephemeral message there, seen by them only


@dataclass(frozen=True)
class Before:
    """The membership as it was before this join (None when there was none): when they left, how they
    had come in (a founder came in at the creation)."""

    left_at: datetime | None
    joined_via: str


def welcome_due(*, role: str, before: Before | None, at: datetime, enabled: bool, active: bool) -> bool:
    """Whether someone who just became a member (`role`, at `at`) is welcomed."""
    if not enabled or not active or role == "core":
        return False  # switched off, dissolved, or a moderator: never a newcomer
    if before is None:
        return True
    if before.joined_via == "creation":
        return False  # a founder coming back
    return before.left_at is None or at - before.left_at >= REJOIN_QUIET


def text_problem(text: str) -> str | None:
    """The field error for the moderators' welcome text; None when it is fine."""
    return "welcome.errors.text_too_long" if len(text) > TEXT_MAX else None
