"""memberships: who belongs to which community, in which role and circle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import JoinRequest, Membership


def get(session: Session, *, team_id: str, community_id: int, user_id: str) -> Membership | None:
    return session.scalars(
        select(Membership).where(
            Membership.team_id == team_id,
            Membership.community_id == community_id,
            Membership.user_id == user_id,
        )
    ).one_or_none()


def active(session: Session, *, team_id: str, community_id: int) -> Sequence[Membership]:
    return session.scalars(
        select(Membership)
        .where(
            Membership.team_id == team_id,
            Membership.community_id == community_id,
            Membership.left_at.is_(None),
        )
        .order_by(Membership.joined_at, Membership.id)
    ).all()


def active_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[Membership]:
    return session.scalars(
        select(Membership).where(
            Membership.team_id == team_id, Membership.user_id == user_id, Membership.left_at.is_(None)
        )
    ).all()


def moderators(session: Session, *, team_id: str, community_id: int) -> list[str]:
    return [
        m.user_id for m in active(session, team_id=team_id, community_id=community_id) if m.role == "core"
    ]


def counts(session: Session, *, team_id: str, community_ids: Iterable[int]) -> dict[int, Counter[str]]:
    """Per community: active members by `core`, `inner`, `outer` (core members count as core only)."""
    ids = list(community_ids)
    result: dict[int, Counter[str]] = {community_id: Counter() for community_id in ids}
    if not ids:
        return result
    rows = session.execute(
        select(Membership.community_id, Membership.role, Membership.circle, func.count())
        .where(Membership.team_id == team_id, Membership.community_id.in_(ids), Membership.left_at.is_(None))
        .group_by(Membership.community_id, Membership.role, Membership.circle)
    ).all()
    for community_id, role, circle, number in rows:
        result[community_id]["core" if role == "core" else circle] += number
    return result


def add(session: Session, membership: Membership) -> Membership:
    session.add(membership)
    session.flush()
    return membership


def pending_request(session: Session, *, team_id: str, community_id: int, user_id: str) -> JoinRequest | None:
    return session.scalars(
        select(JoinRequest).where(
            JoinRequest.team_id == team_id,
            JoinRequest.community_id == community_id,
            JoinRequest.user_id == user_id,
            JoinRequest.status == "pending",
        )
    ).first()


def add_request(session: Session, request: JoinRequest) -> JoinRequest:
    session.add(request)
    session.flush()
    return request


def all_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[Membership]:
    return session.scalars(
        select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id)
    ).all()


def requests_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[JoinRequest]:
    return session.scalars(
        select(JoinRequest).where(JoinRequest.team_id == team_id, JoinRequest.user_id == user_id)
    ).all()
