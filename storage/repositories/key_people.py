"""key people: which of the people a community named at creation are members now."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Community, Membership


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


def named_for(session: Session, *, community_ids: Collection[int]) -> dict[int, list[str]]:
    """The key people of each community that named some (one query for a batch of review prompts)."""
    if not community_ids:
        return {}
    rows = session.execute(
        select(Community.id, Community.key_people).where(Community.id.in_(sorted(set(community_ids))))
    ).all()
    return {community_id: list(people) for community_id, people in rows if people}


def active_pairs(
    session: Session, *, team_id: str, community_ids: Collection[int], user_ids: Collection[str]
) -> set[tuple[int, str]]:
    """(community, user) of the active memberships among these communities and people: the key people
    of a moderator's communities, in one query (the App Home)."""
    if not community_ids or not user_ids:
        return set()
    rows = session.execute(
        select(Membership.community_id, Membership.user_id).where(
            Membership.team_id == team_id,
            Membership.community_id.in_(sorted(set(community_ids))),
            Membership.user_id.in_(sorted(set(user_ids))),
            Membership.left_at.is_(None),
        )
    ).all()
    return {(community_id, user_id) for community_id, user_id in rows}
