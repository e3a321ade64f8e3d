"""Several instances (issue 12, item 4): two real `cdp-bot run` processes on one PostgreSQL and one emulated
Slack, over HTTP (a load balancer may send any request to either) or each with its own Socket Mode
connection. Started together on an empty database they migrate it once; a due review is sent once; a
channel's history is read by one of them; what one process changes (a binding, a community's settings)
the other one sees; Slack's retry of an event reaching the other process is counted once; two join paths
through two processes welcome once; an event a dead process never acknowledged is handled by the other.

PostgreSQL only: SQLite is for one process (README, "Several instances")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.domain import cadence
from bot.services import communities as svc
from bot.services.communities import ChannelChoice
from bot.testing.slack_emulator import SignedSender, SlackEmulator, initial_values
from bot.testing.socket_mode import SocketModeSender
from storage.bindings import VERSION_TTL_S
from storage.db import Database
from storage.migrate import head_revision
from storage.repositories import reviews as review_repo
from tests.conftest import (
    ALICE,
    BACKENDS,
    BRUNO,
    CHLOE,
    DAVID,
    EMPTY_PG_SCHEMA,
    PG_URL,
    SIGNING_SECRET,
    community_draft,
    replace_schema,
    schema_url,
)
from tests.test_cli import CDP_BOT, clean_env, free_port
from tests.test_socket_mode import CHANNEL as SOCKET_CHANNEL
from tests.test_socket_mode import seed

pytestmark = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="several instances need PostgreSQL (SQLite is for one process)"
)

CHANNEL = "CURB"
DOMAIN = "How can our towns make streets safer for children?"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """The test schema of PostgreSQL, emptied (several processes share it: no SQLite here)."""
    pg: Database = request.getfixturevalue("pg_schema")
    with pg.engine.begin() as connection:
        connection.execute(text(EMPTY_PG_SCHEMA))
    return pg.url


@dataclass
class Instance:
    """One `cdp-bot run` process; `slack` reaches its /slack/events (HTTP mode)."""

    process: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT: /slack/events in HTTP mode, the probes and /metrics in both
    log: Path
    slack: SignedSender
    clean_exit: bool = True  # False once a test killed it

    def metric(self, line_start: str) -> float:
        """The value of the first /metrics line that starts with `line_start` (0 when none does)."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(line_start):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def ready(self) -> bool:
        """Ready, and listening itself: the port was free when chosen, but another test's server, started
        meanwhile by another worker, may have taken it. Seen once in CI: this process was still starting,
        the other one answered /readyz, then stopped, and the test failed later with "connection
        refused". Now it waits for its own process, which says why it could not listen if it cannot."""
        if not listens(self.process.pid, int(self.url.rsplit(":", 1)[1])):
            return False
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                return bool(json.loads(response.read())["ok"])
        except OSError:
            return False


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a socket listening on 127.0.0.1:`port` (Linux: /proc/net/tcp's LISTEN
    rows, state 0A, and the process's file descriptors)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        inodes = {
            f"socket:[{fields[9]}]"
            for fields in (line.split() for line in table.readlines()[1:])
            if fields[1] == wanted and fields[3] == "0A"
        }
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") in inodes:
                return True
        except OSError:
            continue  # closed meanwhile
    return False


