"""Benchmark: the scheduler's passes at scale, against a floor measured in the same run.

Three functions run ONE pass of the real code path against whatever data is in the database and
return (seconds, SQL statements); `bench/bench_scale.py` calls them on its own data:

  - time_tick_send(db_url, emulator_url): the tick that opens the due reviews and writes their prompts
    to the outbox (claimed, summarised and marked sent a batch at a time). The outbox worker sends
    them afterwards, at Slack's rate tiers: that is not part of the tick and not timed here.
  - time_tick(db_url): a steady tick (the due reviews already sent, nothing new due).
  - time_momentum(db_url): the hourly momentum pass over every active community.

What they need filled in the database (on top of what the migrations require):
  communities: status 'active', timezone (IANA), review_cadence_weeks (2/4/8/12), created_by, created_at,
    next_review_on, and next_due_at: after inserting rows by raw SQL call `fill_due_times(db_url)`
    (the set-based UPDATE the migration uses too) or the tick will not see them;
  memberships (role 'core' for moderators, circle, joined_at, joined_via, left_at NULL), activity_days.
Every pass runs at `now` (default: the next working instant in UTC from the real time, so a run on a
Sunday still measures sending); rows must be due by then (next_review_on on or before now's date,
communities in timezones where `now` is within working hours, 09:00-18:00 Monday to Friday).

The standalone main generates its own data with set-based SQL (10,000 communities of 10 members,
1% due, some activity), then prints seconds, statements and ratios to two floors: one indexed
SELECT round trip, and a tick with nothing due.

    .venv/bin/python bench/bench_schedules.py [--database postgresql|sqlite] [--communities 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text

from bench.databases import fresh_database
from bot import reminders
from bot.clock import ManualClock
from bot.domain import cadence
from bot.runtime import Deps
from bot.settings import Settings
from storage import migrate
from storage.db import Database
from storage.schedule import fill_next_due, fill_next_steps

NOT_COUNTED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


def working_now(now: datetime | None = None) -> datetime:
    """`now` (default: the real time) moved to the next working instant in UTC."""
    return cadence.next_working_time("UTC", now or datetime.now(UTC))


def _deps(db: Database, now: datetime, emulator_url: str | None = None) -> Deps:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET="bench",
        SLACK_API_URL=emulator_url or "http://127.0.0.1:9/api/",
        DATABASE_URL=db.url,
        LOG_LEVEL="WARNING",
    )
    return Deps(settings=settings, db=db, clock=ManualClock(now))


@contextmanager
def counting(db: Database) -> Iterator[list[int]]:
    """Counts the SQL statements run meanwhile (an executemany is one)."""
    count = [0]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(NOT_COUNTED):
            count[0] += 1

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield count
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


# One app per database, as in a running process: its caches (what it knows of people, what it
# already asked the outbox to look up) carry from one pass to the next, as they do between hourly passes.
_APPS: dict[str, Deps] = {}


def _one_pass(
    db_url: str, job: Callable[[Deps], Any], now: datetime | None, emulator_url: str | None = None
) -> tuple[float, int]:
    deps = _APPS.get(db_url)
    if deps is None:
        deps = _APPS[db_url] = _deps(Database(db_url), working_now(now), emulator_url)
    assert isinstance(deps.clock, ManualClock)
    deps.clock.set(working_now(now))
    with deps.db.engine.connect():  # the pool's first connection is not the pass's cost
        pass
    with counting(deps.db) as count:
        started = time.perf_counter()
        job(deps)
        elapsed = time.perf_counter() - started
    return elapsed, count[0]


def close(db_url: str) -> None:
    """Forget the app of `db_url` (its connections are closed)."""
    deps = _APPS.pop(db_url, None)
    if deps is not None:
        deps.db.dispose()


def time_tick_send(
    db_url: str, emulator_url: str | None = None, *, now: datetime | None = None
) -> tuple[float, int]:
    """One tick that opens the due reviews and writes their prompts to the outbox."""
    return _one_pass(db_url, reminders.tick, now, emulator_url)


def time_tick(db_url: str, *, now: datetime | None = None) -> tuple[float, int]:
    """One steady tick (run it after `time_tick_send`: the due reviews are sent, nothing else due)."""
    return _one_pass(db_url, reminders.tick, now)


def time_momentum(db_url: str, *, now: datetime | None = None) -> tuple[float, int]:
    """One momentum pass over every active community."""
    return _one_pass(db_url, reminders.momentum_pass, now)


def fill_due_times(db_url: str) -> None:
    """Due times of rows inserted by raw SQL (communities.next_due_at, reviews.next_step_at)."""
    db = Database(db_url)
    try:
        with db.engine.begin() as connection:
            fill_next_due(connection)
            fill_next_steps(connection)
    finally:
        db.dispose()


# ---- the standalone run ----------------------------------------------------------------------
def generate(db_url: str, *, communities: int, members: int, due_share: float, now: datetime) -> None:
    """Set-based data: `communities` communities of `members` members (the first two moderators), a
    `due_share` of them due today, the others in two weeks; activity on a third of the days of the last
    70 for the first three members of each community."""
    db = Database(db_url)
    migrate.upgrade(db.engine)
    today = now.date()
    created = now - timedelta(days=200)
    due_every = max(1, round(1 / due_share))
    naive = {"created": created.replace(tzinfo=None), "today": today, "later": today + timedelta(days=14)}
    with db.engine.begin() as c:
        c.execute(text("CREATE TEMPORARY TABLE nums (n INTEGER PRIMARY KEY)"))
        c.execute(text("INSERT INTO nums (n) VALUES (:n)"), [{"n": n} for n in range(max(communities, 100))])
        c.execute(
            text(
                "INSERT INTO communities (team_id, name, slug, domain, objectives, objectives_other,"
                " key_people, visibility, language, timezone, review_cadence_weeks, status, created_by,"
                " created_at,"
                " next_review_on, circle_window_days, inner_min_contributions, inner_min_days,"
                " demotion_grace_days, promotion_dm, review_outcome_in_channel)"
                " SELECT 'TBENCH', 'Community ' || n, 'community-' || n, '', '[]', '', '[]', 'open', 'en',"
                " 'UTC', 4, 'active', 'U' || n || 'x0', :created,"
                f" CASE WHEN n % {due_every} = 0 THEN :today ELSE :later END, 30, 4, 2, 45, true, true"
                " FROM nums WHERE n < :count"
            ),
            {**naive, "count": communities},
        )
        c.execute(
            text(
                "INSERT INTO memberships (team_id, community_id, user_id, role, circle, circle_since,"
                " joined_at, joined_via) SELECT 'TBENCH', c.id, 'U' || (c.id - 1) || 'x' || m.n,"
                " CASE WHEN m.n < 2 THEN 'core' ELSE 'member' END,"
                " CASE WHEN m.n < 4 THEN 'inner' ELSE 'outer' END, :created, :created,"
                " CASE WHEN m.n = 0 THEN 'creation' ELSE 'command' END"
                " FROM communities c CROSS JOIN nums m WHERE m.n < :members"
            ),
            {**naive, "members": members},
        )
        days = [today - timedelta(days=d) for d in range(0, 70, 3)]
        for day in days:  # one statement per day: 10k communities x 3 members each
            c.execute(
                text(
                    "INSERT INTO activity_days (team_id, community_id, channel_id, user_id, day,"
                    " contributions, reactions) SELECT 'TBENCH', c.id, 'C' || c.id,"
                    " 'U' || (c.id - 1) || 'x' || m.n, :day,"
                    " 1 + (c.id + m.n) % 3, 0 FROM communities c CROSS JOIN nums m WHERE m.n >= 1 AND m.n < 4"
                ),
                {"day": day},
            )
        fill_next_due(c)
    db.dispose()


def _floor(db_url: str, rounds: int = 50) -> float:
    """One indexed SELECT round trip (median)."""
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                connection.execute(text("SELECT id FROM communities WHERE id = 1")).all()
                times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--due", type=float, default=0.01, help="share of communities due")
    args = parser.parse_args()

    # A Monday at 10:00 UTC: every community (in UTC) is within working hours.
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.database, Path(folder), "schedules") as url,
    ):
        try:
            started = time.perf_counter()
            generate(url, communities=args.communities, members=args.members, due_share=args.due, now=now)
            print(
                f"database: {args.database}; {args.communities} communities x {args.members} members,"
                f" {args.due:.0%} due; generated in {time.perf_counter() - started:.1f} s"
            )
            floor = _floor(url)
            results = {"tick_send": time_tick_send(url, now=now)}
            idle = [time_tick(url, now=now) for _ in range(5)]
            results["tick"] = min(idle, key=lambda r: r[0])
            results["momentum"] = time_momentum(url, now=now)
            results["momentum_again"] = time_momentum(url, now=now + timedelta(minutes=1))
        finally:
            close(url)  # its connections closed before the schema is dropped
    print(f"floor: one indexed SELECT round trip {floor * 1000:.3f} ms; steady tick (best of 5) = tick")
    for name, (seconds, statements) in results.items():
        print(
            f"{name:15s} {seconds:8.3f} s  {statements:6d} statements"
            f"  ratio to a SELECT {seconds / floor:9.1f}"
            f"  ratio to the steady tick {seconds / results['tick'][0]:8.1f}"
        )


if __name__ == "__main__":
    main()
