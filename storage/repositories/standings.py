"""What `/cdp me` reads: a person's memberships with what the circle rule and its explanation need, in
two Core statements (three when a community has sub-issue channels), as plain rows.

Every `/cdp me` ran four ORM queries in a transaction (memberships with their communities and channels as
entities, the window, the totals, the latest changes): ~2 ms of CPU per command, most of it SQLAlchemy
building objects nobody changes. Here one statement returns one row per membership (its community's
rule, its totals and its latest change of circle, by correlated subqueries over the same indexes as
before), and a second the days of activity the rule needs, as tuples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, func, select

from storage.models import ActivityDay, CircleChange, Community, CommunityChannel, Membership

_M: Table = Membership.__table__  # type: ignore[assignment]
_C: Table = Community.__table__  # type: ignore[assignment]
_A: Table = ActivityDay.__table__  # type: ignore[assignment]
_CH: Table = CommunityChannel.__table__  # type: ignore[assignment]
_CC: Table = CircleChange.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ChannelRef:
    channel_id: str


@dataclass(frozen=True, slots=True)
class CommunityFacts:
    """The community as the rule and `/cdp me` see it (names as on storage.models.Community)."""

    id: int
    team_id: str
    name: str
    status: str
    timezone: str
    circle_window_days: int
    inner_min_contributions: int
    inner_min_days: int
    demotion_grace_days: int
    channels: tuple[ChannelRef, ...]  # its sub-issues: filled only when 2+ channels are bound


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """The membership (names as on storage.models.Membership)."""

    id: int
    user_id: str
    role: str
    circle: str
    circle_since: datetime
    joined_at: datetime
    joined_via: str


@dataclass(frozen=True, slots=True)
class ChangeFacts:
    """The latest change of circle (names as on storage.models.CircleChange)."""

    from_circle: str
    to_circle: str
    reason_key: str
    reason_params: dict[str, object]
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Place:
    community: CommunityFacts
    membership: MemberFacts
    stored_rows: int  # rows stored about them there (one per channel and day)
    last_contribution: date | None  # their latest day with a contribution, however long ago
    latest_change: ChangeFacts | None


def _of_member(table: Table) -> Any:
    """The person's rows of `table` in the membership's community (correlated to the outer query)."""
    return (
        (table.c.team_id == _M.c.team_id)
        & (table.c.community_id == _M.c.community_id)
        & (table.c.user_id == _M.c.user_id)
    )


_RANKED_CHANGES = (
    select(
        _CC.c.community_id,
        _CC.c.from_circle,
        _CC.c.to_circle,
        _CC.c.reason_key,
        _CC.c.reason_params,
        _CC.c.changed_at,
        func.row_number()
        .over(partition_by=_CC.c.community_id, order_by=(_CC.c.changed_at.desc(), _CC.c.id.desc()))
        .label("rank"),
    )
    .where(_CC.c.team_id == bindparam("team_id"), _CC.c.user_id == bindparam("user_id"))
    .subquery()
)
_LATEST = _RANKED_CHANGES.c

# Built once: every /cdp me runs it, and SQLAlchemy caches its compiled form.
_PLACES = (
    select(
        _C.c.id,
        _C.c.team_id,
        _C.c.name,
        _C.c.status,
        _C.c.timezone,
        _C.c.circle_window_days,
        _C.c.inner_min_contributions,
        _C.c.inner_min_days,
        _C.c.demotion_grace_days,
        select(func.count()).where(_CH.c.community_id == _C.c.id).scalar_subquery().label("channels"),
        _M.c.id.label("membership_id"),
        _M.c.user_id,
        _M.c.role,
        _M.c.circle,
        _M.c.circle_since,
        _M.c.joined_at,
        _M.c.joined_via,
        select(func.count()).where(_of_member(_A)).scalar_subquery().label("stored_rows"),
        select(func.max(case((_A.c.contributions > 0, _A.c.day), else_=None)))
        .where(_of_member(_A))
        .scalar_subquery()
        .label("last_contribution"),
        _LATEST.from_circle,
        _LATEST.to_circle,
        _LATEST.reason_key,
        _LATEST.reason_params,
        _LATEST.changed_at,
    )
    .join(_C, _C.c.id == _M.c.community_id)
    .outerjoin(_RANKED_CHANGES, (_LATEST.community_id == _M.c.community_id) & (_LATEST.rank == 1))
    .where(
        _M.c.team_id == bindparam("team_id"),
        _M.c.user_id == bindparam("user_id"),
        _M.c.left_at.is_(None),
    )
    .order_by(_M.c.id)
)

_CHANNELS = (
    select(_CH.c.community_id, _CH.c.channel_id)
    .where(_CH.c.community_id.in_(bindparam("community_ids", expanding=True)))
    .order_by(_CH.c.id)
)

_WINDOW = (
    select(_A.c.community_id, _A.c.channel_id, _A.c.day, _A.c.contributions, _A.c.reactions)
    .where(
        _A.c.team_id == bindparam("team_id"),
        _A.c.community_id.in_(bindparam("community_ids", expanding=True)),
        _A.c.user_id == bindparam("user_id"),
        _A.c.day >= bindparam("since", type_=_A.c.day.type),
    )
    .order_by(_A.c.community_id, _A.c.day, _A.c.channel_id)
)


def places(connection: Connection, *, team_id: str, user_id: str) -> list[Place]:
    """The person's active memberships, oldest first."""
    rows = connection.execute(_PLACES, {"team_id": team_id, "user_id": user_id}).all()
    several = [row.id for row in rows if row.channels > 1]
    channels: dict[int, list[ChannelRef]] = defaultdict(list)
    if several:  # sub-issues: their channels, in the order they were bound
        for community_id, channel_id in connection.execute(_CHANNELS, {"community_ids": several}):
            channels[community_id].append(ChannelRef(channel_id))
    return [_place(row, channels) for row in rows]


def _place(row: Any, channels: dict[int, list[ChannelRef]]) -> Place:
    community = CommunityFacts(
        row.id,
        row.team_id,
        row.name,
        row.status,
        row.timezone,
        row.circle_window_days,
        row.inner_min_contributions,
        row.inner_min_days,
        row.demotion_grace_days,
        tuple(channels.get(row.id, ())),
    )
    membership = MemberFacts(
        row.membership_id,
        row.user_id,
        row.role,
        row.circle,
        row.circle_since,
        row.joined_at,
        row.joined_via,
    )
    change = (
        ChangeFacts(row.from_circle, row.to_circle, row.reason_key, row.reason_params or {}, row.changed_at)
        if row.changed_at is not None
        else None
    )
    return Place(community, membership, int(row.stored_rows), row.last_contribution, change)


def windows(
    connection: Connection, *, team_id: str, user_id: str, since: dict[int, date]
) -> dict[int, list[Any]]:
    """The person's days of activity in each community from its own `since` on (channel_id, day,
    contributions, reactions), by one indexed read."""
    result: dict[int, list[Any]] = defaultdict(list)
    if not since:
        return result
    params = {
        "team_id": team_id,
        "user_id": user_id,
        "community_ids": list(since),
        "since": min(since.values()),
    }
    for row in connection.execute(_WINDOW, params).all():
        if row.day >= since[row.community_id]:
            result[row.community_id].append(row)
    return result
