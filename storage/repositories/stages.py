"""Stages on the path of a community's objectives (bot/domain/stages.py): their history, and the
objectives and stage of a batch of communities in one statement (the review prompts' batch)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Community, StageChange


def record(
    session: Session,
    *,
    community: Community,
    from_stage: str | None,
    to_stage: str | None,
    changed_by: str,
    at: datetime,
    review_id: int | None = None,
) -> StageChange:
    change = StageChange(
        team_id=community.team_id,
        community_id=community.id,
        from_stage=from_stage,
        to_stage=to_stage,
        review_id=review_id,
        changed_by=changed_by,
        changed_at=at,
    )
    session.add(change)
    return change


def changes(session: Session, *, community_id: int) -> list[StageChange]:
    """A community's moves, oldest first."""
    return list(
        session.scalars(
            select(StageChange).where(StageChange.community_id == community_id).order_by(StageChange.id)
        )
    )


def of_communities(
    session: Session, *, community_ids: Collection[int]
) -> dict[int, tuple[list[str], str | None]]:
    """(objectives, stage) by community, for these communities."""
    if not community_ids:
        return {}
    rows = session.execute(
        select(Community.id, Community.objectives, Community.stage).where(
            Community.id.in_(sorted(set(community_ids)))
        )
    ).all()
    return {int(row[0]): (list(row[1] or []), row[2]) for row in rows}


def moved_by(session: Session, *, team_id: str, user_id: str) -> list[StageChange]:
    """The stage changes a person made (their `/cdp privacy export`), oldest first."""
    return list(
        session.scalars(
            select(StageChange)
            .where(StageChange.team_id == team_id, StageChange.changed_by == user_id)
            .order_by(StageChange.id)
        )
    )


def forget(session: Session, *, team_id: str, user_id: str, former: str) -> int:
    """The moves stay the community's (it did move on), no longer by whom."""
    result = session.execute(
        update(StageChange)
        .where(StageChange.team_id == team_id, StageChange.changed_by == user_id)
        .values(changed_by=former)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
