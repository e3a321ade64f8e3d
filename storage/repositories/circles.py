"""The circle rule as SQL, for many communities at once: who moves between circles today, and the moves.

`bot/domain/circles.py` is the specification (tests/test_circles_sql.py holds this module to it on
random histories, on both databases). This module returns only the members whose circle changes,
never every membership, so the daily pass costs memory in proportion to what changes.

How the rule becomes SQL (T = the community's local today, W = window, G = grace):
- **promotion**: an outer member whose window [T-W+1, T] has at least `min_contributions` contributions
  on at least `min_days` distinct days: one GROUP BY over the window's rows only;
- **demotion**: an inner member who has been inner since before T-G+1 (local date) and who qualified on
  no day D of the grace period [F, T], F = T-G+1. It is enough to look at D = F and at the days in
  [F, T] with a contribution: for any D, the window ending on the last active day d <= D inside
  [D-W+1, D] holds all of D's window activity (if d >= F), else the window ending on F does (d < F <= D).
  The windows ending on active days are running sums over days (a RANGE frame of W-1 days, so one
  statement per distinct window length); the window ending on F is one more GROUP BY.
Dates are computed in Python (each community's local "today" from its timezone) and passed with the
community as one JSON parameter, so both databases run the same statement shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import Integer, any_, bindparam, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from storage.models import Membership
from storage.types import UTCDateTime

# Ids per UPDATE: well under SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
MOVE_CHUNK = 5000


@dataclass(frozen=True)
class CircleTarget:
    """One community to evaluate, with its rule (already clamped into bounds) and its local today."""

    community_id: int
    team_id: str
    today: date
    window_days: int
    min_contributions: int
    min_days: int
    grace_days: int
    # Inner since before this instant (UTC) means inner since before the local day T-G+1.
    since_cutoff: datetime

    def as_json(self) -> dict[str, Any]:
        window_start = self.today - timedelta(days=self.window_days - 1)
        check_start = self.today - timedelta(days=self.grace_days - 1)
        horizon = check_start - timedelta(days=self.window_days - 1)
        return {
            "community_id": self.community_id,
            "team_id": self.team_id,
            "today": self.today.isoformat(),
            "window_start": window_start.isoformat(),
            "check_start": check_start.isoformat(),
            "horizon": horizon.isoformat(),
            # Naive UTC with microseconds: how UTCDateTime is stored (SQLite compares it as text).
            "since_cutoff": self.since_cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "min_contributions": self.min_contributions,
            "min_days": self.min_days,
        }


@dataclass(frozen=True)
class CircleMove:
    """A member whose circle changes today; `contributions` and `days` are their window's figures."""

    membership_id: int
    team_id: str
    community_id: int
    user_id: str
    from_circle: str
    to_circle: str
    contributions: int
    days: int


_TARGETS = {
    "postgresql": """
        SELECT * FROM jsonb_to_recordset(CAST(:targets AS jsonb)) AS x(
            community_id integer, team_id text, today date, window_start date, check_start date,
            horizon date, since_cutoff timestamp, min_contributions integer, min_days integer)
    """,
    "sqlite": """
        SELECT json_extract(value, '$.community_id') AS community_id,
               json_extract(value, '$.team_id') AS team_id,
               json_extract(value, '$.today') AS today,
               json_extract(value, '$.window_start') AS window_start,
               json_extract(value, '$.check_start') AS check_start,
               json_extract(value, '$.horizon') AS horizon,
               json_extract(value, '$.since_cutoff') AS since_cutoff,
               json_extract(value, '$.min_contributions') AS min_contributions,
               json_extract(value, '$.min_days') AS min_days
        FROM json_each(:targets)
    """,
}

# A day as a whole number, for the RANGE frame (consecutive days differ by one on both databases).
_DAY_NUMBER = {"postgresql": "(a.day - DATE '2000-01-01')", "sqlite": "CAST(julianday(a.day) AS INTEGER)"}

