"""Republish App Home when something of someone's changes (a join, a leave, a circle change, a decided
join request, a review), for the people who have opened it once, through the outbox.

A hook is one call in the service that made the change, inside its transaction: what is published is
read by the outbox worker after the commit. Changes close together share one publish: every refresh
of a person within the same REFRESH_SECONDS window has one dedupe key, and is sent at the end of the
window, so it shows all of them (a join and the moderators' count, a pass moving twenty members).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.services import outbox
from storage.repositories import home as home_repo

REFRESH_SECONDS = 2.0


def window(now: datetime) -> tuple[int, datetime]:
    """The burst window `now` falls in, and when it ends (when its one publish goes out)."""
    number = int(now.timestamp() // REFRESH_SECONDS)
    return number, datetime.fromtimestamp((number + 1) * REFRESH_SECONDS, UTC)


def refresh(
    session: Session,
    *,
    team_id: str,
    user_ids: Collection[str] = (),
    community_ids: Collection[int] = (),
    all_members: bool = False,
) -> int:
    """Republish the Home of `user_ids` and of the moderators of `community_ids` (their figures, their
    pending requests changed; `all_members`: every member, the community itself changed), for those
    who opened it once; returns how many were queued."""
    opened = home_repo.opened_concerned(
        session,
        team_id=team_id,
        user_ids=[u for u in user_ids if u],
        community_ids=community_ids,
        all_members=all_members,
    )
    queued = 0
    for row in rows(team_id=team_id, users=opened, now=outbox.transport_now()):
        queued += outbox.add_row(session, row)
    return queued


def rows(*, team_id: str, users: Collection[str], now: datetime) -> list[dict[str, Any]]:
    """The refreshes of these people's Homes (who opened it) as deliveries, sharing the window of `now`."""
    number, ends = window(now)
    return [
        outbox.home_row(team_id=team_id, user=user, once=f"home:{team_id}:{user}:{number}", not_before=ends)
        for user in users
    ]
