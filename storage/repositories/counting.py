"""Counting one message or reaction: claim the event id, find or create the membership, bump the day's
counter, and read what the promotion check needs: on PostgreSQL in ONE statement (one round trip).

The statement is given the binding the caller's cache holds (storage/bindings.py) and re-checks it in
the database: when the channel is no longer bound to that community as described (dissolved, unbound,
re-bound, another time zone or rule), it writes nothing and says so (`bound=False`).

Someone with no membership yet must be checked against `forgotten_users`, which holds a keyed hash
computed in Python (storage/repositories/privacy.py); the hash costs a read of the key, so the first
attempt goes without it and, only for a poster who is not a member yet, the caller asks again with it
(`needs_hash=True`: nothing was written).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Integer, String, TextClause, bindparam, text
from sqlalchemy.engine import Dialect

from storage.bindings import Binding
from storage.db import Database, DriverConnection
from storage.types import UTCDateTime


@dataclass(frozen=True)
class CountFigures:
    """What one counting statement did and saw."""

    bound: bool  # the binding still holds as the cache described it
    needs_hash: bool = False  # nothing written: ask again with the poster's hash
    claimed: bool = False  # the event id was ours (or there was none)
    membership_id: int | None = None  # the counted member (None: left, forgotten or not a member)
    circle: str | None = None
    role: str | None = None
    # The member's window (filled for outer members only): the counted row's value after this event,
    # the other rows' contributions, their distinct contribution days other than `day`, and the
    # contributions on `day` in other channels.
    day_contributions: int = 0
    other_contributions: int = 0
    other_days: int = 0
    other_on_day: int = 0
    # Some newcomer's first post in this channel (not the poster's own) waits for a reply
    # (community_channels row): only then does the caller record this message as the reply
    # (bot/services/first_posts.py).
    awaiting_reply: bool = False


# Each CTE reads the snapshot the statement started with; `bump` returns the counted row as written
# (after waiting for a concurrent writer of the same row), so two messages of one member in one
# channel and day both see each other. The aggregate uses ix_activity_days_member.
_BINDING_AND_MEMBER = """
WITH binding AS (
    SELECT c.id AS community_id, cc.awaiting_reply_since, cc.awaiting_reply_from
    FROM community_channels cc JOIN communities c ON c.id = cc.community_id
    WHERE cc.id = :binding_id AND cc.team_id = :team_id AND cc.channel_id = :channel_id
      AND cc.community_id = :community_id AND c.status = 'active' AND c.timezone = :timezone
      AND c.circle_window_days = :window_days AND c.inner_min_contributions = :min_contributions
      AND c.inner_min_days = :min_days AND c.demotion_grace_days = :grace_days
),
member AS (
    SELECT m.id, m.circle, m.role, m.left_at FROM memberships m
    WHERE m.team_id = :team_id AND m.community_id = :community_id AND m.user_id = :user_id
      AND EXISTS (SELECT 1 FROM binding)
),"""

# `counted`, the member to count (none: nothing is counted), comes before this.
_BUMP_AND_FIGURES = """
bump AS (
    INSERT INTO activity_days (team_id, community_id, channel_id, user_id, day, contributions, reactions)
    SELECT :team_id, :community_id, :channel_id, :user_id, :day, :contributions, :reactions FROM counted
    ON CONFLICT (team_id, community_id, channel_id, user_id, day) DO UPDATE SET
        contributions = activity_days.contributions + EXCLUDED.contributions,
        reactions = activity_days.reactions + EXCLUDED.reactions
    RETURNING contributions
),
others AS (
    SELECT COALESCE(SUM(a.contributions), 0) AS contributions,
           COUNT(DISTINCT a.day) FILTER (WHERE a.contributions > 0 AND a.day <> :day) AS days,
           COALESCE(SUM(a.contributions) FILTER (WHERE a.day = :day), 0) AS on_day
    FROM activity_days a
    WHERE a.team_id = :team_id AND a.community_id = :community_id AND a.user_id = :user_id
      AND a.day >= :window_start AND a.day <= :today
      AND NOT (a.channel_id = :channel_id AND a.day = :day)
      AND EXISTS (SELECT 1 FROM counted WHERE circle = 'outer')
)
SELECT EXISTS (SELECT 1 FROM binding) AS bound,
       {needs_hash} AS needs_hash,
       (CAST(:event_id AS text) IS NULL OR EXISTS (SELECT 1 FROM claim)) AS claimed,
       counted.id, counted.circle, counted.role,
       (SELECT contributions FROM bump) AS day_contributions,
       others.contributions, others.days, others.on_day,
       EXISTS (SELECT 1 FROM binding WHERE awaiting_reply_since IS NOT NULL
               AND (awaiting_reply_from IS NULL OR awaiting_reply_from <> :user_id)) AS awaiting_reply
