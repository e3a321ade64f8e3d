"""Benchmark: `/cdp join`, `/cdp me` and `/cdp help` against a no-op slash command, in the same run.

Two servers, each in its own process, get the same signed slash commands over HTTP:
  - the floor: a Bolt app whose only listener acks `/cdp`, served the standard way (Bolt's Starlette
    adapter on uvicorn), so the ratio includes our own server stack;
  - our app, started the way production starts it (`python -m bot run`, HTTP mode, uvicorn), against
    the Slack emulator (its Web API in a child process: bench/emulated.py) and a real database.
Each is measured at 1 and 20 concurrent requests, in a community of 10 and of 10,000 members (members
inserted by one INSERT ... SELECT) in a workspace of 500 other communities, rounds interleaved so
the machine's noise hits every kind alike:
  - join: an open community the user is not in; every request is a fresh person (whose language
    our app already learnt from an untimed `/cdp help`, as for anyone who used the app before);
  - me: a member of the community with 60 days of activity;
  - help: the static answer (our stack's floor);
  - committing, for insight: the no-op app whose listener first commits one durable one-row INSERT (one
    round trip, on its own connection), sent the same joins: the least any command that writes before it
    answers costs here (join writes the membership, me and help their replay guard's claim). Bolt's
    Starlette adapter runs the listener on the event loop, so at 20 concurrent its commits go one at a
    time: a floor one at a time only.
Prints p50/p99 per kind and their ratios to the no-op's and to the committing floor's, per (size,
concurrency). No pass/fail: these shared machines are noisy; compare ratios between commits.

    .venv/bin/python bench/bench_commands.py [--database sqlite|postgresql] [--durability full|fast]
        [--rounds 3]
        [--sizes 10,10000] [--communities 500] [--requests 40] [--concurrent-requests 100]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from bench.bench_events import create_committing_table  # noqa: E402
from bench.databases import analyzed, fresh_database  # noqa: E402
from bench.emulated import SplitEmulator, split_emulator  # noqa: E402
from bench.timing import client_gc_held  # noqa: E402
from bot.services import communities as community_service  # noqa: E402
from bot.services.communities import ChannelChoice, CommunityDraft  # noqa: E402
from bot.testing.slack_emulator import SignedSender  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import ActivityDay, Community, Membership  # noqa: E402

SECRET = "bench-secret"
ME_USERS = 20  # one per concurrent sender
ACTIVITY_DAYS = 60

NOOP_APP = """
import sys
import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

# Bolt asks auth.test once (then caches it): the emulator answers, as Slack would.
app = App(signing_secret=sys.argv[2], client=WebClient(token=sys.argv[3], base_url=sys.argv[4]),
          token_verification_enabled=False, process_before_response=True)

if len(sys.argv) > 5:  # the committing floor: one durable one-row INSERT, then the ack
    from bench.bench_events import durable_insert

    commit = durable_insert(sys.argv[5])

    @app.command("/cdp")
    def one_commit(ack):
        commit()
        ack()

else:

    @app.command("/cdp")
    def noop(ack):
        ack()

handler = SlackRequestHandler(app)

async def endpoint(req: Request):
    return await handler.handle(req)

api = Starlette(routes=[Route("/slack/events", endpoint=endpoint, methods=["POST"])])
uvicorn.run(api, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (401: unsigned): it is up
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def draft(name: str) -> CommunityDraft:
    return CommunityDraft(
        name=name,
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


def seed(db: Database, emulator: SplitEmulator, size: int) -> None:
    """A community of `size` members: the moderator by the service, the others by one INSERT ... SELECT
    (copying the moderator's row), plus the /cdp me users with 60 days of activity."""
    name = f"Bench {size}"
    channel = f"CB{size}"
    emulator.add_channel(channel, f"bench-{size}", members=["UMOD"])
    now = datetime.now(UTC)
    with db.session() as session:
        community = community_service.create(
            session,
            team_id=emulator.team_id,
            creator="UMOD",
            draft=draft(name),
            channel=ChannelChoice(channel, f"bench-{size}", False),
            now=now,
        )
        community_id = community.id
        template = session.scalars(
            Membership.__table__.select()
            .with_only_columns(Membership.id)
            .where(Membership.community_id == community_id)
        ).one()
        others = size - 1 - ME_USERS
        session.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
                "INSERT INTO memberships (team_id, community_id, user_id, role, circle, circle_since, "
                "joined_at, left_at, joined_via, greeted_at, changed_at) "
                "SELECT m.team_id, m.community_id, 'UM' || CAST(n.i AS VARCHAR(12)), 'member', "
                "CASE WHEN n.i % 5 = 0 THEN 'inner' ELSE 'outer' END, m.circle_since, m.joined_at, NULL, "
                "'command', NULL, m.changed_at FROM memberships m, n WHERE m.id = :template"
            ),
            {"count": max(others, 1), "template": template},
        )
        for k in range(ME_USERS):
            community_service.new_member(
                session,
                community=community,
                user_id=me_user(size, k),
                now=now - timedelta(days=90),
                via="command",
            )
        today = date.today()
        session.execute(
            insert(ActivityDay),
            [
                {
                    "team_id": emulator.team_id,
                    "community_id": community_id,
                    "channel_id": channel,
                    "user_id": me_user(size, k),
                    "day": today - timedelta(days=d),
                    "contributions": 1 + d % 3,
                    "reactions": d % 2,
                }
                for k in range(ME_USERS)
                for d in range(ACTIVITY_DAYS)
            ],
        )
    for k in range(ME_USERS):
        emulator.add_user(me_user(size, k))


