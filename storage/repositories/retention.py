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

from sqlalchemy import Date, and_, cast, delete, func, select
from sqlalchemy.orm import Session, aliased

from storage.models import ActivityDay, ActivityMonth, CircleChange, Community
from storage.repositories.home import _chunks  # ids a thousand at a time per IN (...)
from storage.repositories.upsert import dialect_insert

MONTH_KEY = ["team_id", "community_id", "user_id", "month"]


class RuleSpan(NamedTuple):
    community_id: int
    window_days: int
    grace_days: int


def rule_spans(session: Session) -> list[RuleSpan]:
    """Every community's circle-rule window and grace: how far back its rule reads (one small row per
    community, as the circle pass reads them)."""
    rows = session.execute(
        select(Community.id, Community.circle_window_days, Community.demotion_grace_days).order_by(
            Community.id
        )
    ).all()
    return [RuleSpan(int(i), int(w), int(g)) for i, w, g in rows]


def _month(session: Session, day: Any) -> Any:
    """The first day of `day`'s month, in the dialect's words."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", day), Date)
    return func.date(day, "start of month")


def _rollable(community_ids: Collection[int], before: date) -> Any:
    """Days older than `before` in these communities, except each member's latest day with a
    contribution in the community (kept as a day, however old: see bot.domain.retention)."""
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
    return and_(
        ActivityDay.community_id.in_(sorted(community_ids)),
        ActivityDay.day < before,
        ~and_(ActivityDay.contributions > 0, ActivityDay.day == last_day),
    )


def roll_up_batch(session: Session, *, community_ids: Collection[int], before: date, limit: int) -> int:
    """Sum at most `limit` daily rows older than `before` (of these communities) into their months, then
    delete them. Returns the rows rolled up (fewer than `limit`: nothing is left). The caller commits."""
    if not community_ids:
        return 0
    ids = list(
        session.scalars(
            select(ActivityDay.id)
            .where(_rollable(community_ids, before))
            .order_by(ActivityDay.id)
            .limit(limit)
        )
    )
    if not ids:
        return 0
    month = _month(session, ActivityDay.day)
    totals = (
        select(
            ActivityDay.team_id,
            ActivityDay.community_id,
            ActivityDay.user_id,
            month,
            func.sum(ActivityDay.contributions),
            func.sum(ActivityDay.reactions),
        )
        # SQLite reads INSERT ... SELECT ... ON CONFLICT correctly only with a WHERE in the SELECT.
        .where(ActivityDay.id.in_(ids))
        .group_by(ActivityDay.team_id, ActivityDay.community_id, ActivityDay.user_id, month)
    )
    statement = dialect_insert(session, ActivityMonth).from_select(
        ["team_id", "community_id", "user_id", "month", "contributions", "reactions"], totals
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=MONTH_KEY,
            set_={
                "contributions": ActivityMonth.contributions + statement.excluded.contributions,
                "reactions": ActivityMonth.reactions + statement.excluded.reactions,
            },
        )
    )
    session.execute(
        delete(ActivityDay).where(ActivityDay.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return len(ids)


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


def community_months(
    session: Session, *, community_ids: Collection[int], since: date
) -> dict[int, dict[date, int]]:
    """Contributions per community and month (months starting on or after `since`'s month), everyone's."""
    result: dict[int, dict[date, int]] = defaultdict(dict)
    for chunk in _chunks(community_ids):
        rows = session.execute(
            select(ActivityMonth.community_id, ActivityMonth.month, func.sum(ActivityMonth.contributions))
            .where(ActivityMonth.community_id.in_(chunk), ActivityMonth.month >= since.replace(day=1))
            .group_by(ActivityMonth.community_id, ActivityMonth.month)
        ).all()
        for community_id, month, total in rows:
            result[int(community_id)][month] = int(total or 0)
    return result


def forget(session: Session, *, team_id: str, user_id: str) -> int:
    """Erase a person's monthly totals (privacy.forget): about them only."""
    result = session.execute(
        delete(ActivityMonth)
        .where(ActivityMonth.team_id == team_id, ActivityMonth.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
