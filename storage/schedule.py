"""The due times the scheduler reads: `communities.next_due_at` and `reviews.next_step_at`.

The tick reads only rows whose due time has come (an index range scan), so these columns must follow
every write that changes what is due. ORM writes are covered by `before_flush` (registered on every
session of `storage.db.Database`): a community whose review date, cadence, timezone or status changed,
and a review whose claim, sending, level, snooze or completion changed, get their due time recomputed
from their own columns. The few compare-and-set UPDATE statements (claim, advance, complete, release,
dissolve) set the column themselves. Rows inserted by raw SQL (benchmarks, the migration) are filled
by `fill_next_due`.

The rules are those of `bot.domain.cadence`; this module only says WHEN to look, the tick still decides
with the pure rules (working hours, escalation steps) what to do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, inspect, select, update
from sqlalchemy.orm import Session

from bot.domain import cadence
from storage.models import Community, Review

COMMUNITIES = cast(Table, Community.__table__)
REVIEWS = cast(Table, Review.__table__)

log = logging.getLogger("cdp_bot.schedule")

# A claim older than this whose prompt is still unsent is taken again (the sender crashed or failed).
CLAIM_LEASE = timedelta(minutes=10)
# "Due at once": an unsent, unclaimed review is always due (the tick sends it in working hours).
DUE_AT_ONCE = datetime(2000, 1, 1, tzinfo=UTC)

_COMMUNITY_FIELDS = ("next_review_on", "review_cadence_weeks", "timezone", "status")
_REVIEW_FIELDS = (
    "claimed_at",
    "sent_at",
    "escalation_level",
    "snoozed_until",
    "completed_at",
    "answers_due_at",
)


def community_due_at(
    *, status: str, next_review_on: Any, timezone: str, cadence_weeks: int
) -> datetime | None:
    """When a community's next review falls due (UTC); None when none is scheduled or the row is
    unusable (an unknown timezone: logged; the tick would not be able to send it either)."""
    if status != "active" or next_review_on is None:
        return None
    try:
        schedule = cadence.ReviewSchedule(cadence_weeks=cadence_weeks, timezone=timezone)
    except ValueError:
        log.error("no review schedule for a community", extra={"fields": {"error": "bad schedule"}})
        return None
    return cadence.due_at(schedule, next_review_on)


def review_next_step(review: Review) -> datetime | None:
    """The next instant the tick has something to do for `review` (see the models)."""
    if review.completed_at is not None:
        return None
    if review.answers_due_at is not None:
        # Moderators saved answers for each other: the review is in hand, no reminder; the tick's only
        # step left is to close it at its deadline (bot/reminders.py, close_overdue).
        return review.answers_due_at
    if review.sent_at is None:
        return DUE_AT_ONCE if review.claimed_at is None else review.claimed_at + CLAIM_LEASE
    if review.snoozed_until is not None:
        return review.snoozed_until
    following = int(review.escalation_level or 0) + 1
    if following > max(cadence.Escalation):
        return None
    return review.sent_at + cadence.Escalation(following).delay


def _changed(obj: Any, fields: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Community) and (obj in session.new or _changed(obj, _COMMUNITY_FIELDS)):
            obj.next_due_at = community_due_at(
                status=obj.status or "active",
                next_review_on=obj.next_review_on,
                timezone=obj.timezone or "UTC",
                cadence_weeks=obj.review_cadence_weeks or 4,
            )
        elif isinstance(obj, Review) and (obj in session.new or _changed(obj, _REVIEW_FIELDS)):
            obj.next_step_at = review_next_step(obj)


def fill_next_due(connection: Connection) -> int:
    """Set `next_due_at` of every active community that has a review date and no due time yet (rows
    inserted by raw SQL, or by a version before the column). Set-based: one SELECT of the distinct
    (timezone, cadence, date) triples, then one executemany UPDATE; the local-to-UTC conversion is done
    in Python by the pure rule, identically on both databases (SQLite has no time zones).

    Communities whose review is already open (an unsent or open review on that date) are left NULL:
    the tick must not open it again."""
    communities = COMMUNITIES
    reviews = REVIEWS
    open_review = (
        select(reviews.c.id)
        .where(
            reviews.c.community_id == communities.c.id,
            reviews.c.due_on == communities.c.next_review_on,
        )
        .exists()
    )
    triples = connection.execute(
        select(communities.c.timezone, communities.c.review_cadence_weeks, communities.c.next_review_on)
        .where(
            communities.c.status == "active",
            communities.c.next_review_on.is_not(None),
            communities.c.next_due_at.is_(None),
            ~open_review,
        )
        .distinct()
    ).all()
    params = []
    for timezone, weeks, day in triples:
        due = community_due_at(status="active", next_review_on=day, timezone=timezone, cadence_weeks=weeks)
        if due is not None:
            params.append({"tz": timezone, "weeks": weeks, "day": day, "due": due})
    if not params:
        return 0
    statement = (
        update(communities)
        .where(
            communities.c.timezone == bindparam("tz"),
            communities.c.review_cadence_weeks == bindparam("weeks"),
            communities.c.next_review_on == bindparam("day"),
            communities.c.status == "active",
            communities.c.next_due_at.is_(None),
            ~open_review,
        )
        .values(next_due_at=bindparam("due"))
    )
    connection.execute(statement, params)
    return len(params)


def fill_next_steps(connection: Connection) -> int:
    """Set `next_step_at` of every open review that has none (raw SQL rows, or before the column).
    Row by row in Python (the open reviews are few: at most one per community)."""
    reviews = REVIEWS
    # Only the columns named here: the migration runs this while later migrations may not have added
    # the models' newer columns yet.
    rows = connection.execute(
        select(
            reviews.c.id,
            reviews.c.sent_at,
            reviews.c.claimed_at,
            reviews.c.snoozed_until,
            reviews.c.escalation_level,
        )
        .join(COMMUNITIES, COMMUNITIES.c.id == reviews.c.community_id)
        # A dissolved community's open review is over: given a due time, every tick would read it again.
        .where(
            reviews.c.completed_at.is_(None),
            reviews.c.next_step_at.is_(None),
            COMMUNITIES.c.status == "active",
        )
    ).all()
    params = []
    for row in rows:
        review = Review(
            completed_at=None,
            sent_at=_aware(row.sent_at),
            claimed_at=_aware(row.claimed_at),
            snoozed_until=_aware(row.snoozed_until),
            escalation_level=row.escalation_level,
        )
        params.append({"rid": row.id, "step": review_next_step(review)})
    if params:
        connection.execute(
            update(reviews).where(reviews.c.id == bindparam("rid")).values(next_step_at=bindparam("step")),
            params,
        )
    return len(params)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
