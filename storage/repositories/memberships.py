"""memberships: who belongs to which community, in which role and circle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session, joinedload

from storage.models import Community, JoinRequest, Membership
from storage.repositories.upsert import (
    dialect_insert,
    prepared_insert_ignoring_conflicts,
)

MEMBERSHIP_KEY = ["team_id", "community_id", "user_id"]
# Changed rows are fetched back into the session, so the objects callers hold show what the UPDATE did.
FETCH = {"synchronize_session": "fetch"}


# Statements on the request path of slash commands are built once, with bound parameters: building a
# select (coercing each clause) and computing its cache key cost more CPU than the query itself.
_GET = select(Membership).where(
    Membership.team_id == bindparam("team_id"),
    Membership.community_id == bindparam("community_id"),
    Membership.user_id == bindparam("user_id"),
)


def get(session: Session, *, team_id: str, community_id: int, user_id: str) -> Membership | None:
    return session.scalars(
        _GET, {"team_id": team_id, "community_id": community_id, "user_id": user_id}
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


# Built once, with bound parameters (every join, welcome and review reads it). On the ORM entity, not
# the table: the session flushes pending memberships before it runs, so a moderator just added counts.
MODERATORS = (
    select(Membership.user_id)
    .where(
        Membership.team_id == bindparam("team_id"),
        Membership.community_id == bindparam("community_id"),
        Membership.left_at.is_(None),
        Membership.role == "core",
    )
    .order_by(Membership.joined_at, Membership.id)
)


def moderators(session: Session, *, team_id: str, community_id: int) -> list[str]:
    """The core group as the database says now (the role is compared in SQL, not on objects the session
    may have loaded before another transaction changed them)."""
    return list(session.scalars(MODERATORS, {"team_id": team_id, "community_id": community_id}))


def moderators_of(
    session: Session, *, community_ids: Iterable[int], team_id: str | None = None
) -> dict[int, list[str]]:
    """The core group of each community, by one query (the directory, the clock: not one per community).
    Every id asked about is a key, with an empty list when nobody moderates it; `team_id` narrows the
    query to one workspace (the directory), the clock's batches span several."""
    ids = sorted(set(community_ids))
    result: dict[int, list[str]] = {community_id: [] for community_id in ids}
    if not ids:
        return result
    rows = session.execute(
        select(Membership.community_id, Membership.user_id)
        .where(
            *([Membership.team_id == team_id] if team_id is not None else []),
            Membership.community_id.in_(ids),
            Membership.left_at.is_(None),
            Membership.role == "core",
        )
        .order_by(Membership.community_id, Membership.joined_at, Membership.id)
    ).all()
    for community_id, user_id in rows:
        result[community_id].append(user_id)
    return result


# Built once, like _GET.
_WITH_COMMUNITIES = (
    select(Membership, Community)
    .join(Community, Community.id == Membership.community_id)
    .where(
        Membership.team_id == bindparam("team_id"),
        Membership.user_id == bindparam("user_id"),
        Membership.left_at.is_(None),
    )
    .order_by(Membership.id)
    # Joined, not selectin: one round trip instead of two (a person's communities have few channels).
    .options(joinedload(Community.channels))
)


def with_communities(
    session: Session, *, team_id: str, user_id: str
) -> Sequence[tuple[Membership, Community]]:
    """The person's active memberships with their communities (and channels), by two statements however
    many communities they belong to."""
    rows = session.execute(_WITH_COMMUNITIES, {"team_id": team_id, "user_id": user_id}).unique().all()
    return [(membership, community) for membership, community in rows]


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


def insert_if_absent(session: Session, values: dict[str, Any]) -> bool:
    """Insert a membership unless one exists for (team, community, user): True when this call did.

    Two requests adding the same person at once (two messages from a newcomer, two joins) both get
    an answer: one inserts, the other finds the row, instead of a unique-key error.
    """
    statement = prepared_insert_ignoring_conflicts(session, Membership, tuple(MEMBERSHIP_KEY), returning="id")
    return session.execute(statement, values).first() is not None