@contextmanager
def instances(
    emulator: SlackEmulator, database_url: str, tmp_path: Path, *, count: int = 2, socket_mode: bool = False
) -> Iterator[list[Instance]]:
    """`count` processes started at once (as after a deploy), each ready (/readyz: migrations at head);
    stopped with SIGTERM at the end, each exiting cleanly."""
    started: list[Instance] = []
    try:
        for number in range(count):
            env = clean_env(
                SLACK_BOT_TOKEN=emulator.token,
                SLACK_API_URL=emulator.api_url,
                DATABASE_URL=database_url,
                HOST="127.0.0.1",
                PORT=str(port := free_port()),
                LOG_LEVEL="INFO",
            )
            if socket_mode:
                env["SLACK_APP_TOKEN"] = emulator.app_token
            else:
                env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
            log = tmp_path / f"instance-{number}.log"
            with log.open("w") as output:
                process = subprocess.Popen(
                    [CDP_BOT, "run"],
                    cwd=tmp_path,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            url = f"http://127.0.0.1:{port}"
            started.append(Instance(process, url, log, SignedSender(url, SIGNING_SECRET, emulator)))
        deadline = time.monotonic() + 60
        for instance in started:
            while not instance.ready():
                assert instance.process.poll() is None, instance.log.read_text()
                assert time.monotonic() < deadline, f"not ready in time:\n{instance.log.read_text()}"
                time.sleep(0.05)
        if socket_mode:
            emulator.socket_mode.wait_connected(opened=count, open_now=count)
        yield started
    finally:
        for instance in started:
            instance.process.send_signal(signal.SIGTERM)
        for instance in started:
            instance.process.wait(timeout=30)
            output = instance.log.read_text()
            assert emulator.token not in output and emulator.app_token not in output  # never logged
            if instance.clean_exit:
                assert instance.process.returncode == 0, output
                assert "Traceback" not in output, output


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until `condition`; the deadline is generous (a loaded CI machine), the wait as short as it can be."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def query(database_url: str, sql: str, **params: Any) -> list[Any]:
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            return list(connection.execute(text(sql), params).all())
    finally:
        db.dispose()


# ---- a due review ---------------------------------------------------------------------------------
def working_timezone(now: datetime) -> str | None:
    """A timezone where it is working hours now and for the next quarter of an hour (the review waits
    for them): the processes run on the real clock."""
    for zone in (
        "UTC",
        "Europe/Paris",
        "Asia/Tokyo",
        "America/New_York",
        "Asia/Kolkata",
        "Pacific/Auckland",
        "America/Los_Angeles",
        "Asia/Dubai",
        "America/Sao_Paulo",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    ):
        if all(cadence.within_working_hours(zone, now + timedelta(minutes=m)) for m in (0, 15)):
            return zone
    return None


def seed_due_review(database_url: str, timezone: str) -> int:
    """A community moderated by Alice and Bruno whose review fell due a minute ago."""
    now = datetime.now(UTC)
    db = Database(database_url)
    try:
        with db.session() as session:
            community = svc.create(
                session,
                team_id="T0CDP",
                creator=ALICE,
                draft=community_draft("Urbanism", moderators=(ALICE, BRUNO), timezone=timezone),
                channel=ChannelChoice(CHANNEL, "urbanism", False),
                now=now,
            )
            community_id = community.id
        # The review date has come (the clock's column, storage/schedule.py): the first tick of each
        # process, at its start, finds it due. (The channel has no history to read.)
        with db.engine.begin() as connection:
            connection.execute(
                text("UPDATE communities SET next_due_at = :due WHERE id = :id"),
                {"due": (now - timedelta(minutes=1)).replace(tzinfo=None), "id": community_id},
            )
            connection.execute(text("UPDATE community_channels SET backfill_status = 'done'"))
        return community_id
    finally:
        db.dispose()


def blocked_behind(database_url: str, holder_pid: int) -> list[int]:
    """The sessions waiting, directly or through another waiting session, for `holder_pid`'s locks."""
    rows = query(
        database_url,
        """
        WITH RECURSIVE waiting(pid) AS (
            SELECT pid FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))
            UNION
            SELECT a.pid FROM pg_stat_activity a JOIN waiting w ON w.pid = ANY(pg_blocking_pids(a.pid))
        )
        SELECT pid FROM waiting
        """,
        holder=holder_pid,
    )
    return [int(row[0]) for row in rows]


def prompts_to(emulator: SlackEmulator, user: str) -> list[dict[str, Any]]:
    return [
        m
        for m in emulator.messages_to(user)
        if any(
            e.get("action_id") == "review_start"
            for b in m.get("blocks") or []
            for e in b.get("elements") or []
        )
    ]


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_two_processes_send_a_due_review_once(
    emulator: SlackEmulator, pg_url: str, tmp_path: Path, mode: str
) -> None:
    timezone = working_timezone(datetime.now(UTC))
    if timezone is None:  # a weekend hour when it is Friday evening or later everywhere
        pytest.skip("no timezone is within working hours now: the review would wait for Monday")
    emulator.add_channel(CHANNEL, "urbanism", members=[ALICE, BRUNO, CHLOE])
    community_id = seed_due_review(pg_url, timezone)
    ran = 'cdp_job_runs_total{job="reminders",outcome="ok"}'
    sent = 'cdp_outbox_deliveries_total{status="sent",what="reviews.prompt"}'
    # The review is opened (as a tick does), and the test holds its row while the processes start, so
    # that their start-up ticks race for real rather than one after the other: each reads the review as
    # due and unsent, then waits for the row to claim it. Released, one claim wins.
    gate = Database(pg_url)
    try:
        with gate.session() as session:
            assert review_repo.open_due(session, now=datetime.now(UTC)) == 1
        with gate.engine.connect() as holder:
            holder.execute(
                text("SELECT id FROM reviews WHERE community_id = :id FOR UPDATE"), {"id": community_id}
            )
            holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with ExitStack() as stack:
                a, b = stack.enter_context(
                    instances(emulator, pg_url, tmp_path, socket_mode=mode == "socket")
                )
                # Released before the processes are stopped, even when the test fails: else they would
                # wait for the row for ever.
                stack.callback(holder.rollback)
                wait_for(lambda: len(blocked_behind(pg_url, holder_pid)) >= 2, "both ticks to wait")
                holder.rollback()
                # Both processes ran their start-up tick, and the outbox has nothing left to send.
                wait_for(lambda: a.metric(ran) >= 1 and b.metric(ran) >= 1, "the start-up ticks")
                wait_for(
                    lambda: not query(pg_url, "SELECT id FROM outbox WHERE status = 'pending'"),
                    "the outbox to drain",
                )
                # (counted just after each row's record is committed: waited for too)
                wait_for(lambda: a.metric(sent) + b.metric(sent) >= 2, "the deliveries' metrics")
                prompts_sent = a.metric(sent) + b.metric(sent)
    finally:
        gate.dispose()
    assert len(prompts_to(emulator, ALICE)) == 1
    assert len(prompts_to(emulator, BRUNO)) == 1
    assert prompts_to(emulator, CHLOE) == []
    assert prompts_sent == 2  # one delivery per moderator, by one process or the other
    rows = query(pg_url, "SELECT target, status FROM outbox WHERE dedupe_key LIKE 'review:%' ORDER BY target")
    assert [tuple(row) for row in rows] == [(ALICE, "sent"), (BRUNO, "sent")]
    assert len(query(pg_url, "SELECT id FROM reviews WHERE sent_at IS NOT NULL")) == 1


# ---- the backfill of a channel --------------------------------------------------------------------
def create_through(instance: Instance, emulator: SlackEmulator, user: str, name: str, channel: str) -> None:
    """/cdp create, then the form submitted, both through this process."""
    assert instance.slack.command("create", user).status == 200
    view = emulator.last_view()
    values = {**initial_values(view), "name": name, "domain": DOMAIN, "channel": channel}
    answer = instance.slack.view_submission(view, user, values)
    assert answer.status == 200 and answer.json() is None, answer.text


def history_calls(emulator: SlackEmulator, channel: str, *, ok: bool = False) -> int:
    calls = emulator.successful_calls_to if ok else emulator.calls_to
    return len([c for c in calls("conversations.history") if c.get("channel") == channel])


def contributions(database_url: str, channel: str) -> dict[str, int]:
    rows = query(
        database_url,
        "SELECT user_id, SUM(contributions) FROM activity_days WHERE channel_id = :channel GROUP BY user_id",
        channel=channel,
    )
    return {str(user): int(total) for user, total in rows}


def backfilled(database_url: str, *channels: str) -> bool:
    rows = query(database_url, "SELECT channel_id, backfill_status FROM community_channels")
    return {channel for channel, status in rows if status == "done"} >= set(channels)


def test_one_process_reads_a_channels_history(emulator: SlackEmulator, pg_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC).timestamp()
    emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE, BRUNO, CHLOE])
    emulator.add_channel("CSCHOOLS", "school-routes", members=[ALICE, BRUNO, CHLOE])
    for days, user in ((5, BRUNO), (4, BRUNO), (3, CHLOE), (2, BRUNO)):
        emulator.add_message("CSTREETS", user, f"{now - days * 86400:.6f}")
    emulator.add_message("CSCHOOLS", CHLOE, f"{now - 86400:.6f}")
    with instances(emulator, pg_url, tmp_path) as (a, b):
        # Slack makes every history wait (429s) until told otherwise. A binds #safe-streets: its backfill
        # starts and waits...
        emulator.rate_limit("conversations.history", retry_after=1, times=1000)
        create_through(a, emulator, ALICE, "Safe streets", "CSTREETS")
        wait_for(lambda: history_calls(emulator, "CSTREETS") >= 1, "A's first history call")
        # ...while B binds #school-routes and resumes every backfill not done, #safe-streets first.
        create_through(b, emulator, BRUNO, "School routes", "CSCHOOLS")
        wait_for(lambda: history_calls(emulator, "CSCHOOLS") >= 1, "B's first history call")
        emulator.clear_faults("conversations.history")
        wait_for(lambda: backfilled(pg_url, "CSTREETS", "CSCHOOLS"), "both backfills")
        # Each history was read once: B left A's channel alone.
        assert history_calls(emulator, "CSTREETS", ok=True) == 1
        assert history_calls(emulator, "CSCHOOLS", ok=True) == 1
        assert contributions(pg_url, "CSTREETS") == {BRUNO: 3, CHLOE: 1}
        assert contributions(pg_url, "CSCHOOLS") == {CHLOE: 1}
        assert query(pg_url, "SELECT binding_id FROM backfill_leases") == []  # given up when done


