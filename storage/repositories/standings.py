"""What `/cdp me` reads: a person's memberships with what the circle rule and its explanation need, in
one Core statement (two when a community has sub-issue channels), as plain rows.

Every `/cdp me` ran four ORM queries in a transaction (memberships with their communities and channels as
entities, the window, the totals, the latest changes): ~2 ms of CPU per command, most of it SQLAlchemy
building objects nobody changes. Here one statement returns one row per membership (its community's
rule, its totals and its latest change of circle, by correlated subqueries over the same indexes as
before), with the days of activity the rule needs as one JSON array.
"""

from __future__ import annotations

import json
from collections import defaultdict, namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Date, Select, Table, bindparam, case, func, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Dialect

from bot.domain.circles import RULE_BOUNDS
from storage.async_driver import AsyncDriverConnection, Statement
from storage.db import for_driver
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
    window: list[WindowDay]  # their days of activity there, from a little before the rule's history


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


def _history(larger: Any, community: Any) -> Any:
    """Days of activity the rule may need in the community: its history (window + grace, each at least
    its lower bound, as rule_of clamps them) plus two days, since the community's today may differ from
    UTC's by one. The service keeps exactly the days from the community's own start (`_history_start`).
    `larger`: the dialect's two-argument maximum; `community`: the communities table, or what stands
    for it (`_community_of_membership`)."""
    window = larger(community.c.circle_window_days, RULE_BOUNDS["window_days"].low)
    return window + larger(community.c.demotion_grace_days, RULE_BOUNDS["demotion_grace_days"].low) + 2


def _window(dialect: str, community: Any) -> Any:
    """The person's days of activity in the community, as one JSON array of [channel_id, day,
    contributions, reactions] (in no particular order on SQLite: the rule does not depend on it): the
    window comes in the same statement as the membership, one round trip instead of two."""
    row = (_A.c.channel_id, _A.c.day, _A.c.contributions, _A.c.reactions)
    today = bindparam("today", type_=Date)
    if dialect == "postgresql":
        since = today - _history(func.greatest, community)
        days = func.json_agg(aggregate_order_by(func.json_build_array(*row), _A.c.day, _A.c.channel_id))
        return days.filter(_A.c.day >= since)  # an aggregate of `_member_rows`
    since = func.date(today, func.printf("-%d days", _history(func.max, community)))
    days = func.json_group_array(func.json_array(*row))
    return select(days).where(_of_member(_A), _A.c.day >= since).scalar_subquery()


def _last_contribution() -> Any:
    return func.max(case((_A.c.contributions > 0, _A.c.day), else_=None))


def _member_rows(community: Any) -> Any:
    """PostgreSQL: the person's rows of activity in the membership's community read once, for the three
    figures `/cdp me` needs (how many are stored, the latest day with a contribution, the window), instead
    of one correlated subquery each (three scans of the same index): 60-100 us less of PostgreSQL's CPU per
    `/cdp me` in a loop on the benchmark's data (2026-12-01)."""
    return (
        select(
            func.count().label("stored_rows"),
            _last_contribution().label("last_contribution"),
            _window("postgresql", community).label("window"),
        )
        .where(_of_member(_A))
        .lateral("member_rows")
    )


# What `/cdp me` reads of a community (CommunityFacts, but its channels).
_COMMUNITY_FACTS = (
    _C.c.id,
    _C.c.team_id,
    _C.c.name,
    _C.c.status,
    _C.c.timezone,
    _C.c.circle_window_days,
    _C.c.inner_min_contributions,
    _C.c.inner_min_days,
    _C.c.demotion_grace_days,
)


def _community_of_membership() -> Any:
    """PostgreSQL: the membership's community, looked up by its primary key for each membership. As a
    plain join, the generic plan PostgreSQL keeps for the prepared statement (storage/async_driver.py)
    merged the person's memberships with the whole primary key of communities, reading the directory up
    to the highest id among them: 501 rows for a member of the last of 501 communities, 0.25 ms (EXPLAIN
    ANALYZE, 2026-12-01), and more with every community created. LIMIT 1 keeps the subquery from being
    merged back into that join; a primary key finds one row anyway."""
    return select(*_COMMUNITY_FACTS).where(_C.c.id == _M.c.community_id).limit(1).lateral("community")


