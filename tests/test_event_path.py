"""The event path (issue 9): the channel-binding cache, the counting statement, a dead connection.

End to end through the real app where the behaviour is the app's (what Slack's events do); at the
service level for the property test that holds the counting statement to the pure circle rule.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select, text, update

from bot.domain import cadence
from bot.domain import circles as rule_domain
from bot.logs import REQUEST_LOGGER
from bot.services import circles as circle_service
from bot.services import communities as svc
from bot.services.circles import Counted
from bot.services.communities import ChannelChoice
from storage import bindings
from storage import db as storage_db
from storage.db import Database
from storage.models import ActivityDay, CircleChange, Community, CommunityChannel, Membership
from storage.repositories import counting
from tests import test_e2e_circles as circles_e2e
from tests.conftest import BRUNO, CHLOE, Harness, community_draft

CHANNEL = circles_e2e.CHANNEL


# ---- helpers -----------------------------------------------------------------------------------
@contextmanager
def statements(harness: Harness) -> Iterator[list[str]]:
    """Every SQL statement the app sends for the requests of the block (SQLite's BEGIN included), less the
    outbox worker's, which polls in its own thread whatever the requests do."""
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not threading.current_thread().name.startswith("cdp-outbox"):
            seen.append(statement)

    def on_driver(statement: str, _dbapi: Any) -> None:  # the event path's statements skip SQLAlchemy
        listener(None, None, statement)

    harness.slack.answer_only = True
    event.listen(harness.db.engine, "before_cursor_execute", listener)
    harness.db.statement_observers.append(on_driver)
    try:
        yield seen
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", listener)
        harness.db.statement_observers.remove(on_driver)
        harness.slack.answer_only = False


def events_bolt_sees(harness: Harness) -> list[str]:
    """The event ids of the requests Bolt's dispatch reaches from now on (a middleware of the real app,
    last in its chain, that only watches): those the server answers itself never appear."""
    seen: list[str] = []

    def watch(body: dict[str, Any], next: Any) -> None:
        seen.append(str(body.get("event_id")))
        next()

    harness.runtime.app.middleware(watch)
    return seen


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The fields of each request's log line (one per request, whichever path answered it)."""
    return [getattr(r, "fields", {}) for r in caplog.records if r.name == REQUEST_LOGGER]


def cache_of(db: Database) -> bindings.BindingCache:
    with db.session() as session:
        return bindings.cache_for(session)


def contributions(db: Database, user: str) -> int:
    with db.session() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(ActivityDay.contributions), 0)).where(ActivityDay.user_id == user)
        )
        return int(total or 0)


def send(harness: Harness, user: str, channel: str = CHANNEL, event_id: str | None = None) -> None:
    body = {**circles_e2e.message(harness, user), "channel": channel}
    result = harness.slack.event(body, event_id=event_id)
    assert result.status == 200, result.text
    harness.clock.advance(timedelta(minutes=1))


def community_in(db: Database, team: str, at: datetime, timezone: str = "UTC") -> int:
    """A community of `team` bound to CX and CY since `at`, created at the service level; its id."""
    with db.session() as session:
        community = svc.create(
            session,
            team_id=team,
            creator="UFOUNDER",
            draft=community_draft("Prop", domain="d", moderators=("UFOUNDER",), timezone=timezone),
            channel=ChannelChoice("CX", "x", False),
            now=at,
        )
        session.flush()
        svc.bind_channel(session, community=community, channel=ChannelChoice("CY", "y", False), now=at)
        return int(community.id)


# ---- the cache -----------------------------------------------------------------------------------
def test_a_message_in_an_unbound_channel_costs_no_sql(harness: Harness) -> None:
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600  # the once-a-second version check would make this test flaky
    send(harness, BRUNO, channel="CGENERAL")  # fills the cache: CGENERAL is bound to nothing
    with statements(harness) as seen:
        send(harness, BRUNO, channel="CGENERAL")
        send(harness, CHLOE, channel="CGENERAL")
    assert seen == [], "\n---\n".join(seen)
    assert contributions(harness.db, BRUNO) == 0


