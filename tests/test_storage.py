"""Storage on both databases: migrations, constraints, idempotent claims, counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import Database, DriverConnection
from storage.migrate import alembic_config, current_revision
from storage.models import Base, Community, Membership
from storage.repositories import activity as activity_repo
from storage.repositories import communities as community_repo
from storage.repositories import events as event_repo
from storage.repositories import memberships as membership_repo

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def community(team: str = "T1", name: str = "Urbanism", slug: str = "urbanism") -> Community:
    return Community(team_id=team, name=name, slug=slug, created_by="U1", created_at=NOW)


def test_migrated_to_head(db: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    assert head is not None and current_revision(db.engine) == head


def test_migrations_match_the_models(db: Database) -> None:
    """What the migrations built is what the models describe: no column or index only on one side."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_sqlite_pragmas(db: Database) -> None:
    if db.backend != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        membership_repo.add(
            session,
            Membership(team_id="T1", community_id=999, user_id="U1", circle_since=NOW, joined_at=NOW),
        )


def test_slug_unique_per_team_only(db: Database) -> None:
    with db.session() as session:
        community_repo.add(session, community("T1"))
        community_repo.add(session, community("T2"))  # another workspace may reuse the name
    with pytest.raises(IntegrityError), db.session() as session:
        community_repo.add(session, community("T1", name="URBANISM"))
    with db.session() as session:
        assert len(community_repo.for_team(session, team_id="T1")) == 1


def test_event_claim_is_idempotent_and_pruned(db: Database) -> None:
    with db.session() as session:
        assert event_repo.claim(session, team_id="T1", event_id="Ev1", now=NOW) is True
        assert event_repo.claim(session, team_id="T1", event_id="Ev1", now=NOW) is False
    with db.session() as session:
        assert event_repo.claim(session, team_id="T1", event_id="Ev1", now=NOW) is False
        assert event_repo.claim(session, team_id="T1", event_id="Ev2", now=NOW + timedelta(days=8)) is True
    with db.session() as session:
        assert event_repo.prune(session, older_than=NOW + timedelta(days=1)) == 1
    with db.session() as session:
        assert event_repo.claim(session, team_id="T1", event_id="Ev2", now=NOW) is False


def test_rollback_releases_the_claim(db: Database) -> None:
    """A handler that fails after claiming leaves the event unclaimed, so Slack's retry is counted."""
    with pytest.raises(RuntimeError), db.session() as session:
        event_repo.claim(session, team_id="T1", event_id="Ev9", now=NOW)
        raise RuntimeError("crash before commit")
    with db.session() as session:
        assert event_repo.claim(session, team_id="T1", event_id="Ev9", now=NOW) is True


def test_activity_upsert_adds_up(db: Database) -> None:
    with db.session() as session:
        created = community_repo.add(session, community())
        community_id = created.id
    for _ in range(3):
        with db.session() as session:
            activity_repo.increment(
                session,
                team_id="T1",
                community_id=community_id,
                channel_id="C1",
                user_id="U2",
                day=date(2026, 3, 2),
                contributions=1,
            )
    with db.session() as session:
        activity_repo.increment(
            session,
            team_id="T1",
            community_id=community_id,
            channel_id="C1",
            user_id="U2",
            day=date(2026, 3, 2),
            reactions=1,
        )
    with db.session() as session:
        rows = activity_repo.for_member(
            session, team_id="T1", community_id=community_id, user_id="U2", since=date.min
        )
        assert [(r.contributions, r.reactions) for r in rows] == [(3, 1)]


def test_counts_by_circle(db: Database) -> None:
    with db.session() as session:
        community_id = community_repo.add(session, community()).id
        for user, role, circle in [
            ("U1", "core", "outer"),
            ("U2", "member", "inner"),
            ("U3", "member", "outer"),
        ]:
            membership_repo.add(
                session,
                Membership(
                    team_id="T1",
                    community_id=community_id,
                    user_id=user,
                    role=role,
                    circle=circle,
                    circle_since=NOW,
                    joined_at=NOW,
                ),
            )
    with db.session() as session:
        counts = membership_repo.counts(session, team_id="T1", community_ids=[community_id])[community_id]
        assert (counts["core"], counts["inner"], counts["outer"]) == (1, 1, 1)
        assert membership_repo.moderators(session, team_id="T1", community_id=community_id) == ["U1"]


