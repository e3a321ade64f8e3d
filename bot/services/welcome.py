"""The welcome, once (issue 10, item 1): decided in the joining transaction, gathered when it is sent.

A newcomer who joins (the channel in Slack, `/cdp join`, an approved request) is welcomed once: the
membership's `welcomed_at` is claimed (compare-and-set) and the welcome written to the outbox in the
same transaction, so a retried event, a second join path or a crash never welcomes twice. Who the
moderators are, the channels and the moderators' text are read when it is sent (bot.outbox), so the
request path pays one UPDATE and one INSERT for it. No Slack here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.domain import welcome as rules
from bot.domain.welcome import Before
from bot.services import outbox
from storage.db import OneStatement
from storage.models import Community, Membership
from storage.repositories import communities as community_repo
from storage.repositories import welcome as repo


def before(membership: Membership | None) -> Before | None:
    """What the welcome rule needs of the membership as it was before a join (read before the join
    changes it: a re-join clears `left_at`)."""
    if membership is None:
        return None
    return Before(left_at=membership.left_at, joined_via=membership.joined_via)


def offer(
    session: Session,
    *,
    community: Community,
    user_id: str,
    previous: Before | None,
    now: datetime,
    at: datetime | None = None,
    channel_id: str | None = None,
) -> bool:
    """Someone just became a (non-core) member of `community` (at `at`, the event's time when Slack told
    us): welcome them, ephemerally in `channel_id` when they joined it in Slack, else by DM. True when
    this call wrote the welcome."""
    joined = at or now
    due = rules.welcome_due(
        role="member",
        before=previous,
        at=joined,
        enabled=community.welcome_enabled,
        active=community.status == "active",
    )
    if not due:
        return False
    team_id = community.team_id
    if not repo.mark_welcomed(session, team_id=team_id, community_id=community.id, user_id=user_id, now=now):
        return False  # a moderator (role core), or welcomed already for this joining
    return outbox.welcome(
        session,
        team_id=team_id,
        user=user_id,
        community_id=community.id,
        channel=channel_id,
        once=once_key(team_id=team_id, community_id=community.id, user_id=user_id, joined=joined),
    )


@dataclass(frozen=True)
class Content:
    """What a welcome says, read when it is sent."""

    community_id: int
    name: str
    domain: str
    objectives: tuple[str, ...]
    objectives_other: str
    moderators: tuple[str, ...]
    channels: tuple[str, ...]  # the open channels (one per sub-issue), ids
    language: str  # the community's: for a newcomer whose Slack locale we do not speak
    text: str | None  # the moderators' own words; None: the default from the card
    min_contributions: int
    min_days: int
    window_days: int
    still_due: bool  # the community is active and its welcome switched on


def content(unit: OneStatement, *, team_id: str, community_id: int) -> Content | None:
    """The welcome of `community_id` as it should read now; None when the community is gone. `unit`: a
    Session, or on PostgreSQL a pooled connection's driver (the outbox worker: one statement)."""
    found = repo.source(unit, team_id=team_id, community_id=community_id)
    if found is None:
        return None
    community, channels, moderators = found
    return Content(
        community_id=community.id,
        name=community.name,
        domain=community.domain,
        objectives=tuple(community.objectives),
        objectives_other=community.objectives_other,
        moderators=tuple(moderators),
        channels=tuple(channels),
        language=community.language,
        text=community.welcome_text,
        min_contributions=community.inner_min_contributions,
        min_days=community.inner_min_days,
        window_days=community.circle_window_days,
        still_due=community.status == "active" and community.welcome_enabled,
    )


class NotNow:
    """What "Not now" under a welcome answers: nothing changes, whichever it is."""

    FINE = "fine"
    DISSOLVED = "dissolved"
    UNKNOWN = "unknown"


def not_now(session: Session, *, team_id: str, community_id: int) -> tuple[str, str]:
    """ "Not now" pressed: (NotNow.*, the community's name). It changes nothing: reading is fine."""
    community = None
    if community_id:
        community = community_repo.get(session, team_id=team_id, community_id=community_id)
    if community is None:
        return NotNow.UNKNOWN, ""
    if community.status != "active":
        return NotNow.DISSOLVED, community.name
    return NotNow.FINE, community.name


def apply_settings(community: Community, *, enabled: bool, text: str) -> None:
    """The settings form's welcome switch and text (empty text: back to the default from the card)."""
    community.welcome_enabled = enabled
    community.welcome_text = text.strip() or None


def once_key(*, team_id: str, community_id: int, user_id: str, joined: datetime) -> str:
    """A welcome's dedupe key: one per joining (a later joining is welcomed again, if due)."""
    return f"welcome:{team_id}:{community_id}:{user_id}:{joined.timestamp():.0f}"
