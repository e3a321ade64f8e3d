"""Benchmark: pairing's scheduled work at scale, against floors measured in the same run.

  - find_lurkers: the hourly statement over every community's memberships (new lurkers -> requests);
  - a pairing pass with nothing due (what runs every five minutes most of the time);
  - a pairing pass with BATCH requests due (partners chosen, claimed, written to the outbox).

Floors: one indexed SELECT round trip, and COUNT(*) of the active memberships (a scan of what
find_lurkers has to read at least once).

    .venv/bin/python bench/bench_pairing.py [--database postgresql|sqlite] [--communities 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.databases import fresh_database
from bench.scale_data import generate
from bot import introductions
from bot.clock import ManualClock
from bot.runtime import Deps
from bot.settings import Settings
from storage import migrate
from storage.db import Database


def _seconds(run: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--communities", type=int, default=10_000)
    args = parser.parse_args()
    memberships = args.communities * 10
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.database, Path(folder), "pairing") as url,
    ):
        db = Database(url)
        migrate.upgrade(db.engine)
        # Tuesday 10:00 UTC: within working hours in Europe and Africa.
        now = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
        generate(
            db.engine,
            communities=args.communities,
            memberships=memberships,
            activity_rows=memberships * 5,
            today=now.date(),
        )
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="x", DATABASE_URL=url
        )
        deps = Deps(settings=settings, db=db, clock=ManualClock(now))
        with db.engine.connect() as connection:
            floor = _seconds(
                lambda: connection.execute(text("SELECT id FROM communities WHERE id = 1")).all(), 20
            )
            scan = _seconds(
                lambda: connection.execute(
                    text("SELECT COUNT(*) FROM memberships WHERE left_at IS NULL")
                ).all()
            )
        first = _seconds(lambda: introductions.find_lurkers(deps), 1)
        steady_lurkers = _seconds(lambda: introductions.find_lurkers(deps))
        with db.engine.begin() as connection:
            waiting = connection.execute(text("SELECT COUNT(*) FROM intros")).scalar_one()
            # Nothing due yet: push every request an hour ahead for the idle pass.
            connection.execute(
                text("UPDATE intros SET due_at = due_at + interval '1 hour'")
                if args.database == "postgresql"
                else text("UPDATE intros SET due_at = datetime(due_at, '+1 hour')")
            )
        idle = _seconds(lambda: introductions.pairing_pass(deps))
        deps.clock.set(now + timedelta(hours=2))  # type: ignore[attr-defined]
        deps.people.to_ask = lambda users, **_: []  # type: ignore[method-assign]  # decide with what is known
        started = time.perf_counter()
        made = introductions.pairing_pass(deps)
        busy = time.perf_counter() - started
        db.dispose()
    print(f"{args.database}, {args.communities} communities, {memberships} memberships")
    print(f"floor: indexed SELECT {floor * 1000:.2f} ms; scan of active memberships {scan * 1000:.1f} ms")
    print(f"find_lurkers, first run ({waiting} requests written): {first * 1000:.1f} ms")
    print(f"find_lurkers, steady: {steady_lurkers * 1000:.1f} ms = {steady_lurkers / scan:.1f}x the scan")
    print(f"pairing pass, nothing due: {idle * 1000:.2f} ms = {idle / floor:.1f}x the indexed SELECT")
    print(f"pairing pass, {introductions.BATCH} due: {busy * 1000:.1f} ms, {made} intros written")


if __name__ == "__main__":
    main()