# ---- caches ---------------------------------------------------------------------------------------
def message(channel: str, user: str, *, offset: float = 0.0) -> dict[str, object]:
    ts = f"{datetime.now(UTC).timestamp() + offset:.6f}"
    return {"type": "message", "channel": channel, "user": user, "text": "hello", "ts": ts}


def circle(database_url: str, user: str) -> str | None:
    rows = query(database_url, "SELECT circle FROM memberships WHERE user_id = :user", user=user)
    return str(rows[0][0]) if rows else None


def test_what_one_process_binds_and_changes_the_other_counts_by(
    emulator: SlackEmulator, pg_url: str, tmp_path: Path
) -> None:
    emulator.add_channel("CSTREETS", "safe-streets", members=[ALICE, BRUNO, CHLOE, DAVID])
    with instances(emulator, pg_url, tmp_path) as (a, b):
        # B hears from a channel no community counts (and remembers it is bound to nothing).
        assert b.slack.event(message("CSTREETS", DAVID), event_id="EvBefore").status == 200
        assert contributions(pg_url, "CSTREETS") == {}

        # A binds it; B counts the next message there (once its binding cache checked the version).
        create_through(a, emulator, ALICE, "Safe streets", "CSTREETS")
        wait_for(lambda: backfilled(pg_url, "CSTREETS"), "the backfill")
        time.sleep(VERSION_TTL_S + 0.2)
        bound = message("CSTREETS", DAVID)
        assert b.slack.event(bound, event_id="EvBound").status == 200
        assert contributions(pg_url, "CSTREETS") == {DAVID: 1}
        assert circle(pg_url, DAVID) == "outer"
        # Slack retries that event and the balancer sends the retry to A: counted once all the same.
        retry = a.slack.event(bound, event_id="EvBound", retry_num=1)
        assert retry.status == 200
        assert contributions(pg_url, "CSTREETS") == {DAVID: 1}

        # A lowers the bar of the inner circle to one contribution on one day: B's next count uses it.
        assert a.slack.command("settings Safe streets", ALICE).status == 200
        view = emulator.last_view()
        values = {**initial_values(view), "inner_min_contributions": "1", "inner_min_days": "1"}
        assert a.slack.view_submission(view, ALICE, values).json() is None
        assert b.slack.event(message("CSTREETS", DAVID, offset=1), event_id="EvRule").status == 200
        assert contributions(pg_url, "CSTREETS") == {DAVID: 2}
        assert circle(pg_url, DAVID) == "inner"

        # A dissolves the community: B counts nothing more there, at once.
        assert a.slack.command("dissolve Safe streets", ALICE).status == 200
        view = emulator.last_view()
        assert a.slack.view_submission(view, ALICE, initial_values(view)).json() is None
        assert b.slack.event(message("CSTREETS", DAVID, offset=2), event_id="EvGone").status == 200
        assert contributions(pg_url, "CSTREETS") == {DAVID: 2}


