"""Benchmark at scale: the hourly circle recompute, the scheduler's tick (sending, then steady) and the
momentum pass over generated data, against a floor measured in the same run.

    .venv/bin/python bench/bench_scale.py --database postgresql \\
        [--communities 10000] [--members 100000] [--activity-rows 10000000] [--seed 1]

Generates the data (bench/scale_data.py, set-based SQL) into a fresh database (PostgreSQL: a schema
named with this process id, dropped at the end; SQLite: a temporary file), then runs each pass in a
child process that does only that pass, so its peak RSS and its statement count are the pass's own,
not the generator's (VmHWM on Linux: ru_maxrss survives execve, see peak_rss_mb). The recompute is
`bot.scheduler.recompute_all`, what `cdp-bot recompute` and the hourly job run; the tick and the
momentum pass are `bot.reminders.tick` and `momentum_pass` (bench/bench_schedules.py), at the next
working instant in UTC: the due communities whose timezone is in working hours then get their prompts.

The floor: one aggregate over the activity rows of the last 30 days, with no index to help
(`SELECT count(*), sum(contributions) FROM activity_days WHERE day >= ...`), the least a pass that
looks at every member's window must read. Timings on a shared machine are noisy: compare ratios.

The last line printed is one JSON object: recompute_s, tick_s, tick_send_s, momentum_s, peak_rss_mb,
memberships, activity_rows, communities (null for a pass not measured yet).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bench.databases import fresh_database
from bench.scale_data import generate
from storage.db import Database
from storage.migrate import upgrade


# ---- the passes, each run alone in a child process ---------------------------------------------------
def _count_statements(engine: Engine) -> list[int]:
    counter = [0]

    def count(*_args: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    return counter


def _recompute(url: str) -> dict[str, Any]:
    from bot.clock import SystemClock
    from bot.runtime import Deps
    from bot.scheduler import recompute_all
    from bot.settings import Settings

    db = Database(url)
    statements = _count_statements(db.engine)
    deps = Deps(settings=Settings(_env_file=None, DATABASE_URL=url), db=db, clock=SystemClock())  # type: ignore[call-arg]
    started = time.perf_counter()
    changes = recompute_all(deps)
    seconds = time.perf_counter() - started
    db.dispose()
    return {"seconds": seconds, "statements": statements[0], "changes": changes}


BASELINE_COMMUNITIES = 100


def _python_baseline(url: str) -> dict[str, Any]:
    """The rule as it ran before issue 9, for comparison: per community, every membership and activity
    row of the window and grace period as ORM objects, and decide() per member in Python. Read and decide
    only (nothing written), on the first BASELINE_COMMUNITIES communities."""
    from bot.domain import circles as rule_domain
    from bot.services.circles import local_day_of, local_today, rule_of
    from storage.repositories import activity as activity_repo
    from storage.repositories import communities as community_repo
    from storage.repositories import memberships as membership_repo

    db = Database(url)
    now = datetime.now(UTC)
    members = 0
    started = time.perf_counter()
    with db.session() as session:
        for community in community_repo.all_active(session)[:BASELINE_COMMUNITIES]:
            rule, today = rule_of(community), local_today(community, now)
            rows = activity_repo.for_community(
                session,
                team_id=community.team_id,
                community_id=community.id,
                since=today - timedelta(days=rule.history_days),
            )
            for membership in membership_repo.active(
                session, team_id=community.team_id, community_id=community.id
            ):
                members += 1
                rule_domain.decide(
                    [
                        rule_domain.ActivityDay(row.day, row.contributions, row.reactions)
                        for row in rows
                        if row.user_id == membership.user_id
                    ],
                    rule,
                    today=today,
                    current="inner" if membership.circle == "inner" else "outer",
                    circle_since=local_day_of(community, membership.circle_since.timestamp()),
                    joined_on=local_day_of(community, membership.joined_at.timestamp()),
                )
    seconds = time.perf_counter() - started
    db.dispose()
    return {"seconds": seconds, "memberships": members}


def _schedule_pass(
    timed: Callable[[str, datetime | None], tuple[float, int]],
) -> Callable[[str, datetime | None], dict[str, Any]]:
    """A pass of bench/bench_schedules.py (the real tick or momentum code, one pass), as a child's result."""

    def run(url: str, at: datetime | None) -> dict[str, Any]:
        seconds, statements = timed(url, at)
        return {"seconds": seconds, "statements": statements}

    return run


def _reviews(url: str) -> int:
    db = Database(url)
    try:
        with db.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM reviews")).scalar_one())
    finally:
        db.dispose()


def _tick_send(url: str, at: datetime | None) -> dict[str, Any]:
    from bench.bench_schedules import time_tick_send

    before = _reviews(url)
    seconds, statements = time_tick_send(url, now=at)
    return {"seconds": seconds, "statements": statements, "opened": _reviews(url) - before}


def _tick(url: str, at: datetime | None) -> tuple[float, int]:
    """Steady: the clock runs each minute in a process that has run it before (its statements compiled
    and cached, its modules imported), so the first of three ticks warms up and the median is kept."""
    from bench.bench_schedules import time_tick

    runs = sorted(time_tick(url, now=at) for _ in range(3))
    return runs[1]


def _momentum(url: str, at: datetime | None) -> tuple[float, int]:
    from bench.bench_schedules import time_momentum

    return time_momentum(url, now=at)