def test_a_message_in_an_unbound_channel_is_answered_without_bolt_and_measured_as_through_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A human's message in a channel no community counts, once the cache knows it, is answered by the
    server itself: Bolt's dispatch would only have measured it as ignored. It is logged and measured as
    through Bolt; a bot's message and the app's own still go through Bolt, whose middleware drops the
    app's own before any listener."""
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    seen_by_bolt = events_bolt_sees(harness)
    ignored_before = metric_value(harness, "cdp_events_total", result="ignored")
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    general = {**circles_e2e.message(harness, BRUNO), "channel": "CGENERAL"}
    for event_id, body in [
        ("EvUnknownYet", general),  # the cache does not know CGENERAL yet: looked up, nothing counted
        ("EvKnownNow", {**general, "user": CHLOE}),  # known: answered without Bolt
        ("EvOtherBot", {**general, "subtype": "bot_message", "bot_id": "BOTHER", "user": "UOTHERBOT"}),
        ("EvOwn", {**general, "user": harness.emulator.bot_user_id, "bot_id": "BCDP"}),
    ]:
        assert harness.slack.event(body, event_id=event_id).status == 200
    assert seen_by_bolt == ["EvOtherBot"]  # the app's own is dropped before middleware of ours runs
    # Measured as Bolt's message_callback does: ignored, but for the app's own, which it never sees.
    assert metric_value(harness, "cdp_events_total", result="ignored") == ignored_before + 3
    lines = request_lines(caplog)
    assert [(f["kind"], f["type"], f["status"], f["outcome"]) for f in lines] == [
        ("event_callback", "message", 200, "ok"),
        ("event_callback", "message", 200, "ok"),
        ("event_callback", "message/bot_message", 200, "ok"),
        ("event_callback", "message", 200, "ok"),
    ]
    assert contributions(harness.db, BRUNO) == contributions(harness.db, CHLOE) == 0


