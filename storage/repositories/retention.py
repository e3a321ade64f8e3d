"""Data retention's SQL (bot.services.retention decides what, when; this says how): the roll-up of old
daily counters into activity_months, the pruning of old circle changes, and the monthly rows' readers.

Each batch is a few set-based statements over at most `limit` rows, and the caller runs it in one
transaction: the monthly totals get exactly the days that are deleted, so a crash between the two
statements rolls both back, and a second run finds nothing left to add (idempotent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Date, and_, case, cast, delete, func, select
from sqlalchemy.orm import Session, aliased

from storage.models import ActivityDay, ActivityMonth, CircleChange, Community
from storage.repositories.home import _chunks  # ids a thousand at a time per IN (...)
from storage.repositories.upsert import dialect_insert

MONTH_KEY = ["team_id", "community_id", "user_id", "month"]


class RuleSpan(NamedTuple):
    team_id: str
    community_id: int
    window_days: int
    grace_days: int


def rule_spans(session: Session) -> list[RuleSpan]:
    """Every community's circle-rule window and grace: how far back its rule reads (one small row per
    community, as the circle pass reads them)."""
    rows = session.execute(
        select(
            Community.team_id, Community.id, Community.circle_window_days, Community.demotion_grace_days
        ).order_by(Community.id)
    ).all()
    return [RuleSpan(str(t), int(i), int(w), int(g)) for t, i, w, g in rows]


def _month(session: Session, day: Any) -> Any:
    """The first day of `day`'s month, in the dialect's words."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return func.date(day, "start of month")


def _latest_kept() -> Any:
    """True for a row that is its member's latest day with a contribution in the community (kept as a
    day, however old: see bot.domain.retention); one backward probe of ix_activity_days_member."""
    latest = aliased(ActivityDay)
    last_day = (
        select(func.max(latest.day))
        .where(
            latest.team_id == ActivityDay.team_id,
            latest.community_id == ActivityDay.community_id,
            latest.user_id == ActivityDay.user_id,
            latest.contributions > 0,
        )
        .scalar_subquery()
    )
    return and_(ActivityDay.contributions > 0, ActivityDay.day == last_day)


class Batch(NamedTuple):
    rows: int  # rolled up
    last_id: int  # the last row looked at: the next batch starts after it
    more: bool  # rows may be left after `last_id`


def roll_up_batch(
    session: Session,
    *,
    team_id: str,
    community_ids: Collection[int],
    before: date,
    limit: int,
    after: int = 0,
) -> Batch:
    """Sum the daily rows older than `before` among the next `limit` of these communities of the team (ids
    after `after`) into their months, then delete them; each member's latest day with a contribution
    stays. The caller commits: one transaction per batch."""
    if not community_ids:
        return Batch(0, after, False)
    # The team first: ix_activity_days_member serves the communities' rows. The latest-day probe runs on
    # this batch's rows only, not on every old row at each batch.
    candidates = list(
        session.scalars(
            select(ActivityDay.id)
            .where(
                ActivityDay.team_id == team_id,
                ActivityDay.community_id.in_(sorted(community_ids)),
                ActivityDay.day < before,
                ActivityDay.id > after,
            )
            .order_by(ActivityDay.id)
            .limit(limit)
        )
    )
    if not candidates:
        return Batch(0, after, False)
    more = len(candidates) == limit
    ids = list(session.scalars(select(ActivityDay.id).where(ActivityDay.id.in_(candidates), ~_latest_kept())))
    if not ids:
        return Batch(0, candidates[-1], more)
    month = _month(session, ActivityDay.day)
    totals = (
        select(
            ActivityDay.team_id,
            ActivityDay.community_id,
            ActivityDay.user_id,
            month,
            func.min(ActivityDay.day),
            func.max(ActivityDay.day),
            func.sum(ActivityDay.contributions),
            func.sum(ActivityDay.reactions),
        )
        # SQLite reads INSERT ... SELECT ... ON CONFLICT correctly only with a WHERE in the SELECT.
        .where(ActivityDay.id.in_(ids))
        .group_by(ActivityDay.team_id, ActivityDay.community_id, ActivityDay.user_id, month)
    )
    statement = dialect_insert(session, ActivityMonth).from_select(
        [
            "team_id",
            "community_id",
            "user_id",
            "month",
            "first_day",
            "last_day",
            "contributions",
            "reactions",
        ],
        totals,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=MONTH_KEY,
            set_={
                "first_day": case(
                    (statement.excluded.first_day < ActivityMonth.first_day, statement.excluded.first_day),
                    else_=ActivityMonth.first_day,
                ),
                "last_day": case(
                    (statement.excluded.last_day > ActivityMonth.last_day, statement.excluded.last_day),
                    else_=ActivityMonth.last_day,
                ),
                "contributions": ActivityMonth.contributions + statement.excluded.contributions,
                "reactions": ActivityMonth.reactions + statement.excluded.reactions,
            },
        )
    )
    session.execute(
        delete(ActivityDay).where(ActivityDay.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return Batch(len(ids), candidates[-1], more)


def prune_circle_changes_batch(session: Session, *, before: datetime, limit: int) -> int:
    """Delete at most `limit` circle changes made before `before`; returns how many. The caller commits."""
    ids = list(
        session.scalars(
            select(CircleChange.id)
            .where(CircleChange.changed_at < before)
            .order_by(CircleChange.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            delete(CircleChange).where(CircleChange.id.in_(ids)).execution_options(synchronize_session=False)
        )
    return len(ids)


# ---- readers ---------------------------------------------------------------------------------
def months_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[ActivityMonth]:
    """One person's monthly totals, every community (the export)."""
    return session.scalars(
        select(ActivityMonth)
        .where(ActivityMonth.team_id == team_id, ActivityMonth.user_id == user_id)
        .order_by(ActivityMonth.community_id, ActivityMonth.month)
    ).all()


class MonthTotal(NamedTuple):
    first_day: date
    last_day: date
    contributions: int


def community_months(
    session: Session, *, community_ids: Collection[int], since: date
) -> dict[int, list[MonthTotal]]:
    """Contributions per community and month (months starting on or after `since`'s month), everyone's,
    with the first and last days they cover."""
    result: dict[int, list[MonthTotal]] = defaultdict(list)
    for chunk in _chunks(community_ids):
        rows = session.execute(
            select(
                ActivityMonth.community_id,
                func.min(ActivityMonth.first_day),
                func.max(ActivityMonth.last_day),
                func.sum(ActivityMonth.contributions),
            )
            .where(ActivityMonth.community_id.in_(chunk), ActivityMonth.month >= since.replace(day=1))
            .group_by(ActivityMonth.community_id, ActivityMonth.month)
            .order_by(ActivityMonth.community_id, ActivityMonth.month)
        ).all()
        for community_id, first, last, total in rows:
            result[int(community_id)].append(MonthTotal(_day(first), _day(last), int(total or 0)))
    return result


def _day(value: date | str) -> date:
    """min()/max() of a Date column: SQLite hands back its text (the aggregate loses the column's type)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def forget(session: Session, *, team_id: str, user_id: str) -> int:
    """Erase a person's monthly totals (privacy.forget): about them only."""
    result = session.execute(
        delete(ActivityMonth)
        .where(ActivityMonth.team_id == team_id, ActivityMonth.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
