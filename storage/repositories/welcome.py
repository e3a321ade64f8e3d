"""The welcome, once: the membership's `welcomed_at` claim (compare-and-set) and what the welcome says."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, or_, update
from sqlalchemy.orm import Session

from storage.models import Membership

# Built once, with bound parameters, like the other statements of /cdp join's request path.
_MARK = (
    update(Membership)
    .where(
        Membership.team_id == bindparam("m_team_id"),
        Membership.community_id == bindparam("m_community_id"),
        Membership.user_id == bindparam("m_user_id"),
        Membership.left_at.is_(None),
        Membership.role == "member",
        # Once per joining: a welcome decided before this joining (an earlier stint) does not count.
        or_(Membership.welcomed_at.is_(None), Membership.welcomed_at < Membership.joined_at),
    )
    .values(welcomed_at=bindparam("m_now"))
    .returning(Membership.id)
    .execution_options(synchronize_session=False)
)


def mark_welcomed(session: Session, *, team_id: str, community_id: int, user_id: str, now: datetime) -> bool:
    """Claim the welcome of this membership: True for the one request that set `welcomed_at` (two join
    paths at once, a retried event: one of them welcomes)."""
    row = session.execute(
        _MARK, {"m_team_id": team_id, "m_community_id": community_id, "m_user_id": user_id, "m_now": now}
    ).first()
    return row is not None
