"""The lifecycle pass's reads and writes: set-based over every active community (GROUP BY community),
and only the communities whose state changed are written."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Community, LifecycleTransition, Membership


@dataclass(frozen=True)
class LifecycleRow:
    id: int
    team_id: str
    name: str
    language: str
    timezone: str
    created_by: str
    created_at: datetime
    cadence_weeks: int
    state: str | None


def active_communities(session: Session) -> list[LifecycleRow]:
    rows = session.execute(
        select(
            Community.id,
            Community.team_id,
            Community.name,
            Community.language,
            Community.timezone,
            Community.created_by,
            Community.created_at,
            Community.review_cadence_weeks,
            Community.lifecycle_state,
        )
        .where(Community.status == "active")
        .order_by(Community.id)
    ).all()
    return [LifecycleRow(*row) for row in rows]


def member_counts(session: Session) -> dict[int, int]:
    """Active members (moderators included) by community, counted by the database."""
    rows = (
        session.connection()
        .execute(
            select(Membership.community_id, func.count())
            .where(Membership.left_at.is_(None))
            .group_by(Membership.community_id)
        )
        .all()
    )
    return {int(community_id): int(count) for community_id, count in rows}


@dataclass(frozen=True)
class Change:
    team_id: str
    community_id: int
    from_state: str | None
    to_state: str
    reason: dict[str, Any]


def apply(session: Session, *, changes: Sequence[Change], now: datetime) -> None:
    """Each change: the community's state, since and reason (one executemany), and its transition (one
    insert). Guarded by the state read: a community another instance moved meanwhile is left alone."""
    if not changes:
        return
    # ORM bulk UPDATE by primary key: one executemany for the batch.
    session.execute(
        update(Community),
        [
            {
                "id": c.community_id,
                "lifecycle_state": c.to_state,
                "lifecycle_since": now,
                "lifecycle_reason": c.reason,
            }
            for c in changes
        ],
    )
    session.add_all(
        LifecycleTransition(
            team_id=c.team_id,
            community_id=c.community_id,
            from_state=c.from_state,
            to_state=c.to_state,
            reason=c.reason,
            at=now,
        )
        for c in changes
    )
    session.flush()


@dataclass(frozen=True)
class OwedNotice:
    transition_id: int
    community_id: int
    team_id: str
    name: str
    timezone: str
    created_by: str


def owed_dormant_notices(session: Session) -> list[OwedNotice]:
    """Transitions into "dormant" whose moderators' message is still owed, of communities still dormant
    and active (a community revived or dissolved meanwhile needs no message): few rows."""
    rows = session.execute(
        select(
            LifecycleTransition.id,
            Community.id,
            Community.team_id,
            Community.name,
            Community.timezone,
            Community.created_by,
        )
        .join(Community, Community.id == LifecycleTransition.community_id)
        .where(
            LifecycleTransition.to_state == "dormant",
            LifecycleTransition.notified_at.is_(None),
            Community.status == "active",
            Community.lifecycle_state == "dormant",
        )
        .order_by(LifecycleTransition.id)
    ).all()
    return [OwedNotice(*row) for row in rows]


def mark_notified(session: Session, *, transition_ids: Collection[int], now: datetime) -> None:
    if transition_ids:
        session.execute(
            update(LifecycleTransition)
            .where(LifecycleTransition.id.in_(sorted(set(transition_ids))))
            .values(notified_at=now)
        )


def moderators_of(session: Session, *, community_ids: Collection[int]) -> dict[int, list[str]]:
    """The moderators of these communities (few), in joining order."""
    result: dict[int, list[str]] = {}
    rows = session.execute(
        select(Membership.community_id, Membership.user_id)
        .where(
            Membership.community_id.in_(sorted(set(community_ids))),
            Membership.left_at.is_(None),
            Membership.role == "core",
        )
        .order_by(Membership.community_id, Membership.joined_at, Membership.id)
    ).all()
    for community_id, user_id in rows:
        result.setdefault(int(community_id), []).append(str(user_id))
    return result


def transitions(session: Session, *, community_id: int) -> list[LifecycleTransition]:
    return list(
        session.scalars(
            select(LifecycleTransition)
            .where(LifecycleTransition.community_id == community_id)
            .order_by(LifecycleTransition.id)
        ).all()
    )