# Every active member with today's window: GROUP BY over the window's rows only. PostgreSQL aggregates
# each member's few rows in a LATERAL subquery (one index-only probe each, no sort of all the rows by
# member); SQLite, which has no LATERAL, groups the joined rows.
_MEMBERS = {
    "postgresql": """
    SELECT tm.*, COALESCE(w.total, 0) AS total, w.days
    FROM tm LEFT JOIN LATERAL (
        SELECT SUM(a.contributions) AS total, COUNT(DISTINCT a.day) AS days
        FROM activity_days a
        WHERE a.team_id = tm.team_id AND a.community_id = tm.community_id AND a.user_id = tm.user_id
          AND a.day >= tm.window_start AND a.day <= tm.today AND a.contributions > 0
    ) AS w ON true""",
    "sqlite": """
    SELECT tm.id, tm.team_id, tm.community_id, tm.user_id, tm.circle, tm.circle_since, tm.since_cutoff,
           tm.today, tm.window_start, tm.check_start, tm.horizon, tm.min_contributions, tm.min_days,
           COALESCE(SUM(a.contributions), 0) AS total, COUNT(DISTINCT a.day) AS days
    FROM tm LEFT JOIN activity_days a
      ON a.team_id = tm.team_id AND a.community_id = tm.community_id AND a.user_id = tm.user_id
     AND a.day >= tm.window_start AND a.day <= tm.today AND a.contributions > 0
    GROUP BY tm.id, tm.team_id, tm.community_id, tm.user_id, tm.circle, tm.circle_since, tm.since_cutoff,
             tm.today, tm.window_start, tm.check_start, tm.horizon, tm.min_contributions, tm.min_days""",
}

# Each CTE reads the one before it, or a table through an index: never a join between two CTEs, whose
# row counts PostgreSQL cannot estimate (a JSON function says 100 rows) and would join in nested loops.
_MOVES = """
WITH t AS ({targets}),
-- Every active member of these communities with today's window: GROUP BY over the window's rows only.
tm AS MATERIALIZED (
    SELECT m.id, m.team_id, m.community_id, m.user_id, m.circle, m.circle_since, t.since_cutoff,
           t.today, t.window_start, t.check_start, t.horizon, t.min_contributions, t.min_days
    FROM t JOIN memberships m ON m.team_id = t.team_id AND m.community_id = t.community_id
    -- Inner since the grace period began: nothing can move them today, nothing to read.
    WHERE m.left_at IS NULL
      AND (m.circle = 'outer' OR (m.circle = 'inner' AND m.circle_since < t.since_cutoff))
),
members AS ({members}
),
promoted AS (
    SELECT id, team_id, community_id, user_id, 'outer' AS from_circle, 'inner' AS to_circle, total, days
    FROM members
    WHERE circle = 'outer' AND total >= min_contributions AND days >= min_days
),
-- Inner members who do not qualify today and whose grace period could be over...
cand AS (
    SELECT * FROM members
    WHERE circle = 'inner' AND circle_since < since_cutoff
      AND NOT (total >= min_contributions AND days >= min_days)
),
-- ...their days with contributions from the horizon on (one row with no day when there are none)...
daily AS (
    SELECT c.id, c.team_id, c.community_id, c.user_id, c.check_start, c.min_contributions, c.min_days,
           c.total, c.days, a.day, {day_number} AS day_number, SUM(a.contributions) AS n
    FROM cand c LEFT JOIN activity_days a
      ON a.team_id = c.team_id AND a.community_id = c.community_id AND a.user_id = c.user_id
     AND a.day >= c.horizon AND a.day <= c.today AND a.contributions > 0
    GROUP BY c.id, c.team_id, c.community_id, c.user_id, c.check_start, c.min_contributions, c.min_days,
             c.total, c.days, a.day
),
-- ...the window ending on each of those days (running sums over the last W days)...
sliding AS (
    SELECT daily.*, SUM(n) OVER w AS run_total, COUNT(n) OVER w AS run_days
    FROM daily
    WINDOW w AS (PARTITION BY id ORDER BY day_number RANGE BETWEEN {preceding} PRECEDING AND CURRENT ROW)
),
-- ...demoted when none of those windows in the grace period qualifies, nor the one ending on its
-- first day (which starts on the horizon: the sum of the days up to the grace period's first).
demoted AS (
    SELECT id, team_id, community_id, user_id, 'inner' AS from_circle, 'outer' AS to_circle, total, days
    FROM sliding
    GROUP BY id, team_id, community_id, user_id, check_start, min_contributions, min_days, total, days
    HAVING MAX(CASE WHEN day >= check_start AND run_total >= min_contributions AND run_days >= min_days
                    THEN 1 ELSE 0 END) = 0
       AND NOT (COALESCE(SUM(CASE WHEN day <= check_start THEN n END), 0) >= min_contributions
                AND COUNT(CASE WHEN day <= check_start THEN n END) >= min_days)
)
SELECT id, team_id, community_id, user_id, from_circle, to_circle, total, days FROM promoted
UNION ALL
SELECT id, team_id, community_id, user_id, from_circle, to_circle, total, days FROM demoted
"""