def add_other_communities(db: Database, count: int) -> None:
    """`count` more communities in the workspace (an organisation's directory), by one INSERT ... SELECT
    copying the first community's row: a lookup by name must not read them all."""
    if count <= 0:
        return
    copied = [c.name for c in Community.__table__.columns if c.name not in ("id", "name", "slug")]
    with db.session() as session:
        session.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
                f"INSERT INTO communities (name, slug, {', '.join(copied)}) "
                "SELECT 'Other ' || CAST(n.i AS VARCHAR(12)), 'other-' || CAST(n.i AS VARCHAR(12)), "
                f"{', '.join('c.' + name for name in copied)} FROM communities c, n "
                "WHERE c.id = (SELECT MIN(id) FROM communities)"
            ),
            {"count": count},
        )


def me_user(size: int, k: int) -> str:
    return f"UME{size}X{k:02d}"


class Load:
    """Signed slash commands to one server; each call returns its latency in seconds."""

    def __init__(self, sender: SignedSender) -> None:
        self.sender = sender

    def command(self, text_: str, user: str) -> float:
        fields = self.sender.command_fields(text_, user, "CGENERAL")
        started = time.perf_counter()
        result = self.sender.post_form(fields)
        elapsed = time.perf_counter() - started
        assert result.status == 200, (result.status, result.text)
        return elapsed


def start_servers(
    emulator: SplitEmulator, url: str, durability: str, processes: list[subprocess.Popen[bytes]]
) -> tuple[str, str]:
    """The no-op Bolt app and `cdp-bot run` on free ports, each in its own process (appended to
    `processes`, no-op first), both answering: their base URLs."""
    noop_port, app_port = free_port(), free_port()
    processes.append(
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                NOOP_APP,
                str(noop_port),
                SECRET,
                emulator.token,
                emulator.api_url,
            ],
            cwd=ROOT,
        )
    )
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": emulator.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": url,
        "COMMIT_DURABILITY": durability,
        "HOST": "127.0.0.1",
        "PORT": str(app_port),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("SLACK_APP_TOKEN", None)
    processes.append(subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env))
    noop_url, app_url = f"http://127.0.0.1:{noop_port}", f"http://127.0.0.1:{app_port}"
    wait_until_up(noop_url + "/slack/events", processes[0])
    wait_until_up(app_url + "/slack/events", processes[1])
    return noop_url, app_url


def start_committing(emulator: SplitEmulator, url: str, processes: list[subprocess.Popen[bytes]]) -> str:
    """The committing floor (for insight): the no-op app whose listener commits one durable one-row INSERT
    (autocommit, one round trip: bench_events.durable_insert) before it acks, on the benchmark's database:
    the least a command that writes before it answers can cost here. Its base URL."""
    create_committing_table(url)
    port = free_port()
    command = [sys.executable, "-c", NOOP_APP, str(port), SECRET, emulator.token, emulator.api_url, url]
    processes.append(subprocess.Popen(command, cwd=ROOT))
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base + "/slack/events", processes[-1])
    return base