def test_times_come_back_aware_utc(db: Database) -> None:
    with db.session() as session:
        community_id = community_repo.add(session, community()).id
    with db.session() as session:
        loaded = community_repo.get(session, team_id="T1", community_id=community_id)
        assert loaded is not None and loaded.created_at == NOW and loaded.created_at.tzinfo is not None


def test_on_sqlite_units_asked_for_together_commit_once_and_one_that_fails_fails_alone(db: Database) -> None:
    """SQLite's group commit (Database.on_driver_together): the units of work asked for in one turn of the
    event loop share one transaction, so one disk flush; one that raises is rolled back, and the others are
    run again on their own and committed."""
    if db.backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL groups the flushes of concurrent commits itself")
    commits: list[str] = []

    def observe(statement: str, _dbapi: Any) -> None:
        if statement == "COMMIT":
            commits.append(statement)

    def claim(event_id: str, *, fail: bool = False) -> Callable[[DriverConnection], str]:
        def work(connection: DriverConnection) -> str:
            connection.run(
                "INSERT INTO processed_events (event_id, team_id, received_at)"
                " VALUES (:event_id, 'T1', '2026-03-02 09:00:00')",
                {"event_id": event_id},
            )
            if fail:
                raise ValueError("refused")
            return event_id

        return work

    async def together(*works: Callable[[DriverConnection], str]) -> list[str | BaseException]:
        return await asyncio.gather(*(db.on_driver_together(work) for work in works), return_exceptions=True)

    db.statement_observers.append(observe)
    assert asyncio.run(together(claim("E1"), claim("E2"))) == ["E1", "E2"]
    assert commits == ["COMMIT"]  # one transaction for both
    commits.clear()
    first, failed, last = asyncio.run(together(claim("E3"), claim("E4", fail=True), claim("E5")))
    assert (first, last) == ("E3", "E5")
    assert isinstance(failed, ValueError)
    assert commits == ["COMMIT", "COMMIT"]  # the shared one rolled back, then E3 and E5 each on their own
    with db.engine.connect() as connection:
        stored = set(connection.scalars(text("SELECT event_id FROM processed_events")))
    assert stored == {"E1", "E2", "E3", "E5"}