def statement(targets: Sequence[CircleTarget], dialect: str = "postgresql") -> tuple[str, str]:
    """The SQL and its one parameter (`targets`, JSON) for communities sharing one window length."""
    windows = {target.window_days for target in targets}
    if len(windows) != 1:
        raise ValueError(f"one window length per statement, not {sorted(windows)}")
    sql = _MOVES.format(
        targets=_TARGETS[dialect],
        members=_MEMBERS[dialect],
        day_number=_DAY_NUMBER[dialect],
        preceding=int(windows.pop()) - 1,  # an int, validated by the rule: safe in the SQL text
    )
    return sql, json.dumps([target.as_json() for target in targets])


def moves(session: Session, targets: Sequence[CircleTarget]) -> list[CircleMove]:
    """Every member of these communities whose circle changes today (by the rule), nothing else.

    One statement per distinct window length among the targets (a RANGE frame takes a constant).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # The server's memory, not ours: sorts of a few hundred thousand window rows stay off the disk.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    result: list[CircleMove] = []
    by_window = sorted(targets, key=lambda target: target.window_days)
    for _, group in groupby(by_window, key=lambda target: target.window_days):
        sql, payload = statement(list(group), dialect)
        rows = session.execute(text(sql), {"targets": payload})
        result.extend(
            CircleMove(
                membership_id=int(row.id),
                team_id=str(row.team_id),
                community_id=int(row.community_id),
                user_id=str(row.user_id),
                from_circle=str(row.from_circle),
                to_circle=str(row.to_circle),
                contributions=int(row.total),
                days=int(row.days),
            )
            for row in rows
        )
    return result


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def move(
    session: Session, *, membership_ids: Sequence[int], from_circle: str, to_circle: str, now: datetime
) -> set[int]:
    """Compare-and-set, in batches: move each still-active member who is still in `from_circle`.

    Returns the ids actually moved; a member a concurrent event already moved is left out (one change,
    one history row), exactly as `memberships.move_circle` does for one member. PostgreSQL gets all the
    ids as one array parameter (thousands of placeholders cost psycopg more to send than the update
    costs); SQLite gets them in chunks of placeholders, under its limit.
    """
    postgresql = session.get_bind().dialect.name == "postgresql"
    ids = list(membership_ids)
    chunks = [ids] if postgresql else list(_chunks(ids, MOVE_CHUNK))
    moved: set[int] = set()
    for chunk in chunks:
        chosen = (
            Membership.id == any_(bindparam("ids", list(chunk), type_=ARRAY(Integer)))
            if postgresql
            else Membership.id.in_(chunk)
        )
        result = session.execute(
            update(Membership)
            .where(chosen, Membership.circle == from_circle, Membership.left_at.is_(None))
            .values(circle=to_circle, circle_since=now)
            .returning(Membership.id)
            .execution_options(synchronize_session="fetch")
        )
        moved.update(int(row[0]) for row in result)
    return moved


_CHANGES = {
    "postgresql": """
        INSERT INTO circle_changes (team_id, community_id, user_id, from_circle, to_circle, reason_key,
                                    reason_params, changed_at)
        SELECT team_id, community_id, user_id, from_circle, to_circle, reason_key, reason_params, :changed_at
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(team_id text, community_id integer, user_id text,
             from_circle text, to_circle text, reason_key text, reason_params json)
    """,
    "sqlite": """
        INSERT INTO circle_changes (team_id, community_id, user_id, from_circle, to_circle, reason_key,
                                    reason_params, changed_at)
        SELECT json_extract(value, '$.team_id'), json_extract(value, '$.community_id'),
               json_extract(value, '$.user_id'), json_extract(value, '$.from_circle'),
               json_extract(value, '$.to_circle'), json_extract(value, '$.reason_key'),
               json(json_extract(value, '$.reason_params')), :changed_at
        FROM json_each(:rows)
    """,
}


def record_changes(session: Session, rows: Sequence[dict[str, Any]], *, changed_at: datetime) -> None:
    """The history rows of the moves made (team_id, community_id, user_id, from_circle, to_circle,
    reason_key, reason_params), all at `changed_at`, in one INSERT ... SELECT from one JSON parameter."""
    if not rows:
        return
    statement = text(_CHANGES[session.get_bind().dialect.name]).bindparams(
        bindparam("changed_at", type_=UTCDateTime())
    )
    session.execute(statement, {"rows": json.dumps(list(rows)), "changed_at": changed_at})