@cache
def _places(dialect: str) -> Select[Any]:
    """Built once per dialect: every /cdp me runs it, and SQLAlchemy caches its compiled form. SQLite has no
    LATERAL: a plain join and a correlated subquery per figure of the person's rows there."""
    if dialect == "postgresql":
        community = _community_of_membership()
        member_rows = _member_rows(community)
        stored_rows, last_contribution, window = (
            member_rows.c.stored_rows,
            member_rows.c.last_contribution,
            member_rows.c.window,
        )
    else:
        community = _C
        stored_rows = select(func.count()).where(_of_member(_A)).scalar_subquery().label("stored_rows")
        last_contribution = (
            select(_last_contribution()).where(_of_member(_A)).scalar_subquery().label("last_contribution")
        )
        window = _window(dialect, community).label("window")
    statement = select(
        *(community.c[column.name] for column in _COMMUNITY_FACTS),
        select(func.count()).where(_CH.c.community_id == community.c.id).scalar_subquery().label("channels"),
        _M.c.id.label("membership_id"),
        _M.c.user_id,
        _M.c.role,
        _M.c.circle,
        _M.c.circle_since,
        _M.c.joined_at,
        _M.c.joined_via,
        stored_rows,
        last_contribution,
        _LATEST.from_circle,
        _LATEST.to_circle,
        _LATEST.reason_key,
        _LATEST.reason_params,
        _LATEST.changed_at,
        window,
    ).select_from(_M)
    if dialect == "postgresql":
        # Each membership's community by its key, and the figures of its rows (one row whatever they
        # have: aggregates without GROUP BY).
        statement = statement.join(community, true()).join(member_rows, true())
    else:
        statement = statement.join(_C, _C.c.id == _M.c.community_id)
    return (
        statement.outerjoin(
            _RANKED_CHANGES, (_LATEST.community_id == _M.c.community_id) & (_LATEST.rank == 1)
        )
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


def places(connection: Connection, *, team_id: str, user_id: str, today: date) -> list[Place]:
    """The person's active memberships, oldest first, each with its days of activity from a few days
    before its history starts (`today` is UTC's: the service keeps the days each community needs)."""
    statement = _places(connection.dialect.name)
    rows = connection.execute(statement, {"team_id": team_id, "user_id": user_id, "today": today}).all()
    several = _with_sub_issues(rows)  # sub-issues: their channels, in the order they were bound
    pairs = connection.execute(_CHANNELS, {"community_ids": several}).all() if several else []
    channels = _by_community(pairs)
    return [_place(row, channels) for row in rows]


def places_statement(dialect: Dialect, *, team_id: str, user_id: str, today: date) -> Statement:
    """PostgreSQL, on the HTTP server's event loop: `places`' statement, compiled once for psycopg, for a
    caller that sends it with others (one round trip); its rows make places through `places_found`, read
    as SQLAlchemy would read them (its result processors: aware UTC times)."""
    compiled = for_driver(_places(dialect.name), dialect)
    return compiled.sql, compiled.params({"team_id": team_id, "user_id": user_id, "today": today})


async def places_found(connection: AsyncDriverConnection, found: list[tuple[Any, ...]]) -> list[Place]:
    """The places in the rows of `places_statement` (and, for communities of several channels, a second
    statement for their channels)."""
    dialect = connection.dialect
    compiled, row_type = for_driver(_places(dialect.name), dialect), _place_row(dialect.name)
    rows = [row_type(*compiled.row(values)) for values in found]
    several = _with_sub_issues(rows)
    pairs = await connection.all(_PG_CHANNELS, {"community_ids": several}) if several else []
    channels = _by_community(pairs)
    return [_place(row, channels) for row in rows]


def _with_sub_issues(rows: Sequence[Any]) -> list[int]:
    return [row.id for row in rows if row.channels > 1]


def _by_community(pairs: Sequence[Any]) -> dict[int, list[ChannelRef]]:
    """(community_id, channel_id) rows as each community's channels, in their order."""
    channels: dict[int, list[ChannelRef]] = defaultdict(list)
    for community_id, channel_id in pairs:
        channels[community_id].append(ChannelRef(channel_id))
    return channels


_PG_CHANNELS = (
    f"SELECT community_id, channel_id FROM {_CH.name} WHERE community_id = ANY(%(community_ids)s) ORDER BY id"
)


@cache
def _place_row(dialect: str) -> Any:
    """A namedtuple of `_places`' columns: `_place` reads rows by name, as SQLAlchemy's rows are read."""
    return namedtuple("PlaceRow", [column.name for column in _places(dialect).selected_columns])


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
    stored, last = int(row.stored_rows), row.last_contribution
    return Place(community, membership, stored, last, change, _days(row.window))


class WindowDay(NamedTuple):
    channel_id: str
    day: date
    contributions: int
    reactions: int


def _days(window: Any) -> list[WindowDay]:
    """The JSON array of `_window` (text on SQLite, parsed on PostgreSQL; NULL when there is none)."""
    entries = json.loads(window) if isinstance(window, str) else window or []
    return [WindowDay(channel, date.fromisoformat(day), int(c), int(r)) for channel, day, c, r in entries]
