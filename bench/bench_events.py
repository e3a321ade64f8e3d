"""Benchmark: Events API message callbacks over HTTP, our app against a no-op Bolt app, in the same run.

Two servers, each in its own process, started the way production starts them:
  - the floor: a no-op Bolt app (`App(process_before_response=True, token_verification_enabled=False)`,
    an empty `@app.event("message")` listener) served by Bolt's Starlette adapter on uvicorn;
  - ours: `cdp-bot run` (HTTP mode, migrations, scheduler, outbox worker) against the Slack emulator;
  - for insight, the same no-op app whose listener commits one durable one-row INSERT (one round trip, on
    its own connection) before its 200: the least any app that commits an event before answering it can
    do on this machine, served the standard way. Bolt's Starlette adapter runs a listener on the event
    loop, so with 16 senders its commits go one at a time (no shared flush): that figure is a floor only
    sequentially.
uvicorn serves all three on uvloop and httptools (dependencies of our app, which uvicorn picks when they
are installed): the floors run on the same server stack as ours.
Signed message events with distinct event ids are sent sequentially and by 16 concurrent senders
(threads, one keep-alive connection each), in interleaved rounds so the machine's noise hits every
kind alike:
  - noop:      a message to the no-op app (the floor);
  - counted:   a message in a community's channel (50 posters, so counters see inserts and updates);
  - retried:   the same events again, with Slack's retry headers (the claim refuses them);
  - unbound:   a message in a channel no community is bound to (the binding cache answers);
  - committing: a message to the committing no-op app (the floor with one durable commit).
It prints events/s per kind and its ratio to the floor of the same round (median over the rounds), and,
for insight, the disk's share: the time of one durable commit (a one-row INSERT, committed with the
database's full durability, whatever --durability says) on the same database, measured in every round.

    .venv/bin/python bench/bench_events.py [--database sqlite|postgresql] [--durability full|fast]
        [--events 400] [--rounds 3]
    .venv/bin/python bench/bench_events.py --profile [--database ...]   # SQL per event + cProfile

`--profile` runs our app in this process instead: it counts the SQL statements each kind of event sends
(a before_cursor_execute listener, and Database.statement_observers for those sent on the driver) and
profiles the unbound path's synchronous part (signature check, body checks, Bolt's dispatch and our
middleware) with cProfile. No pass/fail: compare ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import hmac
import http.client
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import fresh_database  # noqa: E402
from bench.timing import client_gc_held  # noqa: E402

SECRET = "bench-secret"
TEAM = "T0BENCH"
POSTERS = 50


# ---- the floor: a no-op Bolt app, served the standard way --------------------------------------
def serve_noop(port: int, api_url: str, token: str, commit_url: str | None = None) -> None:
    import uvicorn
    from slack_bolt import App
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_sdk import WebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    app = App(
        # Bolt still calls auth.test once, at the first request: the emulator answers it.
        client=WebClient(token=token, base_url=api_url),
        process_before_response=True,
        token_verification_enabled=False,
        signing_secret=SECRET,
    )

    if commit_url is None:

        @app.event("message")
        def nothing() -> None:
            pass

    else:
        commit = durable_insert(commit_url)

        @app.event("message")
        def one_commit() -> None:
            commit()

    handler = SlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(_: Request) -> Response:
        return Response("ok")

    starlette = Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    )
    uvicorn.run(starlette, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


# ---- databases ---------------------------------------------------------------------------------
COMMITTING_TABLE = "bench_committing"


def durable_insert(url: str) -> Callable[[], None]:
    """One durable one-row INSERT into COMMITTING_TABLE, in autocommit: a single round trip that commits
    (PostgreSQL synchronous_commit=on; SQLite WAL with synchronous=FULL, as storage.db sets them)."""
    from storage.db import Database

    raw = Database(url, durability="full").engine.raw_connection()
    connection: Any = raw.driver_connection
    if not url.startswith("sqlite"):  # storage.db's SQLite connections are in autocommit already
        connection.autocommit = True
    insert = f"INSERT INTO {COMMITTING_TABLE} (v) VALUES (1)"

    def commit() -> None:
        connection.execute(insert)

    return commit


def create_committing_table(url: str) -> None:
    from sqlalchemy import text

    from storage.db import Database

    db = Database(url)
    key = "INTEGER PRIMARY KEY" if url.startswith("sqlite") else "BIGSERIAL PRIMARY KEY"
    with db.engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {COMMITTING_TABLE} (id {key}, v INTEGER)"))
    db.dispose()


def seed(url: str) -> None:
    """Migrate and create one community bound to CBOUND (CFREE stays unbound)."""
    from bot.services import communities as community_service
    from bot.services.communities import ChannelChoice, CommunityDraft
    from storage.db import Database
    from storage.migrate import upgrade

    db = Database(url)
    upgrade(db.engine)
    with db.session() as session:
        community_service.create(
            session,
            team_id=TEAM,
            creator="UMOD",
            draft=CommunityDraft(
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
            ),
            channel=ChannelChoice("CBOUND", "bound", False),
            now=datetime.now(UTC),
        )
    db.dispose()


# ---- senders -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not start")


def event_body(event_id: str, channel: str, user: str) -> bytes:
    ts = f"{time.time():.6f}"
    return json.dumps(
        {
            "token": "x",
            "team_id": TEAM,
            "api_app_id": "A0BENCH",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "message", "channel": channel, "user": user, "text": "x", "ts": ts},
        }
    ).encode()


class Sender:
    """One keep-alive connection; signs each request as Slack does (v0, HMAC-SHA256)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, body: bytes, retry: bool = False) -> None:
        try:
            self._send(body, retry)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # uvicorn closes a keep-alive connection idle for 5 s (a busy machine can leave one so between
            # batches): once more on a new one. Sent twice at worst, it is a retry the claim refuses.
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._send(body, retry)

    def _send(self, body: bytes, retry: bool) -> None:
        timestamp = str(int(time.time()))
        digest = hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
        }
        if retry:
            headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        self.connection.request("POST", "/slack/events", body=body, headers=headers)
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"status {response.status} for {body[:120]!r}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) spent so far by every thread of process `pid`, in seconds: nanosecond
    precision from /proc/<pid>/task/*/schedstat (Linux); 0.0 where that is not available."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e9


class Pool:
    """`senders` threads, each with its own keep-alive connection to each server, kept for the whole run."""

    def __init__(self, ports: list[int], senders: int) -> None:
        self.senders = senders
        self.clients = {port: [Sender(port) for _ in range(senders)] for port in ports}
        self.executor = ThreadPoolExecutor(senders)

    def elapsed(self, server: Server, bodies: list[tuple[bytes, bool]]) -> tuple[float, float]:
        """Seconds to send these requests, spread over the senders, all at once; and the CPU seconds the
        server's process spent meanwhile."""
        chunks = [bodies[i :: self.senders] for i in range(self.senders)]
        clients = self.clients[server.port]

        def work(index: int) -> None:
            for body, retry in chunks[index]:
                clients[index].send(body, retry)

        with client_gc_held():
            cpu = cpu_seconds(server.pid)
            started = time.perf_counter()
            for future in [self.executor.submit(work, i) for i in range(self.senders)]:
                future.result()
            return time.perf_counter() - started, cpu_seconds(server.pid) - cpu

    def close(self) -> None:
        self.executor.shutdown()
        for clients in self.clients.values():
            for client in clients:
                client.connection.close()


# ---- the servers ---------------------------------------------------------------------------------
def start_ours(
    port: int, url: str, api_url: str, token: str, *, durability: str = "full", code: Path = ROOT
) -> subprocess.Popen[bytes]:
    """`cdp-bot run` (HTTP mode) from the checkout `code` (another revision's, for bench/ab_events.py)."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "COMMIT_DURABILITY": durability,
        "PYTHONPATH": str(code),  # its own bot/, handlers/ and storage/, whatever the venv installed
    }
    env.pop("SLACK_APP_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=code, env=env)


def start_floor(
    port: int, api_url: str, token: str, commit_url: str | None = None
) -> subprocess.Popen[bytes]:
    """The no-op Bolt app; with `commit_url`, the committing no-op."""
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-noop", str(port), "--api-url", api_url]
    if commit_url is not None:
        command += ["--commit-url", commit_url]
    return subprocess.Popen(command, env={**os.environ, "NOOP_TOKEN": token}, cwd=ROOT)


# ---- the run -------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> None:
    from bot.testing.slack_emulator import SlackEmulator

    with (
        tempfile.TemporaryDirectory() as folder,
        SlackEmulator() as emulator,
        fresh_database(args.database, Path(folder), "evpath") as url,
    ):
        emulator.add_user("UMOD", "moderator")
        emulator.add_channel("CBOUND", "bound", members=["UMOD"])
        emulator.add_channel("CFREE", "free", members=["UMOD"])
        seed(url)
        create_committing_table(url)
        ours_port, noop_port, committing_port = free_port(), free_port(), free_port()
        ours = start_ours(ours_port, url, emulator.api_url, emulator.token, durability=args.durability)
        noop = start_floor(noop_port, emulator.api_url, emulator.token)
        committing = start_floor(committing_port, emulator.api_url, emulator.token, commit_url=url)
        processes = (ours, noop, committing)
        try:
            wait_healthy(ours_port, ours)
            wait_healthy(noop_port, noop)
            wait_healthy(committing_port, committing)
            with DurableCommit(url) as durable:
                results, cpu = run_rounds(
                    args,
                    Servers(
                        Server(ours_port, ours.pid),
                        Server(noop_port, noop.pid),
                        Server(committing_port, committing.pid),
                    ),
                    durable,
                    functools.partial(outbox_settled, url),
                )
            floor = durable.seconds
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    report(args, results, cpu, floor)


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


@dataclass(frozen=True)
class Servers:
    ours: Server
    noop: Server
    committing: Server


class DurableCommit:
    """The disk's floor: one synchronous commit of a one-row INSERT, on the database the app uses (a table
    of its own; PostgreSQL synchronous_commit=on, SQLite synchronous=FULL in WAL mode: durability full)."""

    def __init__(self, url: str) -> None:
        from storage.db import Database

        self.db = Database(url, durability="full")
        self.table = f"bench_floor_{os.getpid()}"
        self.seconds: list[float] = []

    def __enter__(self) -> DurableCommit:
        from sqlalchemy import text

        with self.db.engine.begin() as connection:
            connection.execute(text(f"CREATE TABLE {self.table} (id INTEGER PRIMARY KEY, v INTEGER)"))
        return self

    def measure(self, commits: int = 50) -> None:
        """Median seconds of one commit over `commits`, appended to `seconds` (one figure per round)."""
        from sqlalchemy import text

        insert = text(f"INSERT INTO {self.table} (id, v) VALUES (:id, 1)")
        spent: list[float] = []
        with self.db.engine.connect() as connection:
            for _ in range(commits):
                started = time.perf_counter()
                connection.execute(insert, {"id": len(self.seconds) * 100_000 + len(spent)})
                connection.commit()
                spent.append(time.perf_counter() - started)
        self.seconds.append(statistics.median(spent))

    def __exit__(self, *_exc: object) -> None:
        from sqlalchemy import text

        with self.db.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {self.table}"))
        self.db.dispose()


Results = dict[tuple[str, int], list[float]]

# The outbox messages the warm-up queues (each poster's first post: a reaction and a note) are sent by our
# server's outbox worker when it answers nothing, i.e. while the floors are being measured: waited for
# before the measured rounds, so that their Slack calls slow no server's rounds. Ones due later than this
# (none here) would not be sent during a run.
SETTLE_HORIZON_S = 120


def outbox_settled(url: str, timeout: float = 60.0) -> None:
    """Wait until the outbox of the database at `url` has nothing pending that falls due within
    SETTLE_HORIZON_S; after `timeout` seconds, say so and go on."""
    from datetime import timedelta

    from sqlalchemy import bindparam, text

    from storage.db import Database
    from storage.types import UTCDateTime

    db = Database(url)
    pending = text(
        "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND not_before <= :horizon"
    ).bindparams(bindparam("horizon", type_=UTCDateTime()))
    deadline = time.monotonic() + timeout
    try:
        while True:
            horizon = datetime.now(UTC) + timedelta(seconds=SETTLE_HORIZON_S)
            with db.engine.connect() as connection:
                left = connection.execute(pending, {"horizon": horizon}).scalar_one()
            if not left:
                return
            if time.monotonic() > deadline:
                print(f"(the outbox still holds {left} pending messages after {timeout:.0f} s)", flush=True)
                return
            time.sleep(0.1)
    finally:
        db.dispose()


def passes(args: argparse.Namespace) -> list[int]:
    """The sender counts measured: one at a time, then `--senders` at once; once with `--senders 1` (a
    second pass would reuse the first's event ids: its counted events would be duplicates)."""
    return list(dict.fromkeys((1, args.senders)))


def run_rounds(
    args: argparse.Namespace, servers: Servers, durable: DurableCommit, settle: Callable[[], None]
) -> tuple[Results, Results]:
    """Each round sends every kind in small batches taken in turn (noop, counted, retried, unbound,
    committing, noop, ...), so a burst of noise from the machine's other work falls on all kinds alike;
    the time of each kind is summed over its batches. A warm-up round (pools, prepared statements,
    members) is not kept; `settle` then waits for what it left to do (outbox_settled). Returns events/s
    and the server's CPU microseconds per event, per (kind, senders), one per round."""
    results: Results = {}
    cpu: Results = {}
    for senders in passes(args):
        ours, noop = servers.ours, servers.noop
        pool = Pool([ours.port, noop.port, servers.committing.port], senders)
        batch = max(25, senders * 4)
        try:
            for round_ in range(args.rounds + 1):
                n = args.events if round_ else batch * 2
                tag = f"r{round_}s{senders}"
                spent = {"noop": 0.0, "counted": 0.0, "retried": 0.0, "unbound": 0.0, "committing": 0.0}
                used = dict.fromkeys(spent, 0.0)

                def for_kind(
                    kind: str,
                    measured: tuple[float, float],
                    spent: dict[str, float] = spent,
                    used: dict[str, float] = used,
                ) -> None:
                    spent[kind] += measured[0]
                    used[kind] += measured[1]

                for first in range(0, n, batch):
                    ids = range(first, min(first + batch, n))
                    counted = [
                        (event_body(f"Ev{tag}B{i}", "CBOUND", f"U{i % POSTERS:04d}"), False) for i in ids
                    ]
                    noop_bodies = [(event_body(f"Ev{tag}N{i}", "CFREE", "U0001"), False) for i in ids]
                    unbound = [(event_body(f"Ev{tag}F{i}", "CFREE", "U0001"), False) for i in ids]
                    for_kind("noop", pool.elapsed(noop, noop_bodies))
                    for_kind("counted", pool.elapsed(ours, counted))
                    for_kind("retried", pool.elapsed(ours, [(body, True) for body, _ in counted]))
                    for_kind("unbound", pool.elapsed(ours, unbound))
                    committing = [(event_body(f"Ev{tag}C{i}", "CFREE", "U0001"), False) for i in ids]
                    for_kind("committing", pool.elapsed(servers.committing, committing))
                if not round_:
                    settle()
                    continue  # the warm-up
                durable.measure()
                for kind, seconds in spent.items():
                    results.setdefault((kind, senders), []).append(n / seconds)
                    cpu.setdefault((kind, senders), []).append(used[kind] / n * 1e6)
                print(
                    f"round {round_}, {senders:2d} sender(s): "
                    + "  ".join(
                        f"{kind} {n / seconds:7.1f}/s {used[kind] / n * 1e6:5.0f}us"
                        for kind, seconds in spent.items()
                    ),
                    flush=True,
                )
        finally:
            pool.close()
    return results, cpu


def report(args: argparse.Namespace, results: Results, cpu: Results, floor: list[float]) -> None:
    print(
        f"\ndatabase: {args.database}; COMMIT_DURABILITY={args.durability}; {args.events} events per kind, "
        f"round and concurrency; {args.rounds} rounds"
    )
    commit = statistics.median(floor)
    print(
        f"floor: one durable commit of a one-row INSERT {commit * 1000:.2f} ms (median; rounds: "
        f"{', '.join(f'{s * 1000:.2f}' for s in floor)} ms), i.e. at most {1 / commit:.0f} durable "
        "commits/s, one at a time"
    )
    print("(cpu: the server process's CPU time per event, all its threads, median over the rounds)")
    for senders in passes(args):
        floors = results[("noop", senders)]
        print(
            f"{senders:2d} sender(s): no-op Bolt app {statistics.median(floors):7.1f} events/s   "
            f"cpu {statistics.median(cpu[('noop', senders)]):5.0f} us/event"
        )
        for kind in ("counted", "retried", "unbound", "committing"):
            values = results[(kind, senders)]
            ratios = [value / base for value, base in zip(values, floors, strict=True)]
            print(
                f"    {kind:10s} {statistics.median(values):7.1f} events/s   ratio to no-op "
                f"{statistics.median(ratios):5.2f}  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})   "
                f"cpu {statistics.median(cpu[(kind, senders)]):5.0f} us/event"
            )
        counted, committing = results[("counted", senders)], results[("committing", senders)]
        ratios = [value / base for value, base in zip(counted, committing, strict=True)]
        print(
            f"    counted to committing {statistics.median(ratios):5.2f}  "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
            + ("   (committing: one commit at a time on the adapter's event loop)" if senders > 1 else "")
        )


# ---- --profile: SQL per event, and where the unbound path spends its time ------------------------
def profile(args: argparse.Namespace) -> None:
    from slack_bolt import BoltRequest
    from sqlalchemy import event

    from bot.clock import SystemClock
    from bot.server import HttpServer, Runtime, malformed
    from bot.settings import Settings
    from bot.testing.slack_emulator import SlackEmulator

    with (
        tempfile.TemporaryDirectory() as folder,
        SlackEmulator() as emulator,
        fresh_database(args.database, Path(folder), "evpath") as url,
    ):
        emulator.add_user("UMOD", "moderator")
        emulator.add_channel("CBOUND", "bound", members=["UMOD"])
        emulator.add_channel("CFREE", "free", members=["UMOD"])
        seed(url)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            SLACK_BOT_TOKEN=emulator.token,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=emulator.api_url,
            DATABASE_URL=url,
            LOG_LEVEL="WARNING",
            COMMIT_DURABILITY=args.durability,
        )
        runtime = Runtime.start(settings, clock=SystemClock(), run_scheduler=False)
        server = HttpServer(runtime)
        port = int(server.start().rsplit(":", 1)[1])
        statements: list[str] = []

        def listener(_c: Any, _cu: Any, statement: str, *_a: Any) -> None:
            if not threading.current_thread().name.startswith("cdp-outbox"):
                statements.append(statement)

        try:
            sender = Sender(port)
            for i in range(POSTERS):  # every poster a member already: the steady state
                sender.send(event_body(f"EvWarm{i}", "CBOUND", f"U{i % POSTERS:04d}"))
            event.listen(runtime.deps.db.engine, "before_cursor_execute", listener)
            runtime.deps.db.statement_observers.append(lambda statement, _dbapi: listener(0, 0, statement))
            n = args.events
            kinds = {
                "counted": [
                    (event_body(f"EvP{i}", "CBOUND", f"U{i % POSTERS:04d}"), False) for i in range(n)
                ],
                "unbound": [(event_body(f"EvQ{i}", "CFREE", "U0001"), False) for i in range(n)],
            }
            kinds["retried"] = [(body, True) for body, _ in kinds["counted"]]
            for kind, bodies in kinds.items():
                statements.clear()
                for body, retry in bodies:
                    sender.send(body, retry)
                sql = [s for s in statements if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
                print(
                    f"{kind:8s} {len(sql) / n:5.2f} SQL statements per event "
                    f"({len(statements) / n:.2f} with BEGIN/COMMIT)"
                )
            event.remove(runtime.deps.db.engine, "before_cursor_execute", listener)
            runtime.deps.db.statement_observers.clear()

            # The unbound path's synchronous part, as the HTTP handler runs it, in this thread.
            from slack_sdk.signature import SignatureVerifier

            verifier = SignatureVerifier(SECRET)
            prepared = []
            for i in range(n):
                body = event_body(f"EvR{i}", "CFREE", "U0001")
                timestamp = str(int(time.time()))
                signature = str(verifier.generate_signature(timestamp=timestamp, body=body.decode()))
                headers: dict[str, str | Sequence[str]] = {
                    "content-type": ["application/json"],
                    "x-slack-request-timestamp": [timestamp],
                    "x-slack-signature": [signature],
                }
                prepared.append((body, timestamp, signature, headers))
            profiler = cProfile.Profile()
            profiler.enable()
            for body, timestamp, signature, headers in prepared:
                text = body.decode()
                assert verifier.is_valid(body=text, timestamp=timestamp, signature=signature)
                assert not malformed(body, "application/json")
                response = runtime.app.dispatch(BoltRequest(body=text, headers=headers))
                assert response.status == 200
            profiler.disable()
            print(f"\ncProfile of {n} unbound events (signature, body checks, Bolt dispatch):")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        finally:
            server.stop()
            runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--durability", choices=["full", "fast"], default="full", help="COMMIT_DURABILITY of our app"
    )
    parser.add_argument("--events", type=int, default=400, help="events per kind, round and concurrency")
    parser.add_argument("--senders", type=int, default=16, help="concurrent senders")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="SQL statements per event and a cProfile")
    parser.add_argument("--serve-noop", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--commit-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop(args.serve_noop, args.api_url, os.environ["NOOP_TOKEN"], args.commit_url)
    elif args.profile:
        profile(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