def test_on_postgresql_a_statement_on_the_event_loop_keeps_psycopgs_types_and_errors(db: Database) -> None:
    """The event loop's statements, one at a time or together in one round trip (psycopg's libpq layer,
    not its cursors: storage.async_driver _Lean, libpq's pipeline mode for those together): the values
    and rows are what psycopg makes of them, one parameter None one time and a value the next, a
    statement without rows gives none, a statement prepared for small ints runs again with a large one,
    one whose preparation was dropped is prepared again (alone or together, and what a failed round trip
    left prepared never collides with a later preparation), and a failing statement raises psycopg's own
    error, takes the others of its transaction with it, and leaves its connection usable for the next."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs its statements on its driver (Database.on_driver)")
    echo = (
        "SELECT CAST(%(text)s AS VARCHAR), CAST(%(number)s AS INTEGER), CAST(%(flag)s AS BOOLEAN), "
        "CAST(%(day)s AS DATE), CAST(%(moment)s AS TIMESTAMP WITHOUT TIME ZONE), %(text)s IS NULL"
    )
    claim = (
        "INSERT INTO processed_events (event_id, team_id, received_at) "
        "VALUES (%(event_id)s, %(team_id)s, now())"
    )
    moment = datetime(2026, 3, 2, 9, 30, 15, 250)
    given = {"text": "l'été", "number": 42, "flag": True, "day": date(2026, 3, 2), "moment": moment}
    nothing = dict.fromkeys(given)

    count = "SELECT count(*) FROM processed_events WHERE team_id = %(team_id)s"

    async def scenario(connection: Any) -> tuple[Any, ...]:
        first = await connection.first(echo, nothing)
        second = await connection.first(echo, given)
        written = await connection.all(claim, {"event_id": "E1", "team_id": "T1"})
        with pytest.raises(psycopg.errors.NotNullViolation, match="team_id"):
            await connection.all(claim, {"event_id": "E2", "team_id": None})
        after = await connection.first(echo, given)
        # psycopg sends a small int as int2 and a large one as int8: each its own preparation.
        sized = "SELECT CAST(%(number)s AS BIGINT)"
        large = [await connection.first(sized, {"number": n}) for n in (42, 2**40)]
        # Preparations dropped behind our back (psycopg sends DEALLOCATE ALL after some commands): the
        # statement is prepared again.
        await connection.dbapi.execute("DEALLOCATE ALL")
        again = await connection.first(echo, given)
        # Together (one transaction): a failure rolls back the statements before it and skips those after
        # it, and the connection goes on. Each is new to the connection: the first's preparation stands,
        # the last's was skipped.
        with pytest.raises(psycopg.errors.NotNullViolation, match="team_id"):
            await connection.alls(
                [
                    (claim + " RETURNING event_id", {"event_id": "E3", "team_id": "T1"}),
                    (claim, {"event_id": "E4", "team_id": None}),
                    (count, {"team_id": "T1"}),
                ]
            )
        together = await connection.alls(
            [
                (count, {"team_id": "T1"}),
                (claim + " RETURNING event_id", {"event_id": "E5", "team_id": "T1"}),
                (echo, given),
            ]
        )
        # Together too, after the preparations were dropped: prepared again, the same statement twice in
        # one round trip prepared once.
        await connection.dbapi.execute("DEALLOCATE ALL")
        twice = await connection.alls(
            [(count, {"team_id": "T1"}), (echo, nothing), (count, {"team_id": "T2"})]
        )
        prepared = await connection.dbapi.execute("SELECT count(*) FROM pg_prepared_statements")
        twice_prepared = await prepared.fetchone()
        # A statement new to the connection before one whose preparation was dropped: the first is
        # prepared, the second fails, both are prepared again and run; the preparation the failed round
        # trip left behind never collides with a later one's.
        await connection.dbapi.execute("DEALLOCATE ALL")
        plus = "SELECT CAST(%(number)s AS INTEGER) + {}"
        mixed = await connection.alls([(plus.format(1), {"number": 1}), (count, {"team_id": "T1"})])
        later = [await connection.first(plus.format(n), {"number": 1}) for n in range(2, 8)]
        mixed += await connection.alls([(plus.format(n), {"number": 1}) for n in range(8, 12)])
        return first, second, written, after, large, again, together, (twice, twice_prepared, mixed, later)

    first, second, written, after, large, again, together, (twice, prepared, mixed, later) = asyncio.run(
        db.on_async_driver(scenario)
    )
    assert twice == [[(2,)], [(None, None, None, None, None, True)], [(0,)]]
    assert prepared == (2,)  # count and echo, each once
    assert mixed == [[(2,)], [(2,)], [(9,)], [(10,)], [(11,)], [(12,)]]
    assert later == [(n + 1,) for n in range(2, 8)]
    assert first == (None, None, None, None, None, True)
    assert second == after == again == ("l'été", 42, True, date(2026, 3, 2), moment, False)
    assert large == [(42,), (2**40,)]
    assert written == []
    assert together == [[(1,)], [("E5",)], [("l'été", 42, True, date(2026, 3, 2), moment, False)]]
    with db.engine.connect() as connection:
        stored = set(connection.scalars(text("SELECT event_id FROM processed_events")))
    assert stored == {"E1", "E5"}


def test_on_postgresql_statements_together_on_a_connection_the_server_closed_run_on_a_new_one(
    db: Database,
) -> None:
    """A pooled connection the server ended (a restart, a proxy) is found by the pipeline sent on it, which
    then wrote nothing: the statements run once more on a new connection, and are written once."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    claim = (
        "INSERT INTO processed_events (event_id, team_id, received_at) "
        "VALUES (%(event_id)s, %(team_id)s, now()) RETURNING event_id"
    )
    backend = "SELECT pg_backend_pid()"

    async def first_backend(connection: Any) -> Any:
        return await connection.first(backend, {})

    async def together(connection: Any) -> Any:
        return await connection.alls([(claim, {"event_id": "E1", "team_id": "T1"}), (backend, {})])

    async def scenario() -> tuple[int, Any]:
        # One event loop throughout: the pool keeps its connections for the loop that opened them.
        ended = (await db.on_async_driver(first_backend))[0]
        with db.engine.begin() as connection:  # another backend ends the pooled one
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": ended})
        await asyncio.sleep(0.1)
        return ended, await db.on_async_driver(together)

    ended, rows = asyncio.run(scenario())
    assert rows[0] == [("E1",)]
    assert rows[1][0][0] != ended  # a new connection answered
    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM processed_events")) == 1


