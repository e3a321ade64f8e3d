"""activity_days (daily counters), circle_changes (history) and forgotten_users."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, delete, func, select
from sqlalchemy.orm import Session

from storage.models import ActivityDay, CircleChange, ForgottenUser
from storage.repositories import privacy as privacy_repo
from storage.repositories.upsert import dialect_insert, insert_ignoring_conflicts

ACTIVITY_KEY = ["team_id", "community_id", "channel_id", "user_id", "day"]


def increment(
    session: Session,
    *,
    team_id: str,
    community_id: int,
    channel_id: str,
    user_id: str,
    day: date,
    contributions: int = 0,
    reactions: int = 0,
) -> None:
    """One upsert: create the day's counter or add to it (atomic on both databases)."""
    statement = dialect_insert(session, ActivityDay).values(
        team_id=team_id,
        community_id=community_id,
        channel_id=channel_id,
        user_id=user_id,
        day=day,
        contributions=contributions,
        reactions=reactions,
    )
    statement = statement.on_conflict_do_update(
        index_elements=ACTIVITY_KEY,
        set_={
            "contributions": ActivityDay.contributions + statement.excluded.contributions,
            "reactions": ActivityDay.reactions + statement.excluded.reactions,
        },
    )
    session.execute(statement)


def for_member(
    session: Session, *, team_id: str, community_id: int, user_id: str, since: date
) -> Sequence[ActivityDay]:
    return session.scalars(
        select(ActivityDay).where(
            ActivityDay.team_id == team_id,
            ActivityDay.community_id == community_id,
            ActivityDay.user_id == user_id,
            ActivityDay.day >= since,
        )
    ).all()


def for_community(session: Session, *, team_id: str, community_id: int, since: date) -> Sequence[ActivityDay]:
    return session.scalars(
        select(ActivityDay).where(
            ActivityDay.team_id == team_id, ActivityDay.community_id == community_id, ActivityDay.day >= since
        )
    ).all()


def for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[ActivityDay]:
    return session.scalars(
        select(ActivityDay)
        .where(ActivityDay.team_id == team_id, ActivityDay.user_id == user_id)
        .order_by(ActivityDay.community_id, ActivityDay.day, ActivityDay.channel_id)
    ).all()


def add_change(session: Session, change: CircleChange) -> None:
    session.add(change)


def changes_for_user(session: Session, *, team_id: str, user_id: str) -> Sequence[CircleChange]:
    return session.scalars(
        select(CircleChange)
        .where(CircleChange.team_id == team_id, CircleChange.user_id == user_id)
        .order_by(CircleChange.changed_at, CircleChange.id)
    ).all()


# /cdp me's statements are built once, with bound parameters: building a select (coercing each clause)
# and computing its cache key cost more CPU than running it, and a request is served under the GIL.
# The community ids are an expanding parameter, so one compiled form serves any number of them.
_LATEST_RANKED = (
    select(
        CircleChange.id,
        func.row_number()
        .over(
            partition_by=CircleChange.community_id,
            order_by=(CircleChange.changed_at.desc(), CircleChange.id.desc()),
        )
        .label("rank"),
    )
    .where(CircleChange.team_id == bindparam("team_id"), CircleChange.user_id == bindparam("user_id"))
    .subquery()
)
_LATEST_CHANGES = (
    select(CircleChange)
    .join(_LATEST_RANKED, _LATEST_RANKED.c.id == CircleChange.id)
    .where(_LATEST_RANKED.c.rank == 1)
)


def latest_changes_for_user(session: Session, *, team_id: str, user_id: str) -> dict[int, CircleChange]:
    """Each community's most recent change of circle for this person, by community id: one query over
    ix_circle_changes_member, however long their history."""
    changes = session.scalars(_LATEST_CHANGES, {"team_id": team_id, "user_id": user_id})
    return {change.community_id: change for change in changes}


