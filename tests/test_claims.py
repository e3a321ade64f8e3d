"""The replay guard's claim (storage/claims.py), on both databases: once per key, committed on its own,
read back like any row, and the pooled connection left as it was found."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from bot.services import replays
from storage.db import Database
from storage.models import ProcessedEvent

NOW = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)


def flushes_at_commit(db: Database) -> bool:
    with db.session() as session:
        if db.backend == "sqlite":
            return int(session.execute(text("PRAGMA synchronous")).scalar_one()) == 2  # FULL
        return str(session.execute(text("SHOW synchronous_commit")).scalar_one()) == "on"


def test_a_key_is_claimed_once_and_reads_back_like_any_row(db: Database) -> None:
    assert replays.first_use(db, team_id="T1", key="trigger:1", now=NOW)
    assert not replays.first_use(db, team_id="T1", key="trigger:1", now=NOW)
    assert replays.first_use(db, team_id="T1", key="trigger:2", now=NOW)
    with db.session() as session:
        rows = session.scalars(select(ProcessedEvent).order_by(ProcessedEvent.event_id)).all()
        assert [(r.event_id, r.team_id, r.received_at) for r in rows] == [
            ("trigger:1", "T1", NOW),
            ("trigger:2", "T1", NOW),
        ]
        # The week-old pruning compares received_at like any other row's.
        assert session.scalar(
            select(ProcessedEvent.event_id).where(ProcessedEvent.received_at < NOW.replace(second=1))
        )


def test_the_connection_goes_back_to_the_pool_durable(database_url: str) -> None:
    database = Database(database_url, pool_size=1, max_overflow=0)  # the claim's own connection, next
    try:
        assert replays.first_use(database, team_id="T1", key="trigger:3", now=NOW)
        assert flushes_at_commit(database)
    finally:
        database.dispose()


def test_a_claim_on_a_connection_the_server_closed_fails_and_the_next_one_works(database_url: str) -> None:
    """Nothing half done is left behind: the dead connection is discarded, not pooled again."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no server to lose")
    database = Database(database_url, pool_size=1, max_overflow=0)
    try:
        with database.session() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = Database(database_url)  # another backend ends this one, as a server restart would
        try:
            with admin.engine.begin() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            admin.dispose()
        with pytest.raises(Exception, match=r"terminat|closed|server|lost"):
            replays.first_use(database, team_id="T1", key="trigger:4", now=NOW)
        assert replays.first_use(database, team_id="T1", key="trigger:4", now=NOW)
    finally:
        database.dispose()