def batch(pool: ThreadPoolExecutor, calls: list[Callable[[], float]]) -> list[float]:
    with client_gc_held():
        return list(pool.map(lambda call: call(), calls))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--durability",
        choices=["full", "fast"],
        default="full",
        help="COMMIT_DURABILITY of our app: full (the default) waits for the disk at each commit",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="10,10000", help="community sizes, comma-separated")
    parser.add_argument(
        "--communities", type=int, default=500, help="other communities in the workspace (the directory)"
    )
    parser.add_argument("--requests", type=int, default=40, help="per kind and round, one at a time")
    parser.add_argument(
        "--concurrent-requests", type=int, default=100, help="per kind and round, 20 at a time"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [(1, args.requests), (20, args.concurrent_requests)]

    processes: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        split_emulator() as emulator,
        fresh_database(args.database, Path(folder), "lookups") as url,
    ):
        emulator.add_user("UMOD", "moderator")
        emulator.add_channel("CGENERAL", "general", members=["UMOD"])
        try:
            db = Database(url)
            upgrade(db.engine)
            for size in sizes:
                seed(db, emulator, size)
            add_other_communities(db, args.communities)
            analyzed(db)
            db.dispose()

            noop_url, app_url = start_servers(emulator, url, args.durability, processes)
            committing_url = start_committing(emulator, url, processes)
            noop = Load(SignedSender(noop_url, SECRET, emulator.local))
            ours = Load(SignedSender(app_url, SECRET, emulator.local))
            committing = Load(SignedSender(committing_url, SECRET, emulator.local))
            results = run(emulator, noop, ours, committing, sizes, levels, args.rounds)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(10)

    print(
        f"database: {args.database}, rounds: {args.rounds}, interleaved,"
        f" {args.communities} other communities;"
        " p50/p99 in ms, ratio = ours / no-op"
    )
    for (size, level), by_kind in results.items():
        floor = by_kind["noop"]
        f50, f99 = statistics.median(floor), percentile(floor, 0.99)
        print(f"-- community of {size} members, {level} concurrent ({len(floor)} requests per kind)")
        committed = by_kind["committing"]
        c50, c99 = statistics.median(committed), percentile(committed, 0.99)
        for kind, values in by_kind.items():
            p50, p99 = statistics.median(values), percentile(values, 0.99)
            print(
                f"{kind:10s} p50 {p50 * 1000:7.2f}  p99 {p99 * 1000:7.2f}"
                f"   ratio p50 {p50 / f50:5.2f}  p99 {p99 / f99:5.2f}"
                f"   to committing p50 {p50 / c50:5.2f}  p99 {p99 / c99:5.2f}"
            )


def run(
    emulator: SplitEmulator,
    noop: Load,
    ours: Load,
    committing: Load,
    sizes: list[int],
    levels: list[tuple[int, int]],
    rounds: int,
) -> dict[tuple[int, int], dict[str, list[float]]]:
    results: dict[tuple[int, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    fresh = iter(range(10**9))
    with ThreadPoolExecutor(max_workers=20) as pool:
        # Warm both servers (connections, imports, caches), and every kind of ours: the first join or
        # me of a process imports and compiles what it needs, and each pooled connection prepares a
        # statement on its fifth use; one such request in the timed ones would be the p99.
        batch(pool, [partial(ours.command, "help", "UMOD") for _ in range(20)])
        batch(pool, [partial(noop.command, "help", "UMOD") for _ in range(20)])
        batch(pool, [partial(committing.command, "help", "UMOD") for _ in range(20)])
        for size in sizes:
            warm = [f"UW{next(fresh):06d}" for _ in range(40)]
            for user in warm:
                emulator.add_user(user)
            batch(pool, [partial(ours.command, "help", user) for user in warm])
            batch(pool, [partial(ours.command, f"join Bench {size}", user) for user in warm])
            batch(pool, [partial(ours.command, "me", me_user(size, k % ME_USERS)) for k in range(40)])
        for _ in range(rounds):
            for size in sizes:
                for level, count in levels:
                    joiners = [f"UJ{next(fresh):06d}" for _ in range(count)]
                    for user in joiners:
                        emulator.add_user(user)
                    # Untimed: our app learns their language once, as for anyone who used it before.
                    batch(pool, [partial(ours.command, "help", user) for user in joiners])
                    me = [me_user(size, k % ME_USERS) for k in range(count)]
                    join = f"join Bench {size}"
                    plans: dict[str, list[Callable[[], float]]] = {
                        "noop": [partial(noop.command, join, u) for u in joiners],
                        "help": [partial(ours.command, "help", u) for u in me],
                        "join": [partial(ours.command, join, u) for u in joiners],
                        "me": [partial(ours.command, "me", u) for u in me],
                        "committing": [partial(committing.command, join, u) for u in joiners],
                    }
                    with ThreadPoolExecutor(max_workers=level) as senders:
                        for kind, calls in plans.items():
                            results[(size, level)][kind].extend(batch(senders, calls))
    return results


if __name__ == "__main__":
    main()
