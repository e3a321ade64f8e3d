"""follow_ups: a review's "no" or "partly" turned into something to do (issue 11, item 5).

Every read is of open follow-ups only (`done_at IS NULL`), by an index: a set of communities (the
moderators' Home, a batch of review prompts) or one owner (their Home)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from storage.models import Community, FollowUp
from storage.repositories.upsert import insert_ignoring_conflicts


@dataclass(frozen=True)
class OpenRow:
    id: int
    community_id: int
    community_name: str
    timezone: str  # the community's: when the follow-up is overdue
    text: str
    owner_id: str
    due_on: date


def get(session: Session, *, team_id: str, follow_up_id: int) -> FollowUp | None:
    row = session.get(FollowUp, follow_up_id)
    return row if row is not None and row.team_id == team_id else None


def of_review_item(session: Session, *, review_id: int, item: str) -> FollowUp | None:
    return session.scalars(
        select(FollowUp).where(FollowUp.review_id == review_id, FollowUp.item == item)
    ).one_or_none()


def add(session: Session, *, values: dict[str, object]) -> int | None:
    """Insert one; its id, or None when the review's item already has one (two submissions, two
    moderators): ON CONFLICT DO NOTHING, so the caller's transaction goes on either way."""
    statement = insert_ignoring_conflicts(session, FollowUp, ["review_id", "item"]).values(**values)
    inserted = session.execute(statement.returning(FollowUp.id)).scalar_one_or_none()
    return int(inserted) if inserted is not None else None


def mark_done(session: Session, *, follow_up_id: int, user_id: str, now: datetime) -> bool:
    """Compare-and-set: True for the one press that marks it done."""
    result = session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up_id, FollowUp.done_at.is_(None))
        .values(done_at=now, done_by=user_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def _open() -> Select[int, int, str, str, str, str, date]:  # the columns of OpenRow, in its order
    query = (
        select(
            FollowUp.id,
            FollowUp.community_id,
            Community.name,
            Community.timezone,
            FollowUp.text,
            FollowUp.owner_id,
            FollowUp.due_on,
        )
        .join(Community, Community.id == FollowUp.community_id)
        .where(FollowUp.done_at.is_(None), Community.status == "active")
        .order_by(FollowUp.due_on, FollowUp.id)
    )
    return query


def open_of_communities(session: Session, *, community_ids: Collection[int]) -> list[OpenRow]:
    """The open follow-ups of these communities, soonest due first (one query)."""
    if not community_ids:
        return []
    query = _open().where(FollowUp.community_id.in_(sorted(set(community_ids))))
    return [OpenRow(*row) for row in session.execute(query).all()]


def open_of_owner(session: Session, *, team_id: str, owner_id: str) -> list[OpenRow]:
    """One person's open follow-ups, in every active community, soonest due first (one query)."""
    query = _open().where(FollowUp.team_id == team_id, FollowUp.owner_id == owner_id)
    return [OpenRow(*row) for row in session.execute(query).all()]


def naming(session: Session, *, team_id: str, user_id: str) -> list[tuple[FollowUp, str]]:
    """Every follow-up the person owns, made or marked done, with its community's name (their export)."""
    rows = session.execute(
        select(FollowUp, Community.name)
        .join(Community, Community.id == FollowUp.community_id)
        .where(
            FollowUp.team_id == team_id,
            (FollowUp.owner_id == user_id) | (FollowUp.created_by == user_id) | (FollowUp.done_by == user_id),
        )
        .order_by(FollowUp.id)
    ).all()
    return [(row, name) for row, name in rows]


def sponsored(session: Session, *, team_id: str, user_id: str) -> list[str]:
    """The communities that name the person as their sponsor (their export)."""
    return list(
        session.scalars(
            select(Community.name)
            .where(Community.team_id == team_id, Community.sponsor_id == user_id)
            .order_by(Community.name)
        )
    )
