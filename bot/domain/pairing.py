"""Pairing: whom a newcomer is introduced to, when, and what the check-back records. Pure rules.

A newcomer (asked to be introduced, or has read for N days without posting) meets ONE inner-circle
member of the community in a group DM. The partner is chosen fairly:
1. never the newcomer themself, never someone who switched pairing off, never a person Slack says
   cannot receive (a bot, deactivated), never someone already introduced to this newcomer;
2. at most one intro per partner per 7 days;
3. inner-circle members first; the moderators only when no inner-circle member is free (they are the
   inner circle of last resort, never the newcomer themself);
4. among those, the same time zone as the newcomer first (they can talk within both working days),
   then the least recently paired (never paired first), then a stable order (the user id).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

PARTNER_REST = timedelta(days=7)
"""At most one intro per inner member in this time."""

CHECK_BACK_AFTER = timedelta(days=7)
"""The "Did you talk?" message comes this long after the intro."""

RETRY_AFTER = timedelta(hours=6)
"""A request with nobody free to meet the newcomer is looked at again this much later."""

AFTER_DAYS_DEFAULT = 10
AFTER_DAYS_MIN = 1
AFTER_DAYS_MAX = 90

MAX_INTRODUCE_AT_ONCE = 10
"""`lurkers_introduce` names at most this many newcomers (the alert's own limit)."""

DOMAIN_ICE_BREAKERS = (
    "pairing.ice_breaker.domain_1",
    "pairing.ice_breaker.domain_2",
    "pairing.ice_breaker.domain_3",
)
"""Ice-breakers about the community's domain (catalogue keys)."""


class Reason(StrEnum):
    ASKED = "asked"  # the newcomer pressed "Introduce me to someone"
    LURKER = "lurker"  # read for N days without posting
    MODERATOR = "moderator"  # a moderator pressed "Introduce them"


class Outcome(StrEnum):
    YES = "yes"
    NOT_YET = "not_yet"
    NO = "no"


@dataclass(frozen=True)
class Candidate:
    """A possible partner, as the database and the people cache know them."""

    user_id: str
    inner: bool  # in the inner circle (a moderator may be too)
    moderator: bool
    timezone: str | None = None  # None: not known without asking Slack
    last_paired_at: datetime | None = None
    opted_out: bool = False
    reachable: bool | None = None  # False: a bot or deactivated; None: not known yet


def eligible(candidate: Candidate, *, newcomer: str, already_met: Collection[str], now: datetime) -> bool:
    """Whether this person may be introduced to `newcomer` now (rules 1 and 2)."""
    if candidate.user_id == newcomer or not candidate.user_id:
        return False
    if candidate.opted_out or candidate.reachable is False or candidate.user_id in already_met:
        return False
    return candidate.last_paired_at is None or now - candidate.last_paired_at >= PARTNER_REST


_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def rank_partners(
    candidates: Iterable[Candidate],
    *,
    newcomer: str,
    newcomer_tz: str | None,
    already_met: Collection[str],
    now: datetime,
) -> list[str]:
    """The people to try, best first (rules 1 to 4); empty when nobody is free."""
    free = {
        c.user_id: c for c in candidates if eligible(c, newcomer=newcomer, already_met=already_met, now=now)
    }
    inner = [c for c in free.values() if c.inner]
    pool = inner or [c for c in free.values() if c.moderator]

    def key(c: Candidate) -> tuple[bool, datetime, str]:
        same_zone = newcomer_tz is not None and c.timezone == newcomer_tz
        return (not same_zone, c.last_paired_at or _NEVER, c.user_id)

    return [c.user_id for c in sorted(pool, key=key)]


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The pair in a fixed order: (A, B) and (B, A) are one pair."""
    return (a, b) if a <= b else (b, a)


def ice_breaker(intro_id: int, *, has_domain: bool, objectives: list[str]) -> tuple[str, str | None]:
    """Which ice-breaker an intro carries: (catalogue key, the objective it names or None), drawn from
    the community's domain and objectives, varied by intro so that two intros of one community differ."""
    choices: list[tuple[str, str | None]] = []
    if has_domain:
        choices += [(key, None) for key in DOMAIN_ICE_BREAKERS]
    choices += [("pairing.ice_breaker.objective", objective) for objective in objectives]
    if not choices:
        return "pairing.ice_breaker.plain", None
    return choices[intro_id % len(choices)]


class OutcomeAnswer(StrEnum):
    RECORDED = "recorded"
    SAME = "same"  # pressed again: the same answer is already there
    ALREADY = "already"  # someone already gave a final answer


def next_outcome(current: str | None, pressed: Outcome) -> OutcomeAnswer:
    """The check-back's rule: the first answer is recorded; "not yet" can still become yes or no; a
    final answer (yes / no) stays, whoever presses next."""
    if current is None:
        return OutcomeAnswer.RECORDED
    if current == pressed.value:
        return OutcomeAnswer.SAME
    if current == Outcome.NOT_YET.value:
        return OutcomeAnswer.RECORDED
    return OutcomeAnswer.ALREADY


def valid_after_days(value: int | None) -> bool:
    return value is not None and AFTER_DAYS_MIN <= value <= AFTER_DAYS_MAX


def parse_introduce_value(raw: object) -> tuple[int, list[str]] | None:
    """The `lurkers_introduce` button's value, already JSON-decoded: {"c": community id, "u": [users]},
    at most MAX_INTRODUCE_AT_ONCE member ids. None when it is anything else."""
    if not isinstance(raw, dict):
        return None
    community, users = raw.get("c"), raw.get("u")
    if isinstance(community, bool) or not isinstance(community, int) or not 0 < community <= 2_147_483_647:
        return None
    if not isinstance(users, list) or not users or len(users) > MAX_INTRODUCE_AT_ONCE:
        return None
    if not all(isinstance(u, str) and _is_member_id(u) for u in users):
        return None
    return community, list(dict.fromkeys(users))


def _is_member_id(value: str) -> bool:
    return 1 < len(value) <= 32 and value[:1] in ("U", "W") and value.isascii() and value.isalnum()
