"""Newcomers marked as greeted by a moderator's button (the named lurker alert)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from storage.models import Membership


def mark_greeted(
    session: Session, *, team_id: str, community_id: int, user_ids: Sequence[str], now: datetime
) -> list[str]:
    """Compare-and-set: mark these members greeted unless they already were (or left, or moderate);
    the ones this statement marked, in the order given. Of two presses, only one marks each newcomer:
    only that one posts a welcome for them."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    marked = set(
        session.execute(
            update(Membership)
            .where(
                Membership.team_id == team_id,
                Membership.community_id == community_id,
                Membership.user_id.in_(wanted),
                Membership.left_at.is_(None),
                Membership.role != "core",
                Membership.greeted_at.is_(None),
            )
            .values(greeted_at=now)
            .returning(Membership.user_id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    return [u for u in wanted if u in marked]