FROM (SELECT 1) AS one
LEFT JOIN counted ON true
LEFT JOIN others ON true
"""

# With the poster's hash (`user_hash`): someone who is not a member yet becomes one, unless forgotten.
_PG_COUNT = (
    _BINDING_AND_MEMBER
    + """
go AS (
    SELECT community_id FROM binding
    WHERE EXISTS (SELECT 1 FROM member) OR NOT :create OR CAST(:user_hash AS text) IS NOT NULL
),
claim AS (
    INSERT INTO processed_events (event_id, team_id, received_at)
    SELECT :event_id, :team_id, :now FROM go WHERE CAST(:event_id AS text) IS NOT NULL
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
),
proceed AS (
    SELECT community_id FROM go
    WHERE CAST(:event_id AS text) IS NULL OR EXISTS (SELECT 1 FROM claim)
),
joined AS (
    INSERT INTO memberships
        (team_id, community_id, user_id, role, circle, circle_since, joined_at, left_at, joined_via,
         changed_at)
    SELECT :team_id, community_id, :user_id, 'member', 'outer', :now, :now, NULL, 'channel', :now
    FROM proceed
    WHERE :create AND NOT EXISTS (SELECT 1 FROM member)
      AND NOT EXISTS (SELECT 1 FROM forgotten_users f WHERE f.user_hash = :user_hash)
    ON CONFLICT (team_id, community_id, user_id) DO UPDATE SET user_id = EXCLUDED.user_id
    RETURNING id, circle, role, left_at
),
counted AS (
    SELECT id, circle, role FROM member WHERE left_at IS NULL AND EXISTS (SELECT 1 FROM proceed)
    UNION ALL
    SELECT id, circle, role FROM joined WHERE left_at IS NULL
),"""
    + _BUMP_AND_FIGURES.format(needs_hash="NOT EXISTS (SELECT 1 FROM go)")
)

# Without it (the event loop's count, and every first attempt): no one can become a member, so the steps
# that would make one (and look for their hash among the forgotten) are left out: fewer plan nodes for
# PostgreSQL to start and run on every message. Someone who is not a member is then counted only in a
# reaction (`create` false: the event is claimed, nothing counted); otherwise nothing is written and the
# caller asks again with the hash (`needs_hash`), as the statement above does without a hash.
_PG_COUNT_MEMBER = (
    _BINDING_AND_MEMBER
    + """
claim AS (
    INSERT INTO processed_events (event_id, team_id, received_at)
    SELECT :event_id, :team_id, :now FROM binding
    WHERE CAST(:event_id AS text) IS NOT NULL AND (EXISTS (SELECT 1 FROM member) OR NOT :create)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
),
counted AS (
    SELECT id, circle, role FROM member
    WHERE left_at IS NULL AND (CAST(:event_id AS text) IS NULL OR EXISTS (SELECT 1 FROM claim))
),"""
    + _BUMP_AND_FIGURES.format(needs_hash=":create AND NOT EXISTS (SELECT 1 FROM member)")
)

_PARAM_TYPES: dict[str, Any] = {
    "team_id": String(),
    "channel_id": String(),
    "user_id": String(),
    "event_id": String(),
    "user_hash": String(),
    "community_id": Integer(),
    "now": UTCDateTime(),
    "binding_id": Integer(),
    "day": Date(),
    "today": Date(),
    "window_start": Date(),
}


def pg_statement(prefix: str = "", *, with_hash: bool = True) -> TextClause:
    """The PostgreSQL counting statement (`prefix="EXPLAIN "`: its plan, for the index test); without
    `with_hash`, the one for a caller that has not read the poster's hash."""
    sql = _PG_COUNT if with_hash else _PG_COUNT_MEMBER
    return text(prefix + sql).bindparams(
        *(bindparam(name, type_=kind) for name, kind in _PARAM_TYPES.items() if f":{name}" in sql)
    )


