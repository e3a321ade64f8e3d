"""reviews and alerts: each reminder is claimed here, with a unique key, before it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Alert, Community, Review
from storage.repositories.upsert import insert_ignoring_conflicts


def get(session: Session, *, team_id: str, review_id: int) -> Review | None:
    review = session.get(Review, review_id)
    return review if review is not None and review.team_id == team_id else None


def by_id(session: Session, review_id: int) -> Review | None:
    return session.get(Review, review_id)


def ensure(
    session: Session, *, team_id: str, community_id: int, due_on: date, on_demand: bool = False
) -> Review:
    """The review of `community` due on `due_on`, created if needed: two instances create one row."""
    session.execute(
        insert_ignoring_conflicts(session, Review, ["team_id", "community_id", "due_on"]).values(
            team_id=team_id, community_id=community_id, due_on=due_on, on_demand=on_demand, escalation_level=0
        )
    )
    return session.scalars(
        select(Review).where(
            Review.team_id == team_id, Review.community_id == community_id, Review.due_on == due_on
        )
    ).one()


def claim(session: Session, *, review_id: int, now: datetime, stale_before: datetime) -> bool:
    """Take the right to send a review's prompt: only if unsent and unclaimed (or its claim went stale).

    A compare-and-set UPDATE: of two instances (or two ticks) exactly one gets the row back.
    """
    statement = (
        update(Review)
        .where(
            Review.id == review_id,
            Review.sent_at.is_(None),
            Review.completed_at.is_(None),
            or_(Review.claimed_at.is_(None), Review.claimed_at < stale_before),
        )
        .values(claimed_at=now)
        .returning(Review.id)
    )
    return session.execute(statement).first() is not None


def complete(session: Session, *, review_id: int, values: dict[str, Any]) -> bool:
    """Record a review's answers and decision, once: of two submissions, the first completes it."""
    statement = (
        update(Review)
        .where(Review.id == review_id, Review.completed_at.is_(None))
        .values(**values)
        .returning(Review.id)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).first() is not None


def release(session: Session, *, review_id: int) -> None:
    """The send failed: let the next tick try again."""
    session.execute(
        update(Review).where(Review.id == review_id, Review.sent_at.is_(None)).values(claimed_at=None)
    )


def advance(
    session: Session,
    *,
    review_id: int,
    from_level: int,
    snoozed_until: datetime | None,
    to_level: int,
    values: dict[str, Any],
) -> bool:
    """Move an open review to its next step, once: compare-and-set on the level and the snooze."""
    snooze_matches = (
        Review.snoozed_until.is_(None) if snoozed_until is None else Review.snoozed_until == snoozed_until
    )
    statement = (
        update(Review)
        .where(
            Review.id == review_id,
            Review.escalation_level == from_level,
            snooze_matches,
            Review.completed_at.is_(None),
        )
        .values(escalation_level=to_level, **values)
        .returning(Review.id)
    )
    return session.execute(statement).first() is not None


def unsent(session: Session) -> Sequence[Review]:
    return session.scalars(
        select(Review)
        .join(Community, Community.id == Review.community_id)
        .where(Review.sent_at.is_(None), Review.completed_at.is_(None), Community.status == "active")
        .order_by(Review.id)
    ).all()


def open_sent(session: Session) -> Sequence[Review]:
    return session.scalars(
        select(Review)
        .join(Community, Community.id == Review.community_id)
        .where(Review.sent_at.is_not(None), Review.completed_at.is_(None), Community.status == "active")
        .order_by(Review.id)
    ).all()


def previous(session: Session, *, team_id: str, community_id: int, before_id: int) -> Review | None:
    """The last review that went out before this one (the baseline of its summary)."""
    return session.scalars(
        select(Review)
        .where(
            Review.team_id == team_id,
            Review.community_id == community_id,
            Review.id != before_id,
            or_(Review.sent_at.is_not(None), Review.completed_at.is_not(None)),
        )
        .order_by(Review.id.desc())
    ).first()


def latest_done(session: Session, *, team_id: str, community_id: int) -> Review | None:
    return session.scalars(
        select(Review)
        .where(
            Review.team_id == team_id,
            Review.community_id == community_id,
            and_(
                Review.inner_count.is_not(None),
                or_(Review.sent_at.is_not(None), Review.completed_at.is_not(None)),
            ),
        )
        .order_by(Review.id.desc())
    ).first()


def claim_alert(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    kind: str,
    period: str,
    now: datetime,
    figures: dict[str, int],
) -> Alert | None:
    """Insert the alert's unique row; None when this kind already fired this period."""
    statement = (
        insert_ignoring_conflicts(session, Alert, ["team_id", "community_id", "kind", "period"])
        .values(
            team_id=team_id,
            community_id=community_id,
            kind=kind,
            period=period,
            claimed_at=now,
            figures=figures,
        )
        .returning(Alert.id)
    )
    row = session.execute(statement).first()
    return session.get(Alert, row[0]) if row is not None else None


def stale_unsent_alerts(session: Session, *, stale_before: datetime) -> Sequence[Alert]:
    return session.scalars(
        select(Alert).where(Alert.sent_at.is_(None), Alert.claimed_at < stale_before).order_by(Alert.id)
    ).all()


def drop_alert(session: Session, *, alert_id: int) -> None:
    session.execute(delete(Alert).where(Alert.id == alert_id, Alert.sent_at.is_(None)))


def mark_alert_sent(session: Session, *, alert_id: int, now: datetime) -> None:
    session.execute(update(Alert).where(Alert.id == alert_id).values(sent_at=now))


def alerts_for(session: Session, *, team_id: str, community_id: int) -> Sequence[Alert]:
    return session.scalars(
        select(Alert).where(Alert.team_id == team_id, Alert.community_id == community_id).order_by(Alert.id)
    ).all()


def for_community(session: Session, *, team_id: str, community_id: int) -> Sequence[Review]:
    return session.scalars(
        select(Review)
        .where(Review.team_id == team_id, Review.community_id == community_id)
        .order_by(Review.id)
    ).all()
