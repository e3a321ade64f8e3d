"""The outbox: what the app owes Slack is written with the decision and sent after the answer, once per
recipient, whatever Slack does (429 with Retry-After, errors, a refused recipient, a crash, two instances).

Storage tests run on both databases; worker tests drive the real worker of the real app against the
emulator and read what Slack received, and when.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.dialects import sqlite

from bot.background import Answering
from bot.outbox import RateLimiter
from bot.server import Runtime
from bot.services import outbox
from storage.db import Database, for_driver
from storage.models import OutboxMessage
from storage.repositories import outbox as repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness, app_settings

TEAM = "T0CDP"
LEASE = timedelta(seconds=30)


def now() -> datetime:
    return datetime.now(UTC)


def write(harness: Harness, *messages: tuple[str, str]) -> None:
    """Owe Slack a plain message per (recipient, text), in one transaction, as a decision would."""
    with harness.db.session() as session:
        for to, text in messages:
            outbox.message(session, team_id=TEAM, to=to, render="plain", lang="en", text=text)


def rows(harness: Harness) -> list[OutboxMessage]:
    with harness.db.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def posts(harness: Harness, target: str) -> list[tuple[float, str]]:
    """(when Slack received it, text) of every chat.postMessage call to `target`, refused ones too."""
    with harness.emulator.lock:
        return [
            (call.at, str(call.params.get("text")))
            for call in harness.emulator.calls
            if call.method == "chat.postMessage" and call.params.get("channel") == target
        ]


def delivered_texts(harness: Harness, target: str) -> list[str]:
    return [str(p.get("text")) for p in harness.emulator.messages_to(target)]


# ---- storage, on both databases ------------------------------------------------------------------
def add(db: Database, target: str = ALICE, **kwargs: Any) -> int | None:
    with db.session() as session:
        return repo.add(
            session,
            team_id=TEAM,
            kind="message",
            target=target,
            payload={"render": "plain", "args": {"text": "hi"}},
            now=now(),
            **kwargs,
        )


def test_a_dedupe_key_is_written_once(db: Database) -> None:
    assert add(db, dedupe_key="review:1:0:UALICE") is not None
    assert add(db, dedupe_key="review:1:0:UALICE") is None  # a second instance decided it too
    assert add(db, dedupe_key="review:1:0:UBRUNO") is not None
    with db.session() as session:
        assert repo.pending_count(session) == 2


def test_a_batch_is_written_in_order_once_per_dedupe_key_with_its_payload_intact(db: Database) -> None:
    at = now().replace(microsecond=0)
    assert add(db, dedupe_key="alert:1:UALICE") is not None  # written earlier, by another instance
    payload = {"render": "reviews.alert", "args": {"name": "Café «vélo»", "n": 3, "z": [1, None], "a": {}}}
    batch = [
        {
            "team_id": TEAM,
            "kind": "message",
            "target": ALICE,
            "payload": payload,
            "dedupe_key": "alert:1:UALICE",
        },
        {
            "team_id": TEAM,
            "kind": "message",
            "target": BRUNO,
            "payload": payload,
            "dedupe_key": "alert:1:UBRUNO",
        },
        {"team_id": TEAM, "kind": "message", "target": BRUNO, "payload": {}, "dedupe_key": "alert:1:UBRUNO"},
        {"team_id": TEAM, "kind": "lookup", "target": CHLOE, "payload": {}, "ref": "r1"},
        {
            "team_id": TEAM,
            "kind": "message",
            "target": DAVID,
            "payload": payload,
            "dedupe_key": "alert:1:UDAVID",
        },
    ]
    with db.session() as session:
        repo.add_many(session, rows=batch, now=at)
    with db.session() as session:
        written = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all())[1:]
        assert [(m.target, m.kind, m.dedupe_key, m.ref) for m in written] == [
            (BRUNO, "message", "alert:1:UBRUNO", None),
            (CHLOE, "lookup", None, "r1"),
            (DAVID, "message", "alert:1:UDAVID", None),
        ]
        assert [m.payload for m in written] == [payload, {}, payload]
        assert list(written[0].payload["args"]) == ["name", "n", "z", "a"]  # keys as written
        assert {(m.status, m.created_at, m.not_before, m.attempts, m.claimed_until) for m in written} == {
            ("pending", at, at, 0, None)
        }


def test_a_claim_is_a_lease_nobody_else_takes(db: Database) -> None:
    first = add(db)
    with db.session() as session:
        claimed = repo.claim_next(session, now=now(), lease=LEASE)
        assert claimed is not None and claimed.id == first and claimed.attempts == 1
    with db.session() as session:
        assert repo.claim_next(session, now=now(), lease=LEASE) is None  # leased
        # The worker that held it died: after the lease, it is taken again.
        assert repo.claim_next(session, now=now() + LEASE + timedelta(seconds=1), lease=LEASE) is not None


def test_put_back_for_later_and_finished_rows_are_not_claimed(db: Database) -> None:
    later, done = add(db), add(db, target=BRUNO)
    assert later is not None and done is not None
    with db.session() as session:
        repo.retry_at(session, message_id=later, when=now() + timedelta(seconds=20), error="ratelimited")
        repo.finish(session, message_id=done, status=repo.SENT, now=now(), channel="D1", ts="1.1")
    with db.session() as session:
        assert repo.claim_next(session, now=now(), lease=LEASE) is None
        row = repo.claim_next(session, now=now() + timedelta(seconds=21), lease=LEASE)
        assert row is not None and row.id == later


def test_a_busy_recipient_waits_for_its_previous_message(db: Database) -> None:
    add(db, target=ALICE)
    second = add(db, target=BRUNO)
    with db.session() as session:
        row = repo.claim_next(session, now=now(), lease=LEASE, busy={ALICE})
        assert row is not None and row.id == second


def test_on_the_driver_claims_outcomes_and_due_times_are_the_session_s(db: Database) -> None:
    """PostgreSQL: the worker's claim, outcome and next due time go on the driver (bot.outbox
    Database.one_statement): the same rows as through a Session, busy recipients and leases included,
    and the same times whatever the connection's time zone (stored as naive UTC, read as aware UTC)."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL: the worker's statements go on the driver there only")
    first = add(db, target=ALICE, not_before=now() - timedelta(seconds=3))
    second = add(db, target=BRUNO, not_before=now() - timedelta(seconds=2))
    third = add(db, target=CHLOE, not_before=now() - timedelta(seconds=1))

    def on_driver(work: Callable[[Any], Any]) -> Any:
        """`work` on the driver, its connection in another time zone than the server's UTC."""

        def in_new_york(connection: Any) -> Any:
            connection.dbapi.execute("SET TIME ZONE 'America/New_York'")
            try:
                return work(connection)
            finally:
                connection.dbapi.execute("RESET TIME ZONE")

        return db.on_driver(in_new_york)

    def claim(busy: set[str], at: datetime | None = None) -> repo.Delivery | None:
        return on_driver(functools.partial(repo.claim_next, now=at or now(), lease=LEASE, busy=busy))

    with db.session() as session:
        written = {m.id: m for m in session.scalars(select(OutboxMessage))}
        assert repo.next_due_at(session) == written[first].not_before
    assert on_driver(repo.next_due_at) == written[first].not_before  # aware UTC, as the Session's
    claimed_at = now()
    taken = claim({ALICE, BRUNO}, claimed_at)
    assert taken is not None and taken.id == third and taken.attempts == 1
    assert (taken.target, taken.payload, taken.created_at) == (
        CHLOE,
        {"render": "plain", "args": {"text": "hi"}},
        written[third].created_at,
    )
    assert [getattr(claim(set()), "id", None) for _ in range(3)] == [first, second, None]  # leased now
    sent_at = now()
    on_driver(
        functools.partial(
            repo.finish, message_id=third, status=repo.SENT, now=sent_at, channel="D1", ts="1.1"
        )
    )
    on_driver(functools.partial(repo.finish, message_id=first, status=repo.SKIPPED, now=now(), error="gone"))
    with db.session() as session:
        done = {m.id: m for m in session.scalars(select(OutboxMessage))}
        assert repo.next_due_at(session) == written[second].not_before
    assert (done[third].status, done[third].sent_at, done[third].result_channel, done[third].result_ts) == (
        repo.SENT,
        sent_at,
        "D1",
        "1.1",
    )
    assert (done[first].status, done[first].sent_at, done[first].error) == (repo.SKIPPED, None, "gone")
    assert done[third].claimed_until is None
    assert done[second].claimed_until is not None
    assert claimed_at + LEASE < done[second].claimed_until <= now() + LEASE  # its own claim's lease
    assert on_driver(repo.next_due_at) == written[second].not_before
    on_driver(functools.partial(repo.finish, message_id=second, status=repo.SENT, now=now()))
    assert on_driver(repo.next_due_at) is None