def test_each_process_its_own_socket_mode_connection(
    emulator: SlackEmulator, pg_url: str, tmp_path: Path
) -> None:
    """Slack hands each envelope to one of the app's connections: whichever process gets it, it is
    answered in time and counted once."""
    emulator.add_channel(SOCKET_CHANNEL, "urbanism", members=[ALICE, BRUNO])
    seed(pg_url)  # a community on CSOCK
    with instances(emulator, pg_url, tmp_path, socket_mode=True):
        link = emulator.socket_mode
        link.spread = True
        sender = SocketModeSender(emulator)
        for number in range(4):
            answer = sender.event(message(SOCKET_CHANNEL, BRUNO, offset=number), event_id=f"EvSpread{number}")
            assert answer.status == 200
        assert "/cdp join" in sender.command("help", ALICE).json()["text"]
        assert "Commandes :" in sender.command("help", BRUNO).json()["text"]  # in his language
        assert set(link.served_by.values()) == {1, 2}  # both processes served
        assert max(ack.seconds for ack in link.acks()) < 3
        assert contributions(pg_url, SOCKET_CHANNEL) == {BRUNO: 4}


# ---- start-up ---------------------------------------------------------------------------------------
@pytest.fixture
def empty_schema_url() -> Iterator[str]:
    """A schema of its own with no table at all: a first deploy (the processes migrate it)."""
    schema = f"cdp_fresh_{os.getpid()}"
    admin = Database(PG_URL)
    try:
        replace_schema(admin, schema, create=True)
        yield schema_url(schema)
    finally:
        replace_schema(admin, schema, create=False)
        admin.dispose()