def rejoin(session: Session, *, membership_id: int, values: dict[str, Any]) -> bool:
    """Bring back a member who had left, once: of two concurrent joins, one changes the row."""
    result = session.execute(
        update(Membership)
        .where(Membership.id == membership_id, Membership.left_at.is_not(None))
        .values({**values, "left_at": None})
        .returning(Membership.id)
        .execution_options(**FETCH)
    )
    return result.first() is not None


def make_core(session: Session, *, membership_id: int) -> bool:
    """Name an active member moderator, once (the request that did it is the one that says so)."""
    result = session.execute(
        update(Membership)
        .where(Membership.id == membership_id, Membership.left_at.is_(None), Membership.role != "core")
        .values(role="core")
        .returning(Membership.id)
        .execution_options(**FETCH)
    )
    return result.first() is not None


def move_circle(
    session: Session, *, membership_id: int, from_circle: str, to_circle: str, now: datetime
) -> bool:
    """Move an active member from one circle to the other, once: of two messages crossing the inner
    circle's threshold together, one moves them (and sends the note); the other finds them moved."""
    result = session.execute(
        update(Membership)
        .where(Membership.id == membership_id, Membership.circle == from_circle, Membership.left_at.is_(None))
        .values(circle=to_circle, circle_since=now)
        .returning(Membership.id)
        .execution_options(**FETCH)
    )
    return result.first() is not None


def end(session: Session, *, membership_id: int, now: datetime) -> bool:
    """End an active membership, once."""
    result = session.execute(
        update(Membership)
        .where(Membership.id == membership_id, Membership.left_at.is_(None))
        .values(left_at=now, role="member", changed_at=now)
        .returning(Membership.id)
        .execution_options(**FETCH)
    )
    return result.first() is not None


def pending_request(session: Session, *, team_id: str, community_id: int, user_id: str) -> JoinRequest | None:
    return session.scalars(
        select(JoinRequest).where(
            JoinRequest.team_id == team_id,
            JoinRequest.community_id == community_id,
            JoinRequest.user_id == user_id,
            JoinRequest.status == "pending",
        )
    ).first()


# A literal, not a bound parameter: PostgreSQL infers the partial unique index of ON CONFLICT when it
# plans, and a prepared statement's generic plan cannot match "status = $1" to it.
PENDING_PREDICATE = text("status = 'pending'")


def add_request(
    session: Session, *, team_id: str, community_id: int, user_id: str, now: datetime
) -> int | None:
    """A pending request, unless one is pending already (a partial unique index): its id, else None."""
    statement = (
        dialect_insert(session, JoinRequest)
        .values(
            team_id=team_id, community_id=community_id, user_id=user_id, status="pending", requested_at=now
        )
        # The conflict target is the partial index: only pending requests collide.
        .on_conflict_do_nothing(index_elements=MEMBERSHIP_KEY, index_where=PENDING_PREDICATE)
        .returning(JoinRequest.id)
    )
    row = session.execute(statement).first()
    return int(row[0]) if row is not None else None


def decide_request(session: Session, *, request_id: int, status: str, moderator: str, now: datetime) -> bool:
    """Approve or decline, once: compare-and-set on `pending`. False when someone decided first."""
    result = session.execute(
        update(JoinRequest)
        .where(JoinRequest.id == request_id, JoinRequest.status == "pending")
        .values(status=status, decided_by=moderator, decided_at=now)
        .returning(JoinRequest.id)
        .execution_options(**FETCH)
    )
    return result.first() is not None


def all_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[Membership]:
    return session.scalars(
        select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id)
    ).all()


def requests_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[JoinRequest]:
    return session.scalars(
        select(JoinRequest).where(JoinRequest.team_id == team_id, JoinRequest.user_id == user_id)
    ).all()