_MEMBER_WINDOW = (
    select(
        ActivityDay.community_id,
        ActivityDay.channel_id,
        ActivityDay.day,
        ActivityDay.contributions,
        ActivityDay.reactions,
    )
    .where(
        ActivityDay.team_id == bindparam("team_id"),
        ActivityDay.community_id.in_(bindparam("community_ids", expanding=True)),
        ActivityDay.user_id == bindparam("user_id"),
        ActivityDay.day >= bindparam("since", type_=ActivityDay.day.type),
    )
    .order_by(ActivityDay.community_id, ActivityDay.day, ActivityDay.channel_id)
)


def member_window(
    session: Session, *, team_id: str, user_id: str, since: dict[int, date]
) -> dict[int, list[Any]]:
    """One person's rows in several communities, each from its own `since` on (its rule's history): one
    indexed read of the days the rule needs, not their whole history. Rows carry channel_id, day,
    contributions and reactions."""
    result: dict[int, list[Any]] = defaultdict(list)
    if not since:
        return result
    rows = session.execute(
        _MEMBER_WINDOW,
        {"team_id": team_id, "user_id": user_id, "community_ids": list(since), "since": min(since.values())},
    ).all()
    for row in rows:
        if row.day >= since[row.community_id]:
            result[row.community_id].append(row)
    return result


_MEMBER_TOTALS = (
    select(
        ActivityDay.community_id,
        func.count(),
        func.max(case((ActivityDay.contributions > 0, ActivityDay.day), else_=None)),
    )
    .where(
        ActivityDay.team_id == bindparam("team_id"),
        ActivityDay.community_id.in_(bindparam("community_ids", expanding=True)),
        ActivityDay.user_id == bindparam("user_id"),
    )
    .group_by(ActivityDay.community_id)
)


class MemberTotals(NamedTuple):
    stored_rows: int  # what /cdp me says is stored about them (one row per channel and day)
    last_contribution: date | None  # their latest day with a contribution, however long ago


def member_totals(
    session: Session, *, team_id: str, user_id: str, community_ids: Collection[int]
) -> dict[int, MemberTotals]:
    """Per community, by one aggregate: how many rows are stored about the person, and their latest
    day with a contribution."""
    if not community_ids:
        return {}
    rows = session.execute(
        _MEMBER_TOTALS, {"team_id": team_id, "user_id": user_id, "community_ids": list(community_ids)}
    ).all()
    return {int(community_id): MemberTotals(int(number), last) for community_id, number, last in rows}


def is_forgotten(session: Session, *, team_id: str, user_id: str) -> bool:
    user_hash = privacy_repo.user_hash(session, team_id=team_id, user_id=user_id)
    return (
        session.scalars(select(ForgottenUser.id).where(ForgottenUser.user_hash == user_hash)).first()
        is not None
    )


def forget(session: Session, *, team_id: str, user_id: str, now: datetime) -> None:
    """Remember that they asked to be forgotten, by a keyed hash only (see ForgottenUser)."""
    session.execute(
        insert_ignoring_conflicts(session, ForgottenUser, ["user_hash"]).values(
            team_id=team_id,
            user_hash=privacy_repo.user_hash(session, team_id=team_id, user_id=user_id),
            forgotten_at=now,
        )
    )


# Built once (every `/cdp join` runs it): see _MEMBER_WINDOW.
_FORGOTTEN: Any = ForgottenUser.__table__
_REMEMBER = delete(_FORGOTTEN).where(_FORGOTTEN.c.user_hash == bindparam("user_hash"))


def remember(session: Session, *, team_id: str, user_id: str) -> None:
    """They joined again: count them again."""
    user_hash = privacy_repo.user_hash(session, team_id=team_id, user_id=user_id)
    session.execute(_REMEMBER, {"user_hash": user_hash})


def last_contribution_days(session: Session, *, team_id: str, community_id: int) -> dict[str, date]:
    """Each member's latest day with a contribution, however long ago."""
    rows = session.execute(
        select(ActivityDay.user_id, func.max(ActivityDay.day))
        .where(
            ActivityDay.team_id == team_id,
            ActivityDay.community_id == community_id,
            ActivityDay.contributions > 0,
        )
        .group_by(ActivityDay.user_id)
    ).all()
    return {user_id: day for user_id, day in rows}