def test_processes_started_together_on_an_empty_database_migrate_it_once(
    emulator: SlackEmulator, empty_schema_url: str, tmp_path: Path
) -> None:
    """Both run the migrations at start: one at a time (an advisory lock), the second finds them done;
    neither fails on a table the other created."""
    with instances(emulator, empty_schema_url, tmp_path, count=3) as started:
        assert all(instance.ready() for instance in started)
        rows = query(empty_schema_url, "SELECT version_num FROM alembic_version")
        assert [row[0] for row in rows] == [head_revision()]


def test_what_a_dead_process_left_unacknowledged_the_other_one_gets(
    emulator: SlackEmulator, pg_url: str, tmp_path: Path
) -> None:
    """One process hangs, then dies: Slack hands the envelope it never acknowledged to the other
    connection, and the event is counted once."""
    emulator.add_channel(SOCKET_CHANNEL, "urbanism", members=[ALICE, BRUNO])
    seed(pg_url)
    with instances(emulator, pg_url, tmp_path, socket_mode=True) as (a, _b):
        link = emulator.socket_mode
        link.spread = True
        sender = SocketModeSender(emulator)
        a.process.send_signal(signal.SIGSTOP)  # hangs: it reads nothing more, acknowledges nothing
        sent = [
            link.send(
                "events_api",
                sender.event_body(message(SOCKET_CHANNEL, BRUNO, offset=n), event_id=f"EvHang{n}"),
            )
            for n in range(2)
        ]  # one on each connection
        assert {link.served_by[envelope] for envelope in sent} == {1, 2}
        wait_for(lambda: len(link.unacknowledged) == 1, "the live process's acknowledgement", timeout=10)
        # Read before the kill: once the connection closes, the other process may acknowledge it at once.
        [orphan] = [envelope for envelope in sent if envelope not in {ack.envelope_id for ack in link.acks()}]
        a.clean_exit = False
        a.process.kill()  # the hung process dies; its connection closes with it
        a.process.wait(timeout=10)
        assert link.ack_of(orphan).envelope_id == orphan  # acknowledged by the other process
        assert link.unacknowledged == []
        assert contributions(pg_url, SOCKET_CHANNEL) == {BRUNO: 2}


# ---- the welcome ----------------------------------------------------------------------------------
def test_two_join_paths_through_two_processes_welcome_once(
    emulator: SlackEmulator, pg_url: str, tmp_path: Path
) -> None:
    """`/cdp join` typed through one process while Slack reports the channel join to the other (and
    retries it to the first), all at once: one membership, one welcome (a DM or an ephemeral)."""
    emulator.add_channel(SOCKET_CHANNEL, "urbanism", members=[ALICE])
    seed(pg_url)  # "Urbanism" on CSOCK, moderated by Alice
    newcomers = [f"UNEW{n:02d}" for n in range(3)]
    with instances(emulator, pg_url, tmp_path) as (a, b):
        for n, user in enumerate(newcomers):
            emulator.add_user(user, f"new{n}", locale="fr-FR" if n % 2 else "en-US")
            emulator.channels[SOCKET_CHANNEL]["members"].add(user)
            event = {
                "type": "member_joined_channel",
                "user": user,
                "channel": SOCKET_CHANNEL,
                "team": "T0CDP",
            }
            moment = int(time.time())
            sends: list[Callable[[], Any]] = [
                lambda u=user: a.slack.command("join Urbanism", u),
                lambda e=event, u=user, m=moment: b.slack.event(e, event_id=f"Ev{u}", event_time=m),
                lambda e=event, u=user, m=moment: a.slack.event(
                    e, event_id=f"Ev{u}", event_time=m, retry_num=1
                ),
            ]
            with ThreadPoolExecutor(len(sends)) as pool:
                answers = list(pool.map(lambda send: send(), sends))
            assert [answer.status for answer in answers] == [200, 200, 200]
        wait_for(
            lambda: not query(pg_url, "SELECT id FROM outbox WHERE status = 'pending'"), "the outbox to drain"
        )
        for user in newcomers:
            dms = [m for m in emulator.messages_to(user) if "onramp_intro_me" in json.dumps(m.get("blocks"))]
            assert len(emulator.ephemerals_to(user)) + len(dms) == 1, user
        rows = query(pg_url, "SELECT user_id FROM memberships WHERE user_id LIKE 'UNEW%' AND left_at IS NULL")
        assert sorted(row[0] for row in rows) == newcomers