def test_a_persons_reaction_is_answered_without_bolt_counted_once_and_measured_as_through_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The same for a person's reaction: all Bolt's dispatch would do for it is `reaction_callback`, so the
    server counts it itself (in a channel that may be counted; once, whatever Slack's retries) or measures
    it as ignored (in a channel the cache knows no community counts), and logs it; the app's own reaction
    still goes through Bolt, whose middleware drops it before any listener."""
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, CHLOE)  # Chloe joins via the channel: her reaction there counts
    seen_by_bolt = events_bolt_sees(harness)
    ignored_before = metric_value(harness, "cdp_events_total", result="ignored")
    counted_before = metric_value(harness, "cdp_events_total", result="counted")
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)

    def reaction(user: str, channel: str) -> dict[str, Any]:
        item = {"type": "message", "channel": channel, "ts": circles_e2e.now_ts(harness)}
        return {"type": "reaction_added", "user": user, "reaction": "tada", "item": item}

    counted = reaction(CHLOE, CHANNEL)
    for event_id, body in [
        ("EvUnknownYet", reaction(BRUNO, "CGENERAL")),  # the cache does not know CGENERAL yet: looked up
        ("EvKnownNow", reaction(CHLOE, "CGENERAL")),  # known: nothing to count, no SQL
        ("EvOwn", reaction(harness.emulator.bot_user_id, "CGENERAL")),  # dropped by Bolt's middleware
        ("EvCounted", counted),  # a counted channel
    ]:
        assert harness.slack.event(body, event_id=event_id).status == 200
    assert harness.slack.event(counted, event_id="EvCounted", retry_num=1).status == 200
    assert seen_by_bolt == []  # the app's own is dropped before middleware of ours runs
    assert metric_value(harness, "cdp_events_total", result="ignored") == ignored_before + 2
    # Slack's retry is refused by the event's claim, and measured as Bolt's listener measures it.
    assert metric_value(harness, "cdp_events_total", result="counted") == counted_before + 1
    lines = request_lines(caplog)
    assert [(f["kind"], f["type"], f["status"], f["outcome"]) for f in lines] == [
        ("event_callback", "reaction_added", 200, "ok")
    ] * 5
    assert lines[4]["retry"] == "1"
    with harness.db.session() as session:
        reactions = session.scalars(select(ActivityDay.reactions).where(ActivityDay.user_id == CHLOE)).all()
    assert reactions == [1]  # the counted channel's only, once


def test_a_counted_message_of_a_member_is_one_statement_on_postgresql(harness: Harness) -> None:
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel: a second statement, with the forgotten check's hash
    with statements(harness) as seen:
        send(harness, BRUNO)
    counted = [s for s in seen if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    if harness.db.backend == "postgresql":
        assert len(counted) == 1, counted
    else:
        assert 1 < len(counted) <= 6, counted  # SQLite: a few local statements in one transaction
    assert contributions(harness.db, BRUNO) == 2


def test_a_counted_message_is_logged_measured_and_counted_once_when_slack_retries_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL the server counts a human message without Bolt's dispatch: it must still write the
    request's log line and metrics as every request does, and a retry of the event is counted once."""
    circles_e2e.make_community(harness)
    send(harness, BRUNO)  # joins via the channel
    counted_before = metric_value(harness, "cdp_events_total", result="counted")
    caplog.set_level(logging.INFO, logger=REQUEST_LOGGER)
    body = {**circles_e2e.message(harness, BRUNO), "channel": CHANNEL}
    first = harness.slack.event(body, event_id="EvRetried1")
    again = harness.slack.event(body, event_id="EvRetried1", retry_num=1)
    assert (first.status, again.status) == (200, 200)
    assert contributions(harness.db, BRUNO) == 2  # the join's message and this one, not its retry
    lines = request_lines(caplog)
    assert [(f["kind"], f["type"], f["status"], f["outcome"]) for f in lines] == [
        ("event_callback", "message", 200, "ok")
    ] * 2
    assert lines[1]["retry"] == "1" and "retry" not in lines[0]
    assert metric_value(harness, "cdp_events_total", result="counted") == counted_before + 1


def metric_value(harness: Harness, name: str, **labels: str) -> float:
    """A sample of the app's /metrics, as Prometheus reads it."""
    text = urllib.request.urlopen(harness.url + "/metrics", timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_a_counted_message_on_postgresql_is_one_round_trip_with_no_transaction_around_it(
    harness: Harness,
) -> None:
    """No BEGIN and no COMMIT: psycopg sends BEGIN before a statement unless in autocommit, and a
    statement run in a transaction leaves the connection in it (INTRANS) until a COMMIT. Here the driver
    is in autocommit and the server holds no transaction once the one statement has returned."""
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs its statements in one local BEGIN IMMEDIATE transaction")
    from psycopg.pq import TransactionStatus

    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel
    after: list[tuple[str, bool, TransactionStatus]] = []
    began: list[str] = []

    def executed(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not threading.current_thread().name.startswith("cdp-outbox"):
            driver = conn.connection.dbapi_connection
            after.append((statement, driver.autocommit, driver.info.transaction_status))

    def executed_on_driver(statement: str, driver: Any) -> None:
        if not threading.current_thread().name.startswith("cdp-outbox"):
            after.append((statement, driver.autocommit, driver.info.transaction_status))

    def begun(_conn: Any) -> None:
        if not threading.current_thread().name.startswith("cdp-outbox"):
            began.append(threading.current_thread().name)

    event.listen(harness.db.engine, "after_cursor_execute", executed)
    event.listen(harness.db.engine, "begin", begun)
    harness.db.statement_observers.append(executed_on_driver)
    harness.slack.answer_only = True
    try:
        with statements(harness) as seen:
            send(harness, BRUNO)
    finally:
        event.remove(harness.db.engine, "after_cursor_execute", executed)
        event.remove(harness.db.engine, "begin", begun)
        harness.db.statement_observers.remove(executed_on_driver)
    assert len(seen) == 1, seen
    assert len(after) == 1, after
    statement, autocommit, status = after[0]
    assert autocommit, statement
    assert status == TransactionStatus.IDLE, (statement, status)
    assert contributions(harness.db, BRUNO) == 2


def in_flight(harness: Harness, requests: int, timeout: float = 10.0) -> None:
    """Wait until the server is answering this many requests."""
    deadline = time.monotonic() + timeout
    while harness.runtime.deps.answering.in_progress != requests:
        assert time.monotonic() < deadline, f"the server is not answering {requests} request(s)"
        time.sleep(0.005)


@contextmanager
def counting_threads(harness: Harness) -> Iterator[list[str]]:
    """The names of the threads that sent the event path's statements (those on the driver, which the
    counting statement takes) during the block; the outbox worker's are left out."""
    threads: list[str] = []

    def observe(_statement: str, _dbapi: Any) -> None:
        name = threading.current_thread().name
        if not name.startswith("cdp-outbox"):
            threads.append(name)

    harness.db.statement_observers.append(observe)
    try:
        yield threads
    finally:
        harness.db.statement_observers.remove(observe)


def test_a_counted_message_of_a_member_is_counted_on_the_event_loop_without_a_worker_thread(
    harness: Harness,
) -> None:
    """The hop to a worker thread and back cost as much CPU as the count itself: on PostgreSQL the
    statement is awaited on the server's event loop, and on SQLite its local transaction runs there, after
    any other unit of work of the app's that has the turn (the test harness serves the app from the thread
    `cdp-http`)."""
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel
    with counting_threads(harness) as threads:
        send(harness, BRUNO)
    assert threads and set(threads) == {"cdp-http"}, threads
    assert contributions(harness.db, BRUNO) == 2


def test_on_sqlite_counts_sent_at_once_wait_for_the_apps_turn_on_the_event_loop_and_share_one_commit(
    harness: Harness,
) -> None:
    """While another unit of work of the app has SQLite's turn (the outbox, the scheduler), the counts of
    messages sent meanwhile wait for it without blocking the event loop, and then run together on the loop:
    one transaction, one disk flush, each counted once and answered 200."""
    if harness.db.backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL groups the flushes of concurrent commits itself")
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel
    send(harness, CHLOE)
    send(harness, CHLOE, channel="CGENERAL")  # the cache now knows CGENERAL is bound to nothing
    harness.slack.answer_only = True  # the test's own wait for the outbox would wait for the turn too
    posters = [BRUNO, CHLOE, BRUNO, CHLOE, BRUNO, BRUNO]
    answered: list[int] = []
    committed: list[str] = []

    def observe(statement: str, _dbapi: Any) -> None:
        if statement == "COMMIT" and threading.current_thread().name == "cdp-http":
            committed.append(statement)

    def post(index: int) -> None:
        body = {**circles_e2e.message(harness, posters[index]), "channel": CHANNEL}
        answered.append(harness.slack.event(body, event_id=f"EvTogether{index}").status)

    with counting_threads(harness) as threads:
        harness.db.statement_observers.append(observe)
        senders = [threading.Thread(target=post, args=(index,)) for index in range(len(posters))]
        try:
            with harness.db.turn():  # as a worker thread of the app holds it
                for sender in senders:
                    sender.start()
                in_flight(harness, len(posters))  # all with the server, their counts waiting
                send(harness, CHLOE, channel="CGENERAL")  # answered meanwhile: the loop is free
                assert answered == []
                assert (contributions(harness.db, BRUNO), contributions(harness.db, CHLOE)) == (1, 1)
        finally:
            for sender in senders:
                sender.join(timeout=30)
            harness.db.statement_observers.remove(observe)
    assert answered == [200] * len(posters)
    assert (contributions(harness.db, BRUNO), contributions(harness.db, CHLOE)) == (5, 3)
    assert set(threads) == {"cdp-http"}, threads  # no worker thread
    assert committed == ["COMMIT"], committed  # one transaction for the six


def test_on_sqlite_counts_waiting_too_long_for_the_apps_turn_go_to_a_worker_thread(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count does not wait on the event loop for the app's turn for ever (worker threads, woken by its
    release, may keep taking it first): after TURN_WAIT_S it waits in a worker thread instead, and is
    counted once and answered 200 when the turn is free."""
    if harness.db.backend != "sqlite":
        pytest.skip("SQLite only: its turn is this process's")
    monkeypatch.setattr(storage_db, "TURN_WAIT_S", 0.2)
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel
    harness.slack.answer_only = True  # the test's own wait for the outbox would wait for the turn too
    answered: list[int] = []
    body = {**circles_e2e.message(harness, BRUNO), "channel": CHANNEL}
    sender = threading.Thread(
        target=lambda: answered.append(harness.slack.event(body, event_id="EvWaitsLong").status)
    )
    with counting_threads(harness) as threads:
        with harness.db.turn():  # as worker threads of the app would keep holding it
            sender.start()
            in_flight(harness, 1)
            time.sleep(0.5)  # past TURN_WAIT_S: the count now waits in a worker thread
            assert answered == []
        sender.join(timeout=30)
    assert answered == [200]
    assert contributions(harness.db, BRUNO) == 2
    assert threads and "cdp-http" not in threads, threads


def test_on_postgresql_counts_sent_while_one_waits_are_each_counted_once_and_answered(
    harness: Harness,
) -> None:
    """While a count is on its way to PostgreSQL (here, waiting for a lock), the counts of messages sent
    meanwhile go together in one transaction (Database.first_together): each is counted once, a retry
    among them once in all, and all are answered 200 once the first is done."""
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's are tested above")
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel
    send(harness, CHLOE)
    harness.slack.answer_only = True
    blocker = harness.db.engine.connect()  # holds EvFirst's claim, uncommitted: that count waits for it
    blocker.execute(
        text(
            "INSERT INTO processed_events (event_id, team_id, received_at) VALUES ('EvFirst', :team, now())"
        ),
        {"team": harness.emulator.team_id},
    )
    answered: list[int] = []

    def post(poster: str, event_id: str) -> None:
        body = {**circles_e2e.message(harness, poster), "channel": CHANNEL}
        answered.append(harness.slack.event(body, event_id=event_id).status)

    first = threading.Thread(target=post, args=(BRUNO, "EvFirst"))
    meanwhile = [
        threading.Thread(target=post, args=(poster, event_id))
        for poster, event_id in [
            (BRUNO, "EvA"),
            (CHLOE, "EvB"),
            (BRUNO, "EvC"),
            (CHLOE, "EvD"),
            (CHLOE, "EvD"),  # Slack's retry, sent with it
        ]
    ]
    try:
        first.start()
        in_flight(harness, 1)
        time.sleep(0.2)  # its statement on its way, waiting for the lock
        for sender in meanwhile:
            sender.start()
        for sender in meanwhile:
            sender.join(timeout=30)
        assert answered.count(200) == len(meanwhile)  # not held up by the first
    finally:
        blocker.rollback()
        blocker.close()
        first.join(timeout=30)
    assert answered == [200] * (len(meanwhile) + 1)
    assert (contributions(harness.db, BRUNO), contributions(harness.db, CHLOE)) == (4, 3)


def test_on_sqlite_a_count_waits_for_another_process_writing_and_the_server_keeps_answering(
    harness: Harness,
) -> None:
    """Another process holding SQLite's write lock (`cdp-bot recompute`, a second instance) must not stall
    the event loop: the count waits for it (in a worker thread, or on the loop for the app's turn when a
    worker thread of the app's waits for the lock with it) while the server answers other requests, and is
    counted once when the lock is released."""
    if harness.db.backend != "sqlite":
        pytest.skip("SQLite only: its write lock is the database file's")
    import sqlite3

    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO)  # joins via the channel
    send(harness, CHLOE, channel="CGENERAL")  # the cache now knows CGENERAL is bound to nothing
    other_process = sqlite3.connect(str(harness.db.engine.url.database), isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # holds the write lock
    answered: list[int] = []
    body = {**circles_e2e.message(harness, BRUNO), "channel": CHANNEL}
    harness.slack.answer_only = True  # the test's own wait for the outbox would wait for the lock too
    counted = threading.Thread(
        target=lambda: answered.append(harness.slack.event(body, event_id="EvWaitsForLock").status)
    )
    counted.start()
    try:
        in_flight(harness, 1)  # the counted message is with the server, its count waiting
        # Answered while the count still waits: the loop is free.
        send(harness, CHLOE, channel="CGENERAL")
        assert counted.is_alive() and answered == []
        waiting = "SELECT sum(contributions) FROM activity_days WHERE user_id = ?"
        assert other_process.execute(waiting, (BRUNO,)).fetchone() == (1,)  # not counted yet
    finally:
        other_process.execute("COMMIT")
        other_process.close()
    counted.join(timeout=30)
    assert answered == [200]
    assert contributions(harness.db, BRUNO) == 2


def test_a_channel_bound_by_another_instance_counts_once_its_version_is_seen(harness: Harness) -> None:
    community_id = circles_e2e.make_community(harness)
    cache = cache_of(harness.db)
    cache.ttl = 3600
    send(harness, BRUNO, channel="CGENERAL")  # cached as unbound
    other = Database(harness.db.url)  # another instance, writing to the same database
    try:
        with other.session() as session:
            community = session.get(Community, community_id)
            assert community is not None
            svc.bind_channel(
                session,
                community=community,
                channel=ChannelChoice("CGENERAL", "general", False),
                now=harness.clock.now(),
            )
    finally:
        other.dispose()
    send(harness, BRUNO, channel="CGENERAL")
    assert contributions(harness.db, BRUNO) == 0  # the cache has not looked at the version yet
    cache.ttl = 0
    send(harness, BRUNO, channel="CGENERAL")
    assert contributions(harness.db, BRUNO) == 1


def test_a_stale_cache_never_counts_for_a_dissolved_community_nor_for_a_former_binding(
    harness: Harness,
) -> None:
    community_id = circles_e2e.make_community(harness)
    cache = cache_of(harness.db)
    cache.ttl = 3600  # the cache will not re-read the version: only the statement's re-check protects
    send(harness, BRUNO)
    assert contributions(harness.db, BRUNO) == 1
    other = Database(harness.db.url)  # another instance
    try:
        with other.session() as session:
            session.execute(update(Community).where(Community.id == community_id).values(status="dissolved"))
        send(harness, BRUNO)
        assert contributions(harness.db, BRUNO) == 1  # the cache said bound; the statement said no
        with other.session() as session:
            session.execute(update(Community).where(Community.id == community_id).values(status="active"))
        cache.clear()  # as the version check would, a second later
        send(harness, BRUNO)
        assert contributions(harness.db, BRUNO) == 2
        # Another instance moves the channel to a new community: the cache still names the old binding.
        with other.session() as session:
            session.execute(text("DELETE FROM community_channels WHERE channel_id = :c"), {"c": CHANNEL})
        second = community_in(other, harness.emulator.team_id, harness.clock.now() - timedelta(hours=1))
        with other.session() as session:
            session.execute(
                update(CommunityChannel)
                .where(CommunityChannel.community_id == second, CommunityChannel.channel_id == "CX")
                .values(channel_id=CHANNEL)
            )
        send(harness, BRUNO)
        with harness.db.session() as session:
            rows = session.execute(
                select(ActivityDay.community_id, func.sum(ActivityDay.contributions))
                .where(ActivityDay.user_id == BRUNO)
                .group_by(ActivityDay.community_id)
                .order_by(ActivityDay.community_id)
            ).all()
        assert [tuple(row) for row in rows] == [(community_id, 2), (second, 1)]
    finally:
        other.dispose()


def test_a_channel_bound_in_this_process_counts_its_next_message(harness: Harness) -> None:
    community_id = circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO, channel="CGENERAL")
    with harness.db.session() as session:  # the app's own engine: its commit clears the cache
        community = session.get(Community, community_id)
        assert community is not None
        svc.bind_channel(
            session,
            community=community,
            channel=ChannelChoice("CGENERAL", "general", False),
            now=harness.clock.now(),
        )
    send(harness, BRUNO, channel="CGENERAL")
    assert contributions(harness.db, BRUNO) == 1


# ---- a dead connection -------------------------------------------------------------------------
def test_a_connection_killed_between_two_events_still_counts_the_second_once(db: Database) -> None:
    """At the service level, with a pool nothing else uses: the second event's first statement is sure
    to meet the dead connection (through the app, the outbox worker may meet it first)."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    team = "TKILL"
    community_in(db, team, now - timedelta(days=1))

    def count(event_id: str) -> Counted:
        outcome = circle_service.record_contribution(
            db,
            team_id=team,
            event_id=event_id,
            channel_id="CX",
            user_id="UA",
            ts=now.timestamp(),
            now=now,
        )
        return outcome.result

    assert count("Ev1") == Counted.COUNTED
    assert db.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    with db.engine.connect() as connection:
        pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
    killer = Database(db.url)
    try:
        with killer.engine.begin() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        killer.dispose()
    assert count("Ev2") == Counted.COUNTED
    assert count("Ev2") == Counted.DUPLICATE  # Slack's retry
    assert contributions(db, "UA") == 2


def test_a_connection_of_the_event_loop_killed_between_two_messages_still_counts_the_second_once(
    harness: Harness,
) -> None:
    """Through the app on PostgreSQL, where a member's message is counted on the server's event loop
    (storage/async_driver.py): its connection dies between two messages; the second is counted once,
    and Slack's retry of it counts nothing."""
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    circles_e2e.make_community(harness)
    cache_of(harness.db).ttl = 3600
    send(harness, BRUNO, event_id="Ev1")  # joins via the channel
    send(harness, BRUNO, event_id="Ev2")  # counted on the event loop: its connection is now idle
    with statements(harness) as seen:
        send(harness, BRUNO, event_id="Ev3")
    assert len(seen) == 1, seen  # the event loop's connection, not a session's
    backends = [
        connection.info.backend_pid
        for connection, _opened, _lean in harness.db._async_drivers._idle  # type: ignore[union-attr]
    ]
    assert backends
    killer = Database(harness.db.url)
    try:
        with killer.engine.begin() as connection:
            for pid in backends:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        killer.dispose()
    send(harness, BRUNO, event_id="Ev4")
    assert contributions(harness.db, BRUNO) == 4
    result = harness.slack.event(
        {**circles_e2e.message(harness, BRUNO), "channel": CHANNEL}, event_id="Ev4", retry_num=1
    )
    assert result.status == 200, result.text
    assert contributions(harness.db, BRUNO) == 4


# ---- a crash between the count and the promotion ------------------------------------------------
class Crash(BaseException):
    """The process dying: not an Exception, nothing of ours catches it."""


def one_message_rule(db: Database, community_id: int) -> None:
    with db.session() as session:  # one message is enough to join the inner circle
        session.execute(
            update(Community)
            .where(Community.id == community_id)
            .values(inner_min_contributions=1, inner_min_days=1)
        )


def circle_of(db: Database, team: str, user: str) -> tuple[str, int]:
    with db.session() as session:
        membership = session.scalars(
            select(Membership).where(Membership.team_id == team, Membership.user_id == user)
        ).one()
        changes = session.scalar(
            select(func.count()).select_from(CircleChange).where(CircleChange.user_id == user)
        )
        return membership.circle, int(changes or 0)


@pytest.mark.parametrize("fixed_by", ["next message", "recompute"])
def test_a_crash_between_the_count_and_the_promotion_keeps_the_count_and_the_circle_is_fixed_later(
    db: Database, fixed_by: str
) -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    team = f"T{uuid.uuid4().hex[:10]}"
    community_id = community_in(db, team, now - timedelta(days=1))
    one_message_rule(db, community_id)

    def crash(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO circle_changes"):
            raise Crash

    def message(event_id: str) -> circle_service.CountOutcome:
        return circle_service.record_contribution(
            db, team_id=team, event_id=event_id, channel_id="CX", user_id="UA", ts=now.timestamp(), now=now
        )

    event.listen(db.engine, "before_cursor_execute", crash)
    try:
        with pytest.raises(Crash):  # dies inside the promotion's transaction: it is rolled back
            message("Ev1")
    finally:
        event.remove(db.engine, "before_cursor_execute", crash)
    assert contributions(db, "UA") == 1  # the fact is kept...
    assert circle_of(db, team, "UA") == ("outer", 0)  # ...the derived circle is behind
    assert message("Ev1").result == Counted.DUPLICATE  # Slack's retry counts nothing twice
    assert contributions(db, "UA") == 1
    if fixed_by == "next message":
        outcome = message("Ev2")
        assert outcome.result == Counted.COUNTED
        assert outcome.promotion is not None
        assert contributions(db, "UA") == 2
    else:
        with db.session() as session:
            community = session.get(Community, community_id)
            assert community is not None
            changes = circle_service.recompute(session, community=community, now=now)
        assert [(c.user_id, c.circle) for c in changes] == [("UA", "inner")]
    assert circle_of(db, team, "UA") == ("inner", 1)


# ---- the index -----------------------------------------------------------------------------------
def test_the_counting_statement_reads_activity_through_an_index(db: Database) -> None:
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: EXPLAIN of its statement")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    community_id = community_in(db, "T1", now - timedelta(days=1))
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO activity_days (team_id, community_id, channel_id, user_id, day, contributions, "
                "reactions) SELECT 'T1', :cid, 'CX', 'U' || (n % 500), DATE '2026-01-01' + (n / 500), 1, 0 "
                "FROM generate_series(0, 19999) AS n"
            ),
            {"cid": community_id},
        )
        session.execute(text("ANALYZE activity_days"))
        binding = bindings.read(session, team_id="T1", channel_id="CX")
        assert binding is not None
    params = {
        "team_id": "T1",
        "channel_id": "CX",
        "user_id": "U7",
        "event_id": "Ev1",
        "user_hash": None,
        "community_id": binding.community_id,
        "binding_id": binding.id,
        "timezone": binding.timezone,
        "window_days": binding.window_days,
        "min_contributions": binding.inner_min_contributions,
        "min_days": binding.inner_min_days,
        "grace_days": binding.demotion_grace_days,
        "now": now,
        "day": date(2026, 3, 2),
        "today": date(2026, 3, 2),
        "window_start": date(2026, 2, 1),
        "contributions": 1,
        "reactions": 0,
        "create": True,
    }
    # Both statements: the one for a caller with the poster's hash, and the event loop's (without).
    statements = [counting.pg_statement("EXPLAIN ", with_hash=with_hash) for with_hash in (True, False)]
    with db.session() as session:
        for statement in statements:
            plan = "\n".join(row[0] for row in session.execute(statement, params))
            assert "activity_days" in plan, plan
            assert "Seq Scan on activity_days" not in plan, plan
        # The same with sequential scans made unattractive: without a usable index one would still show.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        for statement in statements:
            plan = "\n".join(row[0] for row in session.execute(statement, params))
            assert "Seq Scan on activity_days" not in plan, plan
        # ...as one does once the indexes are gone (rolled back below): the check above can fail. (The
        # counting statement cannot be planned without its ON CONFLICT index: its aggregate alone.)
        session.execute(text("DROP INDEX ix_activity_days_member"))
        session.execute(text("ALTER TABLE activity_days DROP CONSTRAINT uq_activity_days_key"))
        plan = "\n".join(
            row[0]
            for row in session.execute(
                text(
                    "EXPLAIN SELECT sum(contributions) FROM activity_days WHERE team_id = 'T1' "
                    "AND community_id = 1 AND user_id = 'U7' AND day >= DATE '2026-02-01'"
                )
            )
        )
        session.rollback()
    assert "Seq Scan on activity_days" in plan, plan


# ---- the statement holds to the rule -------------------------------------------------------------
EVENT = st.tuples(
    st.sampled_from(["UA", "UB", "UC"]),
    st.integers(min_value=0, max_value=40),  # days before today
    st.sampled_from(["CX", "CY"]),
    st.sampled_from(["message", "message", "message", "reaction", "retry"]),
)
RULE = st.tuples(st.integers(7, 12), st.integers(1, 6), st.integers(1, 4), st.integers(1, 20))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENT, min_size=1, max_size=25), rule_values=RULE)
def test_counting_gives_the_circles_and_counters_of_the_pure_rule(
    db: Database, events: list[tuple[str, int, str, str]], rule_values: tuple[int, int, int, int]
) -> None:
    team = f"T{uuid.uuid4().hex[:10]}"
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    window, min_contributions, min_days, grace = rule_values
    rule = rule_domain.CircleRule.within_bounds(
        window_days=window,
        inner_min_contributions=min_contributions,
        inner_min_days=min_days,
        demotion_grace_days=grace,
    )
    community_id = community_in(db, team, now - timedelta(days=90), timezone="Europe/Paris")
    with db.session() as session:  # a rule of this example's own (and the cache must see it at once)
        session.execute(
            update(Community)
            .where(Community.id == community_id)
            .values(
                circle_window_days=window,
                inner_min_contributions=min_contributions,
                inner_min_days=min_days,
                demotion_grace_days=grace,
            )
        )
    today = now.date()
    expected_days: dict[tuple[str, str, date], list[int]] = defaultdict(lambda: [0, 0])
    circles: dict[str, str] = {}
    claimed: set[str] = set()
    last_id = None
    for index, (user, back, channel, kind) in enumerate(events):
        ts = (now - timedelta(days=back, hours=10)).timestamp()
        day = datetime.fromtimestamp(ts, UTC).astimezone(cadence.zone("Europe/Paris")).date()
        event_id = last_id if kind == "retry" and last_id else f"{team}-E{index}"
        if kind == "reaction":
            result = circle_service.record_reaction(
                db, team_id=team, event_id=event_id, channel_id=channel, user_id=user, ts=ts, now=now
            )
        else:
            result = circle_service.record_contribution(
                db, team_id=team, event_id=event_id, channel_id=channel, user_id=user, ts=ts, now=now
            ).result
        last_id = event_id
        # What should happen, by the pure rule and the rules of counting:
        if day < today - timedelta(days=rule.history_days):
            assert result == Counted.IGNORED  # too old for the rule to see: not even claimed
            continue
        if event_id in claimed:
            assert result == Counted.DUPLICATE
            continue
        claimed.add(event_id)
        if kind == "reaction":
            if user in circles:
                expected_days[(user, channel, day)][1] += 1
            assert result == (Counted.COUNTED if user in circles else Counted.IGNORED)
            continue
        assert result == Counted.COUNTED
        expected_days[(user, channel, day)][0] += 1
        circles.setdefault(user, "outer")
        activity = [
            rule_domain.ActivityDay(day=d, contributions=c, reactions=r)
            for (u, _ch, d), (c, r) in expected_days.items()
            if u == user
        ]
        if circles[user] == "outer":
            decision = rule_domain.decide(
                activity, rule, today=today, current="outer", circle_since=today, joined_on=today
            )
            circles[user] = decision.circle
    with db.session() as session:
        stored = {
            (r.user_id, r.channel_id, r.day): [r.contributions, r.reactions]
            for r in session.scalars(select(ActivityDay).where(ActivityDay.team_id == team))
        }
        members = {
            m.user_id: m.circle
            for m in session.scalars(
                select(Membership).where(
                    Membership.community_id == community_id, Membership.user_id != "UFOUNDER"
                )
            )
        }
        promoted = session.scalars(
            select(CircleChange.user_id).where(CircleChange.community_id == community_id)
        ).all()
    assert stored == {key: value for key, value in expected_days.items() if value != [0, 0]}
    assert members == circles
    assert sorted(promoted) == sorted(user for user, circle in circles.items() if circle == "inner")


def test_only_writes_that_can_change_a_binding_empty_the_cache() -> None:
    from storage.bindings import _may_change_a_binding

    assert _may_change_a_binding("INSERT INTO community_channels (team_id) VALUES (?)")
    assert _may_change_a_binding("UPDATE communities SET status=?, dissolved_at=? WHERE communities.id = ?")
    assert _may_change_a_binding("UPDATE communities SET circle_window_days=? WHERE communities.id = ?")
    # The clock moving a review's due time, or a rename, leaves every binding as it was.
    assert not _may_change_a_binding("UPDATE communities SET next_due_at=? WHERE communities.id = ?")
    assert not _may_change_a_binding("UPDATE communities SET name=?, slug=? WHERE communities.status = ?")
    assert not _may_change_a_binding("UPDATE memberships SET circle=? WHERE memberships.id = ?")


def test_downgrading_and_upgrading_the_schedules_keeps_the_binding_triggers(database_url: str) -> None:
    """Migration 0009 goes down and up again without losing 0006's triggers (a SQLite table rebuild would)."""
    from alembic import command
    from sqlalchemy import text

    from storage.db import Database
    from storage.migrate import alembic_config, upgrade

    db = Database(database_url)

    def triggers() -> set[str]:
        query = (
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            if db.backend == "sqlite"
            else "SELECT DISTINCT trigger_name FROM information_schema.triggers "
            "WHERE event_object_schema = current_schema()"
        )
        with db.engine.connect() as connection:
            return {str(name) for (name,) in connection.execute(text(query))}

    try:
        before = triggers()
        assert before  # 0006's triggers are there
        command.downgrade(alembic_config(db.engine), "0008")
        upgrade(db.engine)
        assert triggers() == before
    finally:
        db.dispose()


def test_a_lookup_that_read_before_a_clear_does_not_store_what_it_read(db: Database) -> None:
    """A channel read as unbound just before another thread emptied the cache (it saw a binding change)
    must be read again next time, not remembered as unbound for ever."""
    from sqlalchemy import event

    from storage.bindings import BindingCache

    cache = BindingCache(ttl=3600)
    cleared: list[bool] = []

    def meanwhile(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM community_channels" in statement and not cleared:
            cleared.append(True)
            cache.clear()  # what another request does when it sees the binding version move

    event.listen(db.engine, "before_cursor_execute", meanwhile)
    try:
        with db.session() as session:
            assert cache.lookup(session, team_id="T1", channel_id="CNEW") is None
    finally:
        event.remove(db.engine, "before_cursor_execute", meanwhile)
    assert cleared
    with db.session() as session:
        cache._check_version(session)  # fresh again: an entry, if stored, would now be trusted
    assert not cache.surely_unbound(team_id="T1", channel_id="CNEW")
