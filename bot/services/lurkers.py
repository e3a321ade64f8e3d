"""The named lurker alert's buttons (issue 10, item 4): a moderator welcomes the newcomers waiting in
the channel with one press, or marks them as greeted. Refused (CommunityProblem) for a community that
is gone or dissolved, or for someone who is not one of its moderators (nor a workspace admin)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.services import communities as community_service
from bot.services.communities import CommunityProblem
from storage.models import Community
from storage.repositories import greetings as greeting_repo


@dataclass(frozen=True)
class Welcome:
    community: Community
    channel_id: str
    welcomed: list[str]  # the newcomers this press greeted (none when they all already were)


def _moderated(
    session: Session, *, team_id: str, community_id: int, user_id: str, is_admin: bool
) -> Community:
    community = community_service.require_by_id(session, team_id=team_id, community_id=community_id)
    community_service.require_active(community)
    community_service.require_moderator(session, community=community, user_id=user_id, is_admin=is_admin)
    return community


def main_channel(community: Community) -> str | None:
    """Where the community talks: its first bound channel still open."""
    open_channels = sorted((c for c in community.channels if not c.is_archived), key=lambda c: c.id)
    return open_channels[0].channel_id if open_channels else None


def post_welcome(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    user_ids: Sequence[str],
    moderator: str,
    is_admin: bool,
    now: datetime,
) -> Welcome:
    """Mark the newcomers greeted (those not greeted yet) and say where the welcome goes; the caller
    writes it to the outbox in this transaction."""
    community = _moderated(
        session, team_id=team_id, community_id=community_id, user_id=moderator, is_admin=is_admin
    )
    channel = main_channel(community)
    if channel is None:
        raise CommunityProblem("buttons.lurkers.no_channel", name=community.name)
    welcomed = greeting_repo.mark_greeted(
        session, team_id=team_id, community_id=community_id, user_ids=user_ids, now=now
    )
    return Welcome(community, channel, welcomed)


def mark_greeted(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    user_ids: Sequence[str],
    moderator: str,
    is_admin: bool,
    now: datetime,
) -> tuple[Community, list[str]]:
    """ "Mark as greeted" on a named alert: these newcomers (not greeted yet) are marked greeted."""
    community = _moderated(
        session, team_id=team_id, community_id=community_id, user_id=moderator, is_admin=is_admin
    )
    marked = greeting_repo.mark_greeted(
        session, team_id=team_id, community_id=community_id, user_ids=user_ids, now=now
    )
    return community, marked
