"""A newcomer's first contribution: when it is one, and the emoji the app reacts with (pure rules)."""

from __future__ import annotations

import re

from bot.domain.circles import CircleRule, Reason, WindowSummary, progress_reason, progress_towards_inner

DEFAULT_EMOJI = "wave"
EMOJI_MAX = 64
# Slack's emoji names: lowercase letters, digits and _ + - ' (custom ones too), an optional skin tone.
_EMOJI = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?")


def emoji_name(raw: str) -> str | None:
    """The emoji name a moderator typed (":tada:", "tada" or "" for none), normalised; None when it
    cannot be an emoji name."""
    name = raw.strip()
    if name.startswith(":") and name.endswith(":") and len(name) >= 2:
        name = name[1:-1]
    if not name:
        return ""
    if len(name) > EMOJI_MAX or _EMOJI.fullmatch(name) is None:
        return None
    return name


def progress_after_first(rule: CircleRule) -> Reason | None:
    """What brings someone whose only contribution is this one into the inner circle (the circle rule's
    own words, bot/domain/circles.py); None when one contribution is already enough."""
    summary = WindowSummary(contributions=1, days=1, reactions=0, window_days=rule.window_days)
    return progress_reason(progress_towards_inner(summary, rule))


def may_be_first(
    *, role: str | None, circle: str | None, day_contributions: int, other_contributions: int
) -> bool:
    """From the counting statement's figures: could this message be the member's first contribution?
    Only a member (not a founder or moderator) of the outer circle with nothing else in their window
    and this message alone on its row; the database then checks their whole history, once."""
    return role == "member" and circle == "outer" and day_contributions == 1 and other_contributions == 0
