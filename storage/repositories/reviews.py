"""reviews and alerts: each reminder is claimed here, with a unique key, before it is sent."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, text, update
from sqlalchemy.orm import Session

from bot.domain import cadence
from storage.models import Alert, Community, Review
from storage.repositories.upsert import insert_ignoring_conflicts
from storage.schedule import CLAIM_LEASE, DUE_AT_ONCE, REVIEWS
from storage.types import UTCDateTime


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
            team_id=team_id,
            community_id=community_id,
            due_on=due_on,
            on_demand=on_demand,
            escalation_level=0,
            next_step_at=DUE_AT_ONCE,
        )
    )
    return session.scalars(
        select(Review).where(
            Review.team_id == team_id, Review.community_id == community_id, Review.due_on == due_on
        )
    ).one()


# Reviews opened per tick, at most: the oldest due first, the rest on the next minutes' ticks. Bounded so
# that a burst (thousands of communities created together, a restart after downtime) never builds a
# statement past the driver's 65,535 parameters, which would fail every tick and open nothing.
OPEN_PER_TICK = 2000


def open_due(session: Session, *, now: datetime, limit: int = OPEN_PER_TICK) -> int:
    """Create the review of every active community whose review date has come (the `limit` most overdue),
    and clear its due time (the review row now carries the schedule). Reads only `next_due_at <= now` (an
    index range scan); of two instances, both may insert, the unique key keeps one row."""
    due = session.execute(
        select(Community.id, Community.team_id, Community.next_review_on)
        .where(Community.next_due_at <= now, Community.status == "active")
        .order_by(Community.next_due_at, Community.id)
        .limit(limit)
    ).all()
    if not due:
        return 0
    rows = [
        {
            "team_id": team_id,
            "community_id": community_id,
            "due_on": day,
            "on_demand": False,
            "escalation_level": 0,
            "next_step_at": DUE_AT_ONCE,
        }
        for community_id, team_id, day in due
        if day is not None
    ]
    if rows:
        session.execute(
            insert_ignoring_conflicts(session, Review, ["team_id", "community_id", "due_on"]).values(rows)
        )
    session.execute(
        update(Community)
        .where(Community.id.in_([row[0] for row in due]), Community.next_due_at <= now)
        .values(next_due_at=None)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


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
        .values(claimed_at=now, next_step_at=now + CLAIM_LEASE)
        .returning(Review.id)
    )
    return session.execute(statement).first() is not None


def claim_many(
    session: Session, *, review_ids: Collection[int], now: datetime, stale_before: datetime
) -> list[int]:
    """`claim` for a batch, in one statement: the ids this caller won (the others are another's)."""
    if not review_ids:
        return []
    statement = (
        update(Review)
        .where(
            Review.id.in_(list(review_ids)),
            Review.sent_at.is_(None),
            Review.completed_at.is_(None),
            or_(Review.claimed_at.is_(None), Review.claimed_at < stale_before),
        )
        .values(claimed_at=now, next_step_at=now + CLAIM_LEASE)
        .returning(Review.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(int(row[0]) for row in session.execute(statement))


def mark_sent_many(session: Session, *, sent: Sequence[dict[str, Any]], now: datetime) -> None:
    """The prompts of a batch went to the outbox: sent, with the circles as they were, and the first
    escalation's time as the next step. `sent`: dicts of rid, core, inner, outer."""
    if not sent:
        return
    first_reminder = now + cadence.Escalation.MODERATORS_REMINDER.delay
    session.execute(
        update(REVIEWS)
        .where(REVIEWS.c.id == bindparam("rid"))
        .values(
            sent_at=now,
            core_count=bindparam("core"),
            inner_count=bindparam("inner"),
            outer_count=bindparam("outer"),
            next_step_at=first_reminder,
        ),
        list(sent),
    )


def reschedule(session: Session, *, steps: Sequence[dict[str, Any]]) -> None:
    """Move the next step of some reviews (`rid`, `step`): e.g. to the next working hour."""
    if steps:
        session.execute(
            update(REVIEWS).where(REVIEWS.c.id == bindparam("rid")).values(next_step_at=bindparam("step")),
            list(steps),
        )


@dataclass(frozen=True)
class DueReview:
    """An open review whose next step has come, with what the tick needs of its community."""

    id: int
    team_id: str
    community_id: int
    claimed_at: datetime | None
    sent_at: datetime | None
    escalation_level: int
    snoozed_until: datetime | None
    timezone: str
    created_by: str
    answers_due_at: datetime | None = None  # a review done together: when the tick closes it


def due(session: Session, *, now: datetime, limit: int = 1000) -> list[DueReview]:
    """Open reviews of active communities whose `next_step_at` has come (an index range scan)."""
    rows = session.execute(
        select(
            Review.id,
            Review.team_id,
            Review.community_id,
            Review.claimed_at,
            Review.sent_at,
            Review.escalation_level,
            Review.snoozed_until,
            Community.timezone,
            Community.created_by,
            Review.answers_due_at,
        )
        .join(Community, Community.id == Review.community_id)
        .where(Review.next_step_at <= now, Review.completed_at.is_(None), Community.status == "active")
        .order_by(Review.next_step_at, Review.id)
        .limit(limit)
    ).all()
    return [DueReview(**dict(row._mapping)) for row in rows]


def complete(session: Session, *, review_id: int, values: dict[str, Any]) -> bool:
    """Record a review's answers and decision, once: of two submissions, the first completes it."""
    statement = (
        update(Review)
        .where(Review.id == review_id, Review.completed_at.is_(None))
        .values(next_step_at=None, **values)
        .returning(Review.id)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).first() is not None


def release(session: Session, *, review_id: int) -> None:
    """The send failed: let the next tick try again."""
    session.execute(
        update(Review)
        .where(Review.id == review_id, Review.sent_at.is_(None))
        .values(claimed_at=None, next_step_at=DUE_AT_ONCE)
    )


def advance(
    session: Session,
    *,
    review_id: int,
    from_level: int,
    snoozed_until: datetime | None,
    to_level: int,
    values: dict[str, Any],
    current_sent_at: datetime | None = None,
) -> bool:
    """Move an open review to its next step, once: compare-and-set on the level and the snooze.
    `values` must carry `sent_at` when it changes (the end of a snooze), for the next step's time."""
    sent_at = values.get("sent_at")
    next_step = None
    if to_level < max(cadence.Escalation):
        base = sent_at if sent_at is not None else current_sent_at
        next_step = base + cadence.Escalation(to_level + 1).delay if base is not None else None
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
        .values(escalation_level=to_level, next_step_at=next_step, **values)
        .returning(Review.id)
    )
    return session.execute(statement).first() is not None


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


# One INSERT ... SELECT from a JSON parameter: an executemany with RETURNING is sent as one multi-row
# VALUES statement, whose thousands of placeholders psycopg parses in Python (1.6 s for the 10,000
# alerts of a first pass). `WHERE true`: SQLite's parser needs it before an upsert clause.
_CLAIM_ALERTS = {
    "postgresql": """
        INSERT INTO alerts (team_id, community_id, kind, period, figures, claimed_at, sent_at)
        SELECT team_id, community_id, kind, period, figures, :now, :now
        FROM json_to_recordset(CAST(:alerts AS json))
             AS x(team_id text, community_id integer, kind text, period text, figures json)
        ON CONFLICT (team_id, community_id, kind, period) DO NOTHING
        RETURNING id, community_id, kind
    """,
    "sqlite": """
        INSERT INTO alerts (team_id, community_id, kind, period, figures, claimed_at, sent_at)
        SELECT json_extract(value, '$.team_id'), json_extract(value, '$.community_id'),
               json_extract(value, '$.kind'), json_extract(value, '$.period'),
               json(json_extract(value, '$.figures')), :now, :now
        FROM json_each(:alerts) WHERE true
        ON CONFLICT (team_id, community_id, kind, period) DO NOTHING
        RETURNING id, community_id, kind
    """,
}


def claim_alerts(
    session: Session, *, alerts: Sequence[dict[str, Any]], now: datetime
) -> dict[tuple[int, str], int]:
    """`claim_alert` for a batch (dicts of team_id, community_id, kind, period, figures) in one
    statement: the (community, kind) this caller claimed, with the alert's id. An alert whose unique
    key exists (fired this period, or claimed by another instance) is not returned.

    The alerts are claimed AND marked sent at `now`: the caller writes their deliveries in the same
    transaction, so they are committed together or not at all (no separate UPDATE of sent_at)."""
    if not alerts:
        return {}
    payload = json.dumps(
        [
            {
                "team_id": alert["team_id"],
                "community_id": alert["community_id"],
                "kind": alert["kind"],
                "period": alert["period"],
                "figures": alert["figures"],
            }
            for alert in alerts
        ]
    )
    statement = text(_CLAIM_ALERTS[session.get_bind().dialect.name]).bindparams(
        bindparam("now", type_=UTCDateTime())
    )
    rows = session.execute(statement, {"alerts": payload, "now": now}).all()
    return {(int(community_id), str(kind)): int(alert_id) for alert_id, community_id, kind in rows}


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