# Each returns seconds and statements; run in this order (the steady tick follows the one that sends).
PASSES: dict[str, Callable[[str, datetime | None], dict[str, Any]]] = {
    "recompute": lambda url, _at: _recompute(url),
    "baseline": lambda url, _at: _python_baseline(url),
    "tick_send": _tick_send,
    "tick": _schedule_pass(_tick),
    "momentum": _schedule_pass(_momentum),
}


def peak_rss_mb() -> float:
    """This process's peak RSS. On Linux, VmHWM of /proc/self/status: ru_maxrss is kept across execve,
    so a child started by a big parent (the SQLite generator holds its rows in Python) would report the
    parent's peak instead of its own. Elsewhere, ru_maxrss (kilobytes on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(name: str, url: str, at: datetime | None) -> None:
    result = PASSES[name](url, at)
    result["peak_rss_mb"] = peak_rss_mb()
    result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_pass(name: str, url: str, at: datetime | None = None) -> dict[str, Any]:
    when = ["--at", at.isoformat()] if at is not None else []
    completed = subprocess.run(
        [sys.executable, __file__, "--child", name, "--url", url, *when],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"the {name} pass failed:\n{completed.stderr}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


# ---- the run ------------------------------------------------------------------------------------------
def floor_seconds(db: Database) -> float:
    since = datetime.now(UTC).date() - timedelta(days=29)
    with db.engine.connect() as connection:
        started = time.perf_counter()
        connection.execute(
            text("SELECT count(*), sum(contributions) FROM activity_days WHERE day + 0 >= :since"),
            {"since": since},
        ).one()
        return time.perf_counter() - started


def due_moment(db: Database) -> datetime | None:
    """When every community due today is due: the passes run then. The 1% due today share one time zone
    (bench/scale_data.py), so at the next working instant in UTC, depending on the hour the benchmark
    runs, they may all still be outside their working hours, and the tick would open none."""
    with db.engine.connect() as connection:
        latest = connection.execute(
            text("SELECT max(next_due_at) FROM communities WHERE next_review_on <= :today"),
            {"today": datetime.now(UTC).date()},
        ).scalar_one()
    if latest is None:
        return None
    if isinstance(latest, str):  # SQLite keeps times as text
        latest = datetime.fromisoformat(latest)
    return latest.replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--activity-rows", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=sorted(PASSES), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--at", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.url, args.at)
        return

    with tempfile.TemporaryDirectory() as folder, fresh_database(args.database, Path(folder), "scale") as url:
        db = Database(url)
        upgrade(db.engine)
        started = time.perf_counter()
        generate(
            db.engine,
            communities=args.communities,
            memberships=args.members,
            activity_rows=args.activity_rows,
            seed=args.seed,
        )
        print(
            f"generated {args.communities:,} communities, {args.members:,} memberships, "
            f"{args.activity_rows:,} activity rows on {args.database} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        from bench.bench_schedules import fill_due_times

        fill_due_times(url)  # rows inserted by SQL get their next due times, as the migration does
        at = due_moment(db)
        floor = min(floor_seconds(db) for _ in range(3))
        db.dispose()
        print(f"floor (one unindexed aggregate over the last 30 days of activity): {floor:.3f} s")
        recompute = run_pass("recompute", url)
        print(
            f"recompute: {recompute['seconds']:.3f} s ({recompute['seconds'] / floor:.2f}x the floor), "
            f"{recompute['statements']} statements, {recompute['changes']:,} changes, "
            f"peak RSS {recompute['peak_rss_mb']:.0f} MB (VmHWM; ru_maxrss, which counts the parent's "
            f"peak too: {recompute['ru_maxrss_mb']:.0f} MB)"
        )
        baseline = run_pass("baseline", url)
        old_ms = baseline["seconds"] / max(baseline["memberships"], 1) * 1000
        new_ms = recompute["seconds"] / args.members * 1000
        print(
            f"before issue 9 (per community, ORM rows, decide() in Python; read and decide only, "
            f"{baseline['memberships']:,} memberships): {old_ms:.3f} ms per membership; "
            f"the SQL pass: {new_ms:.4f} ms per membership ({old_ms / new_ms:.0f}x less)"
        )
        schedules = {name: run_pass(name, url, at) for name in ("tick_send", "tick", "momentum")}
        for name, label in (
            (
                "tick_send",
                f"tick that opens the {schedules['tick_send']['opened']} due reviews and writes their"
                " prompts",
            ),
            ("tick", "steady tick (nothing new due)"),
            ("momentum", "momentum pass over every community"),
        ):
            result = schedules[name]
            print(
                f"{label}: {result['seconds']:.3f} s ({result['seconds'] / floor:.2f}x the floor), "
                f"{result['statements']} statements, peak RSS {result['peak_rss_mb']:.0f} MB"
            )
    summary = {
        "recompute_s": round(recompute["seconds"], 3),
        "tick_s": round(schedules["tick"]["seconds"], 3),
        "tick_send_s": round(schedules["tick_send"]["seconds"], 3),
        "momentum_s": round(schedules["momentum"]["seconds"], 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in (recompute, *schedules.values())), 1),
        "memberships": args.members,
        "activity_rows": args.activity_rows,
        "communities": args.communities,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
