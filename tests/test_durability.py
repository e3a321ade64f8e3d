"""COMMIT_DURABILITY and light commits: what reaches the disk before an answer, on both databases.

The default waits for the disk on every commit (nothing acknowledged is ever lost); `fast` lets the
database flush a moment later; a light session (the trigger id claimed against replays) never waits,
and leaves the connection as it found it for the next, durable, unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from bot.services import events as event_service
from storage.db import Database
from storage.models import ProcessedEvent

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def flushes_at_commit(db: Database) -> bool:
    """Whether a commit on this database's next session waits for the disk."""
    with db.session() as session:
        if db.backend == "sqlite":
            return int(session.execute(text("PRAGMA synchronous")).scalar_one()) == 2  # FULL
        return str(session.execute(text("SHOW synchronous_commit")).scalar_one()) == "on"


@pytest.fixture
def fast_db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, durability="fast")
    yield database
    database.dispose()


def test_default_commits_wait_for_the_disk(db: Database) -> None:
    assert flushes_at_commit(db)


def test_fast_commits_do_not(fast_db: Database) -> None:
    assert not flushes_at_commit(fast_db)


def test_an_unknown_durability_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="durability must be one of"):
        Database(database_url, durability="sometimes")


def test_a_light_session_commits_without_waiting_and_leaves_the_connection_durable(db: Database) -> None:
    with db.light_session() as session:
        if db.backend == "sqlite":
            assert int(session.execute(text("PRAGMA synchronous")).scalar_one()) == 1  # NORMAL
        else:
            assert str(session.execute(text("SHOW synchronous_commit")).scalar_one()) == "off"
        assert event_service.first_time(session=session, team_id="T1", event_id="trigger:1", now=NOW)
    # Committed: another unit of work sees the claim and refuses it again.
    with db.session() as session:
        assert session.scalar(select(ProcessedEvent.event_id)) == "trigger:1"
        assert not event_service.first_time(session=session, team_id="T1", event_id="trigger:1", now=NOW)
    # The pooled connection went back durable.
    assert flushes_at_commit(db)


def test_a_light_session_that_fails_writes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.light_session() as session:
        event_service.first_time(session=session, team_id="T1", event_id="trigger:2", now=NOW)
        raise RuntimeError("the request broke")
    with db.session() as session:
        assert session.scalar(select(ProcessedEvent.event_id)) is None
    assert flushes_at_commit(db)


def test_an_idle_connection_closed_by_the_server_is_replaced_before_a_request_uses_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL restart or an idle-closing proxy kills pooled connections: the next slash command,
    whose first statement is not retried, must not fail on one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    from storage import db as db_module

    monkeypatch.setattr(db_module, "IDLE_PING_S", 0)  # every pooled connection counts as idle
    database = Database(database_url, pool_size=1, max_overflow=0)
    try:
        with database.session() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = Database(database_url)
        try:
            with admin.engine.begin() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            admin.dispose()
        with database.session() as session:  # the same pooled connection, now dead: replaced first
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        database.dispose()
