"""key people: which of the people a community named at creation are members now."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Membership


def active_among(session: Session, *, team_id: str, community_id: int, user_ids: Sequence[str]) -> set[str]:
    """The `user_ids` with an active membership of the community (one indexed query)."""
    if not user_ids:
        return set()
    return set(
        session.scalars(
            select(Membership.user_id).where(
                Membership.team_id == team_id,
                Membership.community_id == community_id,
                Membership.user_id.in_(list(user_ids)),
                Membership.left_at.is_(None),
            )
        )
    )