def test_a_statement_compiled_for_the_driver_refuses_a_missing_or_unknown_parameter(db: Database) -> None:
    """Through a Session a missing value is an error; on the driver too (storage.db.DriverStatement),
    never a silent NULL in the row."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL: statements are compiled for the driver there only")
    done = add(db)
    outcome = {"message_id": done, "new_status": repo.SENT, "sent": now(), "failure": None, "landed_in": None}
    compiled = for_driver(repo._FINISH, db.engine.dialect)
    with pytest.raises(KeyError, match="missing: \\['landed_at'\\]"):
        compiled.params(outcome)
    with pytest.raises(KeyError, match="unknown: \\['landed'\\]"):
        compiled.params({**outcome, "landed_at": None, "landed": "D1"})
    with pytest.raises(ValueError, match="PostgreSQL only"):
        for_driver(repo._FINISH, sqlite.dialect())
    with db.session() as session:
        assert session.get(OutboxMessage, done).status == repo.PENDING  # type: ignore[union-attr]


def test_two_workers_claim_different_rows_without_waiting(db: Database) -> None:
    if db.backend != "postgresql":
        pytest.skip("SKIP LOCKED: PostgreSQL (SQLite runs one writer at a time)")
    ids = {add(db, target=ALICE), add(db, target=BRUNO)}
    with db.session() as first:
        a = repo.claim_next(first, now=now(), lease=LEASE)
        with db.session() as second:  # another instance, while the first has not committed
            b = repo.claim_next(second, now=now(), lease=LEASE)
        assert a is not None and b is not None
        assert {a.id, b.id} == ids


def test_cancel_leaves_a_copy_being_sent_alone(db: Database) -> None:
    ids = [add(db, target=user, ref="join-request:7") for user in (ALICE, BRUNO)]
    with db.session() as session:
        taken = repo.claim_next(session, now=now(), lease=LEASE)
        assert taken is not None
    with db.session() as session:
        assert repo.cancel_pending(session, ref="join-request:7", now=now()) == 1
    statuses = {}
    with db.session() as session:
        for row in session.scalars(select(OutboxMessage)):
            statuses[row.id] = row.status
    assert statuses[taken.id] == repo.PENDING  # on its way: the update will follow it
    assert [statuses[i] for i in ids if i != taken.id] == [repo.CANCELLED]


def test_prune_keeps_what_is_still_owed_and_copies_a_decision_may_update(db: Database) -> None:
    old, copy, pending = add(db), add(db, target=CHLOE, ref="join-request:3"), add(db, target=BRUNO)
    assert old is not None and copy is not None and pending is not None
    with db.session() as session:
        for sent in (old, copy):
            repo.finish(session, message_id=sent, status=repo.SENT, now=now())
        session.execute(update(OutboxMessage).values(created_at=now() - timedelta(days=30)))
    with db.session() as session:
        assert outbox.prune(session) == 1
        assert sorted(r.id for r in session.scalars(select(OutboxMessage))) == [copy, pending]
        session.execute(update(OutboxMessage).values(created_at=now() - timedelta(days=91)))
    with db.session() as session:
        assert outbox.prune(session) == 1
        assert [r.id for r in session.scalars(select(OutboxMessage))] == [pending]


def test_the_rate_limiter_spaces_one_channel_and_lets_bursts_through_a_tier() -> None:
    clock = [0.0]
    limiter = RateLimiter(lambda: clock[0])
    assert limiter.reserve("T:post:C1", per_second=1, burst=1) == 0
    assert limiter.reserve("T:post:C1", per_second=1, burst=1) == pytest.approx(1.0)
    assert limiter.reserve("T:post:C2", per_second=1, burst=1) == 0  # another channel is free
    clock[0] = 1.0
    assert limiter.reserve("T:post:C1", per_second=1, burst=1) == 0
    # Tier 3 (50 a minute, bursts allowed): 50 at once, then one every 1.2 s.
    assert all(limiter.reserve("T:invite", per_second=50 / 60, burst=50) == 0 for _ in range(50))
    assert limiter.reserve("T:invite", per_second=50 / 60, burst=50) == pytest.approx(1.2)


# ---- the worker, in the running app -------------------------------------------------------------
def test_messages_to_one_person_arrive_in_the_order_written(harness: Harness) -> None:
    write(harness, *[(ALICE, f"step {n}") for n in range(5)], (BRUNO, "hello"))
    harness.drain()
    assert delivered_texts(harness, ALICE) == [f"step {n}" for n in range(5)]
    assert delivered_texts(harness, BRUNO) == ["hello"]
    assert {r.status for r in rows(harness)} == {repo.SENT}
    assert all(r.result_ts and r.result_channel for r in rows(harness))  # kept for a later chat.update


def test_one_message_a_second_per_channel(harness: Harness) -> None:
    write(harness, *[("CGENERAL", f"news {n}") for n in range(3)])
    harness.drain(include_later=True)
    times = [at for at, _ in posts(harness, "CGENERAL")]
    assert len(times) == 3
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(times))


def test_a_429_delays_only_its_recipient(harness: Harness) -> None:
    harness.emulator.rate_limit("chat.postMessage", retry_after=2, times=1)
    write(harness, (ALICE, "for Alice"), (BRUNO, "for Bruno"))
    harness.drain(include_later=True)
    # The two are sent at once, by two senders: the 429 falls on whichever reaches Slack first.
    alice, bruno = posts(harness, ALICE), posts(harness, BRUNO)
    refused, other = (alice, bruno) if len(alice) == 2 else (bruno, alice)
    assert len(refused) == 2 and len(other) == 1  # the first try was refused, then sent once
    assert refused[1][0] - refused[0][0] >= 1.9  # Retry-After honoured
    assert other[0][0] < refused[1][0]  # the other did not wait for that Retry-After
    assert delivered_texts(harness, ALICE) == ["for Alice"]
    assert delivered_texts(harness, BRUNO) == ["for Bruno"]


def test_slack_errors_are_retried_with_backoff_then_given_up_loudly(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert harness.runtime.deps.outbox is not None
    harness.runtime.deps.outbox.backoff_first = 0.05
    harness.emulator.fail("chat.postMessage", "internal_error", times=2)
    write(harness, (ALICE, "eventually"))
    harness.drain(include_later=True)
    assert delivered_texts(harness, ALICE) == ["eventually"]
    assert len(posts(harness, ALICE)) == 3
    # A message that cannot be sent at all (Slack calls it invalid): given up at once, logged, and the
    # others go on.
    harness.emulator.fail("chat.postMessage", "invalid_blocks", times=1)
    write(harness, (ALICE, "broken"))
    harness.drain(include_later=True)
    assert [text for _, text in posts(harness, ALICE)].count("broken") == 1  # not tried again
    write(harness, (BRUNO, "fine"))
    harness.drain(include_later=True)
    assert delivered_texts(harness, BRUNO) == ["fine"]
    failed = [r for r in rows(harness) if r.status == repo.FAILED]
    assert [(r.target, r.error) for r in failed] == [(ALICE, "invalid_blocks")]
    assert any(r.levelname == "ERROR" and r.getMessage() == "outbox: gave up" for r in caplog.records)


def test_a_recipient_slack_refuses_is_skipped_and_the_others_still_get_theirs(harness: Harness) -> None:
    harness.emulator.add_user("UGONE", "gone", deleted=True)
    write(harness, ("UGONE", "hello"), (ALICE, "hello"), ("UNOBODY", "hello"))
    harness.drain()
    by_target = {r.target: (r.status, r.error) for r in rows(harness)}
    assert by_target == {
        "UGONE": (repo.SKIPPED, "user_disabled"),
        ALICE: (repo.SENT, None),
        "UNOBODY": (repo.SKIPPED, "user_not_found"),
    }


def test_a_dm_is_written_in_its_recipients_language(harness: Harness) -> None:
    with harness.db.session() as session:
        for user in (ALICE, BRUNO):
            outbox.text(session, team_id=TEAM, to=user, key_name="reviews.done", name="Urbanism", day="—")
    harness.drain()
    assert delivered_texts(harness, ALICE)[0].startswith("Review of *Urbanism* stored")
    assert delivered_texts(harness, BRUNO)[0].startswith("Revue de *Urbanism* enregistrée")


def test_a_rate_limited_language_lookup_waits_instead_of_guessing(harness: Harness) -> None:
    harness.emulator.rate_limit("users.info", retry_after=1, times=1)
    with harness.db.session() as session:
        outbox.text(session, team_id=TEAM, to=DAVID, key_name="reviews.done", name="Urbanism", day="—")
    harness.drain(include_later=True)
    assert delivered_texts(harness, DAVID)[0].startswith(
        "Revue de *Urbanism* enregistrée"
    )  # after the Retry-After


def test_an_expired_response_url_falls_back_to_a_dm(harness: Harness) -> None:
    url = harness.emulator.new_response_url()
    harness.emulator.expire_response_urls()
    with harness.db.session() as session:
        outbox.respond(
            session, team_id=TEAM, user=CHLOE, response_url=url, lang="en", render="plain", text="Done."
        )
    harness.drain()
    assert delivered_texts(harness, CHLOE) == ["Done."]
    assert harness.emulator.responses == []


def test_deliveries_written_before_a_crash_go_out_once_at_the_next_start(harness: Harness) -> None:
    harness.runtime.deps.outbox.stop()  # type: ignore[union-attr]  # the process died after its commits
    write(harness, (ALICE, "owed 1"), (BRUNO, "owed 2"))
    with harness.db.session() as session:  # one was being sent when it died: its lease runs out
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.target == BRUNO)
            .values(claimed_until=now() + timedelta(seconds=2), attempts=1)
        )
    assert posts(harness, ALICE) == posts(harness, BRUNO) == []
    restarted = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    try:
        assert restarted.deps.outbox is not None
        restarted.deps.outbox.drain(include_later=True)
        deadline = time.monotonic() + 10
        while not posts(harness, BRUNO) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        restarted.close()
    assert delivered_texts(harness, ALICE) == ["owed 1"]
    assert delivered_texts(harness, BRUNO) == ["owed 2"]  # after its lease, once


@pytest.fixture
def second_instance(harness: Harness) -> Iterator[Runtime]:
    other = Runtime.start(
        app_settings(harness.emulator, harness.runtime.deps.settings.database_url),
        clock=harness.clock,
        run_scheduler=False,
    )
    yield other
    other.close()


def test_two_instances_share_the_outbox_and_send_each_message_once(
    harness: Harness, second_instance: Runtime
) -> None:
    harness.emulator.latency = 0.02  # a little like Slack: sends overlap
    people = (ALICE, BRUNO, CHLOE, DAVID)
    writers = [
        threading.Thread(target=write, args=(harness, *[(p, f"{p} {n}") for p in people])) for n in range(10)
    ]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    harness.drain(timeout=60)
    assert second_instance.deps.outbox is not None
    second_instance.deps.outbox.drain(timeout=60)
    for person in people:
        texts = delivered_texts(harness, person)
        assert sorted(texts) == sorted(f"{person} {n}" for n in range(10))  # each once
    assert len(harness.emulator.successful_calls_to("chat.postMessage")) == 40


def test_a_delivery_sends_its_statements_without_a_transaction_around_them(harness: Harness) -> None:
    """PostgreSQL: what the worker writes and reads for a delivery (its claim, its outcome, the next due
    time) is one statement each, atomic on its own, sent in autocommit on a connection's driver: one
    round trip each, no BEGIN and COMMIT around it (they would double the database's share of a
    delivery), and no Session either (it tripled the CPU of a claim and an outcome, taken from the
    answers: storage.repositories.outbox._first). SQLite keeps its transactions (no round trips)."""
    if harness.db.backend != "postgresql":
        pytest.skip("PostgreSQL: round trips to its server")
    through_sqlalchemy: list[str] = []  # statements the worker's threads sent through the engine
    on_driver: list[tuple[str, bool]] = []  # (statement, in autocommit), the same on the driver

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            through_sqlalchemy.append(statement.split()[0])

    def observe(statement: str, dbapi: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            on_driver.append((statement.split()[0], bool(dbapi.autocommit)))

    event.listen(harness.db.engine, "before_cursor_execute", note)
    harness.db.statement_observers.append(observe)
    try:
        write(harness, (ALICE, "one"), (BRUNO, "two"))
        harness.drain()
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", note)
        harness.db.statement_observers.remove(observe)
    assert delivered_texts(harness, ALICE) == ["one"] and delivered_texts(harness, BRUNO) == ["two"]
    assert sum(1 for statement, _ in on_driver if statement == "UPDATE") >= 4  # two claims, two outcomes
    assert [statement for statement, autocommit in on_driver if not autocommit] == []
    assert through_sqlalchemy == []  # neither the claims, the outcomes, nor the next due times


def test_the_worker_lets_the_answers_in_flight_go_first() -> None:
    """bot.background.Answering: idle only once every request being answered is done (the outbox worker
    waits for it, at most OutboxWorker.answers_first seconds, before it takes a delivery)."""
    answering = Answering()
    assert answering.wait_until_idle(0)
    with answering.request():
        with answering.request():
            assert not answering.wait_until_idle(0.01)
        assert not answering.wait_until_idle(0.01)
        done = threading.Event()
        waiter = threading.Thread(target=lambda: done.set() if answering.wait_until_idle(5) else None)
        waiter.start()
    waiter.join(5)
    assert done.is_set()  # woken when the last answer ended, not by the timeout
    with pytest.raises(ValueError), answering.request():
        raise ValueError("a failed request still ends")
    assert answering.wait_until_idle(0)


def test_the_worker_waits_a_moment_after_the_last_answer_for_the_next_of_a_burst() -> None:
    """With `quiet`, idle only once no request has ended for that long: one typed right after another
    is answered before a send takes the GIL (OutboxWorker waits ANSWERS_QUIET)."""
    answering = Answering()
    with answering.request():
        pass
    assert not answering.wait_until_idle(0, quiet=60)  # one just ended: the next may be on its way
    assert not answering.wait_until_idle(0.02, quiet=60)
    started = time.monotonic()
    assert answering.wait_until_idle(5, quiet=0.05)  # a quiet moment came
    assert time.monotonic() - started < 5  # ...after the moment, not at the timeout
    assert answering.wait_until_idle(0, quiet=0.05)
