"""Benchmark: counting contributions through the real HTTP app, against a baseline in the same run.

The app is started as the tests start it (uvicorn, the real Bolt app) against the Slack emulator.
Three kinds of signed Events API callbacks are sent sequentially, interleaved in rounds so the
machine's noise hits all of them alike:
  - baseline: a message in a channel no community is bound to (signature, parsing, dispatch, ack);
  - counted: a message in a community channel (claim the event id, upsert the day's counter,
    check for a promotion, commit before the ack);
  - retried: the same event id sent again (claim refused, nothing written).
It prints per-event latency and the ratio of each kind to the baseline. No pass/fail: these shared
machines are noisy; compare ratios between commits.

    .venv/bin/python bench/bench_events.py [--events 300] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.clock import SystemClock
from bot.server import HttpServer, Runtime
from bot.services import communities as community_service
from bot.services.communities import ChannelChoice, CommunityDraft
from bot.settings import Settings
from bot.testing.slack_emulator import SignedSender, SlackEmulator

SECRET = "bench-secret"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def database_url(kind: str, folder: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.db'}"
    from sqlalchemy import text

    from storage.db import Database

    schema = "cdp_bench"
    admin = Database(PG_URL)
    with admin.engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def timed(send: SignedSender, event: dict[str, object], event_id: str, retry: int | None = None) -> float:
    started = time.perf_counter()
    result = send.event(event, event_id=event_id, retry_num=retry)
    elapsed = time.perf_counter() - started
    assert result.status == 200, result.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300, help="events of each kind")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, SlackEmulator() as emulator:
        emulator.add_user("UMOD", "moderator")
        emulator.add_channel("CBOUND", "bound", members=["UMOD"])
        emulator.add_channel("CFREE", "free", members=["UMOD"])
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            SLACK_BOT_TOKEN=emulator.token,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=emulator.api_url,
            DATABASE_URL=database_url(args.database, Path(folder)),
            LOG_LEVEL="WARNING",
        )
        runtime = Runtime.start(settings, clock=SystemClock(), run_scheduler=False)
        server = HttpServer(runtime)
        send = SignedSender(server.start(), SECRET, emulator)
        with runtime.deps.db.session() as session:
            draft = CommunityDraft(
                name="Bench",
                domain="",
                objectives=(),
                objectives_other="",
                key_people=(),
                moderators=("UMOD",),
                visibility="open",
                language="en",
                timezone="UTC",
                cadence_weeks=4,
            )
            community_service.create(
                session,
                team_id=emulator.team_id,
                creator="UMOD",
                draft=draft,
                channel=ChannelChoice("CBOUND", "bound", False),
                now=datetime.now(UTC),
            )
        runtime.deps.background.drain()
        times: dict[str, list[float]] = {"baseline": [], "counted": [], "retried": []}
        try:
            for n in range(args.events):
                ts = f"{time.time():.6f}"
                users = f"U{n % 50:04d}"  # fifty posters, so the counters see inserts and updates
                free = {"type": "message", "channel": "CFREE", "user": users, "text": "x", "ts": ts}
                bound = {**free, "channel": "CBOUND"}
                times["baseline"].append(timed(send, free, f"EvF{n}"))
                times["counted"].append(timed(send, bound, f"EvB{n}"))
                times["retried"].append(timed(send, bound, f"EvB{n}", retry=1))
        finally:
            server.stop()
            runtime.close()

    base = statistics.median(times["baseline"])
    print(f"database: {args.database}, events of each kind: {args.events}")
    for kind, values in times.items():
        median = statistics.median(values)
        p95 = sorted(values)[int(len(values) * 0.95) - 1]
        print(
            f"{kind:9s} median {median * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms"
            f"  ratio to baseline {median / base:5.2f}"
        )


if __name__ == "__main__":
    main()
