"""The welcome, once: the membership's `welcomed_at` claim (compare-and-set) and what the welcome says."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import DriverConnection, OneStatement, for_driver
from storage.models import Community, CommunityChannel, Membership
from storage.repositories import memberships as membership_repo
from storage.types import UTCDateTime

_M: Any = Membership.__table__
# Built once on the table, with bound parameters, like the other statements of /cdp join's request path
# (an ORM-enabled UPDATE goes through the bulk-update machinery for nothing here: no object is synced).
_MARK = (
    update(_M)
    .where(
        _M.c.team_id == bindparam("m_team_id"),
        _M.c.community_id == bindparam("m_community_id"),
        _M.c.user_id == bindparam("m_user_id"),
        _M.c.left_at.is_(None),
        _M.c.role == "member",
        # Once per joining: a welcome decided before this joining (an earlier stint) does not count.
        or_(_M.c.welcomed_at.is_(None), _M.c.welcomed_at < _M.c.joined_at),
    )
    .values(welcomed_at=bindparam("m_now", type_=UTCDateTime()))
    .returning(_M.c.id)
)


def mark_welcomed(session: Session, *, team_id: str, community_id: int, user_id: str, now: datetime) -> bool:
    """Claim the welcome of this membership: True for the one request that set `welcomed_at` (two join
    paths at once, a retried event: one of them welcomes)."""
    row = session.execute(
        _MARK, {"m_team_id": team_id, "m_community_id": community_id, "m_user_id": user_id, "m_now": now}
    ).first()
    return row is not None


_C: Any = Community.__table__
_CH: Any = CommunityChannel.__table__
# What a welcome says, read by statements built once (its moderators by memberships.moderators): the
# outbox worker sends a welcome per joining, on the same GIL as the requests, and the ORM (a Community
# with its channels loaded through selectinload) cost about three times as much for the same columns.
_SOURCE = select(
    _C.c.id,
    _C.c.name,
    _C.c.domain,
    _C.c.objectives,
    _C.c.objectives_other,
    _C.c.language,
    _C.c.welcome_text,
    _C.c.inner_min_contributions,
    _C.c.inner_min_days,
    _C.c.circle_window_days,
    _C.c.status,
    _C.c.welcome_enabled,
).where(_C.c.team_id == bindparam("team_id"), _C.c.id == bindparam("community_id"))
_CHANNELS = (
    select(_CH.c.channel_id)
    .where(
        _CH.c.team_id == bindparam("team_id"),
        _CH.c.community_id == bindparam("community_id"),
        _CH.c.is_archived.is_(False),
    )
    .order_by(_CH.c.id)
)


def source(unit: OneStatement, *, team_id: str, community_id: int) -> tuple[Any, list[str], list[str]] | None:
    """(the community's columns a welcome reads, as a row, its open channels, its moderators); None when
    the community is gone. On a pooled connection's driver (PostgreSQL, the outbox worker), one
    statement; through a Session, three."""
    if not isinstance(unit, Session):
        return _source_on(unit, team_id=team_id, community_id=community_id)
    keys = {"team_id": team_id, "community_id": community_id}
    community = unit.execute(_SOURCE, keys).first()
    if community is None:
        return None
    channels = list(unit.scalars(_CHANNELS, keys))
    return (
        community,
        channels,
        membership_repo.moderators(unit, team_id=team_id, community_id=community_id),
    )


# `source` in one statement, for the outbox worker on PostgreSQL (on the driver, in autocommit): the same
# three statements, the channels and the moderators as arrays of the community's row. Through a Session
# they took more of the worker's CPU than the welcome's own Slack calls.
_SOURCE_AT_ONCE = _SOURCE.add_columns(
    func.array(_CHANNELS.scalar_subquery()).label("channels"),
    func.array(membership_repo.MODERATORS.scalar_subquery()).label("moderators"),
)


def _source_on(
    connection: DriverConnection, *, team_id: str, community_id: int
) -> tuple[Any, list[str], list[str]] | None:
    compiled = for_driver(_SOURCE_AT_ONCE, connection.dialect)
    keys = {"team_id": team_id, "community_id": community_id}
    found = connection.first(compiled.sql, compiled.params(keys))
    if found is None:
        return None
    values = compiled.row(found)
    return _SourceRow(*values), list(values[-2]), list(values[-1])  # the last two: channels, moderators


# A row of `_SOURCE_AT_ONCE`, read by name as SQLAlchemy's rows are (bot.services.welcome.content).
_SourceRow: Any = namedtuple("_SourceRow", [c.name for c in _SOURCE_AT_ONCE.selected_columns])  # type: ignore[misc]