def test_on_postgresql_statements_asked_for_while_one_is_on_its_way_go_in_one_transaction(
    db: Database,
) -> None:
    """PostgreSQL's group commit (Database.first_together): while a statement is on its way, the ones asked
    for during the same turn of the event loop go together, in one round trip and one transaction, in their
    lock order, two with the same lock order in transactions one after the other (so two batches never
    deadlock); one that fails is rolled back with its transaction, and the others are sent again on their
    own and committed."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite groups its own (Database.on_driver_together)")
    claim = (
        "INSERT INTO processed_events (event_id, team_id, received_at) "
        "VALUES (%(event_id)s, %(team_id)s, now()) RETURNING event_id, txid_current(), nextval('sent')"
    )
    with db.engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE sent"))
    blocker = db.engine.connect()  # holds E0's claim, uncommitted: the first statement waits for it
    blocker.execute(
        text("INSERT INTO processed_events (event_id, team_id, received_at) VALUES ('E0', 'T1', now())")
    )

    def first(event_id: str, team_id: str | None = "T1", order: str | None = None) -> Any:
        params = {"event_id": event_id, "team_id": team_id}
        return db.first_together(claim, params, (order or event_id,))

    async def scenario() -> tuple[Any, list[Any], list[Any]]:
        on_its_way = asyncio.ensure_future(first("E0"))
        await asyncio.sleep(0.2)  # sent, and waiting for the blocker
        together = await asyncio.gather(first("E3"), first("E1"), first("E2"), first("E1b", order="E1"))
        one_fails = await asyncio.gather(
            first("E4"), first("E5", team_id=None), first("E6"), return_exceptions=True
        )
        # E8 locks what E7 locks: a transaction of its own, after E7's, whose failure is its own.
        one_fails += await asyncio.gather(
            first("E7"), first("E8", team_id=None, order="E7"), return_exceptions=True
        )
        blocker.rollback()
        return await on_its_way, list(together), list(one_fails)

    try:
        waited, together, one_fails = asyncio.run(scenario())
    finally:
        blocker.close()
    e3, e1, e2, e1b = together
    assert [e3[0], e1[0], e2[0], e1b[0]] == ["E3", "E1", "E2", "E1b"]  # each caller its own row
    assert e1[1] == e2[1] == e3[1]  # one transaction for three
    assert e1b[1] != e1[1] and waited[1] != e1[1]  # E1b locks what E1 locks: a transaction after it
    assert e1[2] < e2[2] < e3[2] < e1b[2]  # sent in lock order
    assert one_fails[0][0] == "E4" and one_fails[2][0] == "E6"
    assert isinstance(one_fails[1], Exception)  # team_id NOT NULL: its own failure, and only its own
    assert one_fails[0][1] != one_fails[2][1]  # sent again, each on its own
    assert one_fails[3][0] == "E7" and isinstance(one_fails[4], Exception)
    with db.engine.connect() as connection:
        stored = set(connection.scalars(text("SELECT event_id FROM processed_events")))
    assert stored == {"E0", "E1", "E1b", "E2", "E3", "E4", "E6", "E7"}