_PG_STATEMENTS = {with_hash: pg_statement(with_hash=with_hash) for with_hash in (True, False)}


@functools.lru_cache(maxsize=8)
def _pg_sql(dialect: Dialect, with_hash: bool) -> str:
    """The statement as SQLAlchemy compiles it for psycopg (`%(name)s::VARCHAR`...), compiled once: it is
    sent on the driver connection (storage.db.DriverConnection), a prepared statement on each connection."""
    return _PG_STATEMENTS[with_hash].compile(dialect=dialect).string


@functools.lru_cache(maxsize=8)
def _bind_processors(dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """What SQLAlchemy does to each typed parameter before the driver sees it (UTCDateTime: naive UTC;
    on SQLite, dates and times as the text SQLAlchemy stores), done here since the driver runs the SQL."""
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, kind in _PARAM_TYPES.items():
        processor = kind.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    return processors


@dataclass(frozen=True)
class Counting:
    """One event to count for `user_id` on `day` (the community's calendar), if the binding still holds.

    `create`: someone with no membership becomes a member (joined via the channel) unless forgotten;
    `user_hash` must then be given, else nothing is written and `needs_hash` is set.
    """

    binding: Binding
    team_id: str
    channel_id: str
    user_id: str
    event_id: str | None
    day: date
    today: date
    window_start: date
    now: datetime
    contributions: int
    reactions: int
    create: bool
    user_hash: str | None


def _params(what: Counting, dialect: Dialect) -> dict[str, object]:
    binding = what.binding
    params: dict[str, object] = {
        "team_id": what.team_id,
        "channel_id": what.channel_id,
        "user_id": what.user_id,
        "event_id": what.event_id,
        "user_hash": what.user_hash,
        "community_id": binding.community_id,
        "binding_id": binding.id,
        "timezone": binding.timezone,
        "window_days": binding.window_days,
        "min_contributions": binding.inner_min_contributions,
        "min_days": binding.inner_min_days,
        "grace_days": binding.demotion_grace_days,
        "now": what.now,
        "day": what.day,
        "today": what.today,
        "window_start": what.window_start,
        "contributions": what.contributions,
        "reactions": what.reactions,
        "create": what.create,
    }
    for name, process in _bind_processors(dialect).items():
        if params[name] is not None:
            params[name] = process(params[name])
    return params


def _pg_figures(row: tuple[Any, ...] | None) -> CountFigures:
    assert row is not None  # the statement always returns its one row
    return CountFigures(
        bound=bool(row[0]),
        needs_hash=bool(row[0]) and bool(row[1]),
        claimed=bool(row[2]),
        membership_id=row[3],
        circle=row[4],
        role=row[5],
        day_contributions=row[6] or 0,
        other_contributions=row[7] or 0,
        other_days=row[8] or 0,
        other_on_day=row[9] or 0,
        awaiting_reply=bool(row[10]),
    )


def count(connection: DriverConnection, what: Counting) -> CountFigures:
    """Count one event (see Counting). On SQLite, the caller's unit of work (storage.db.Database.on_driver
    or on_driver_together) holds the write lock: the steps are serializable."""
    params = _params(what, connection.dialect)
    if connection.backend == "postgresql":
        sql = _pg_sql(connection.dialect, what.user_hash is not None)
        return _pg_figures(connection.first(sql, params))
    return _count_simply(connection, params)


async def count_async(db: Database, what: Counting) -> CountFigures:
    """PostgreSQL's one statement, awaited on the event loop, in one round trip and one transaction with
    the other events' counts sent meanwhile (storage.db.Database.first_together): one day's counter row
    of one member each, which they lock in this order."""
    dialect = db.engine.dialect
    lock_order = (what.team_id, str(what.binding.community_id), what.channel_id, what.user_id, str(what.day))
    sql = _pg_sql(dialect, what.user_hash is not None)
    return _pg_figures(await db.first_together(sql, _params(what, dialect), lock_order))


def _count_simply(connection: DriverConnection, params: dict[str, object]) -> CountFigures:
    """SQLite: the same steps as separate statements in the caller's transaction (a local file: a
    statement costs microseconds on the driver, and BEGIN IMMEDIATE makes the transaction serializable).
    sqlite3 takes the `:name` parameters as they are written."""
    # The binding's re-check (and its channel's first post awaiting a reply) and the poster's membership,
    # in one statement: no row, not bound (any more).
    bound = connection.first(
        """SELECT m.id, m.circle, m.role, m.left_at, cc.awaiting_reply_since, cc.awaiting_reply_from
        FROM community_channels cc JOIN communities c ON c.id = cc.community_id
        LEFT JOIN memberships m
          ON m.team_id = :team_id AND m.community_id = :community_id AND m.user_id = :user_id
        WHERE cc.id = :binding_id AND cc.team_id = :team_id AND cc.channel_id = :channel_id
          AND cc.community_id = :community_id AND c.status = 'active' AND c.timezone = :timezone
          AND c.circle_window_days = :window_days AND c.inner_min_contributions = :min_contributions
          AND c.inner_min_days = :min_days AND c.demotion_grace_days = :grace_days""",
        params,
    )
    if bound is None:
        return CountFigures(bound=False)
    awaiting_reply = bound[4] is not None and bound[5] != params["user_id"]
    member_sql = """SELECT id, circle, role, left_at FROM memberships
        WHERE team_id = :team_id AND community_id = :community_id AND user_id = :user_id"""
    member = bound[:4] if bound[0] is not None else None
    if member is None and params["create"] and params["user_hash"] is None:
        return CountFigures(bound=True, needs_hash=True)
    if params["event_id"] is not None:
        claimed = connection.first(
            """INSERT INTO processed_events (event_id, team_id, received_at)
            VALUES (:event_id, :team_id, :now)
            ON CONFLICT (event_id) DO NOTHING RETURNING event_id""",
            params,
        )
        if claimed is None:
            return CountFigures(bound=True, claimed=False)
    if member is None and params["create"]:
        forgotten = connection.first("SELECT 1 FROM forgotten_users WHERE user_hash = :user_hash", params)
        if forgotten is None:
            connection.run(
                """INSERT INTO memberships (team_id, community_id, user_id, role, circle, circle_since,
                    joined_at, left_at, joined_via, changed_at)
                VALUES (:team_id, :community_id, :user_id, 'member', 'outer', :now, :now, NULL, 'channel',
                    :now)
                ON CONFLICT (team_id, community_id, user_id) DO NOTHING""",
                params,
            )
            member = connection.first(member_sql, params)
    if member is None or member[3] is not None:  # none, or left
        return CountFigures(bound=True, claimed=True)
    bumped = connection.first(
        """INSERT INTO activity_days
            (team_id, community_id, channel_id, user_id, day, contributions, reactions)
        VALUES (:team_id, :community_id, :channel_id, :user_id, :day, :contributions, :reactions)
        ON CONFLICT (team_id, community_id, channel_id, user_id, day) DO UPDATE SET
            contributions = activity_days.contributions + excluded.contributions,
            reactions = activity_days.reactions + excluded.reactions
        RETURNING contributions""",
        params,
    )
    assert bumped is not None
    membership_id, circle, role = member[0], member[1], member[2]
    figures = CountFigures(
        bound=True,
        claimed=True,
        membership_id=membership_id,
        circle=circle,
        role=role,
        day_contributions=bumped[0],
        awaiting_reply=awaiting_reply,
    )
    if circle != "outer":
        return figures
    others = connection.first(
        """SELECT COALESCE(SUM(contributions), 0),
                  COUNT(DISTINCT CASE WHEN contributions > 0 AND day <> :day THEN day END),
                  COALESCE(SUM(CASE WHEN day = :day THEN contributions END), 0)
        FROM activity_days
        WHERE team_id = :team_id AND community_id = :community_id AND user_id = :user_id
          AND day >= :window_start AND day <= :today AND NOT (channel_id = :channel_id AND day = :day)""",
        params,
    )
    assert others is not None
    return CountFigures(
        bound=True,
        claimed=True,
        membership_id=membership_id,
        circle=circle,
        role=role,
        day_contributions=bumped[0],
        other_contributions=others[0],
        other_days=others[1],
        other_on_day=others[2],
        awaiting_reply=awaiting_reply,
    )
