"""The replay guard's claim (a slash command's or an interaction's trigger_id), in one driver call.

Every slash command and every click claims its trigger_id before anything else runs (handlers/context.py).
Through an ORM session that claim cost ~0.5 ms of CPU per request on PostgreSQL (a Session, BEGIN, SET
LOCAL, the INSERT, COMMIT, each through SQLAlchemy's execution machinery): at 20 concurrent commands
that CPU queues behind the GIL and is most of what a user waits for. Here it is one statement on a
pooled connection, through the driver: ~0.06 ms.

What it keeps from `Database.light_session`: the claim is committed on its own, before the command runs,
without waiting for the disk (losing it in a database crash only lets a replay of that last instant
through), and the connection goes back to the pool durable, as it came.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from storage.async_driver import AsyncDriverConnection, Statement
from storage.db import Database
from storage.models import ProcessedEvent

_TABLE: Table = ProcessedEvent.__table__  # type: ignore[assignment]
_COLUMNS = "event_id, team_id, received_at"

# PostgreSQL, in autocommit: the statement is its own transaction, and set_config(..., true) is SET LOCAL
# for that transaction, read when it commits (one round trip instead of four). ON CONFLICT DO NOTHING:
# of two requests with the same trigger_id, exactly one gets the row back, the other waits for the
# first's commit and gets nothing.
_POSTGRESQL = (
    "WITH light AS (SELECT set_config('synchronous_commit', 'off', true)) "
    f"INSERT INTO {_TABLE.name} ({_COLUMNS}) SELECT %s, %s, %s FROM light "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
# The same, named, for the event loop's connections (storage/async_driver.py numbers the placeholders).
_POSTGRESQL_NAMED = _POSTGRESQL.replace("%s, %s, %s", "%(event_id)s, %(team_id)s, %(received_at)s")
_SQLITE = (
    f"INSERT INTO {_TABLE.name} ({_COLUMNS}) VALUES (?, ?, ?) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


_PROCESSORS: dict[str, Any] = {}


def _received_at(dialect: Dialect) -> Any:
    """How SQLAlchemy writes a `received_at` on this dialect (naive UTC; text on SQLite), so that rows
    claimed here read back exactly like rows written through the ORM. Kept per dialect name (one per
    database kind, not one per engine)."""
    if dialect.name not in _PROCESSORS:
        _PROCESSORS[dialect.name] = _TABLE.c.received_at.type.bind_processor(dialect)
    return _PROCESSORS[dialect.name]


def claim_lightly(db: Database, *, team_id: str, event_id: str, now: datetime) -> bool:
    """Insert the id unless present, committed at once without waiting for the disk; True when this
    call inserted it. A database error propagates (the request gets the generic answer), and the
    connection it happened on is discarded rather than pooled again."""
    params = claim_values(db.engine.dialect, team_id=team_id, event_id=event_id, now=now)
    raw = db.engine.raw_connection()  # the pool's checkout hooks (the idle ping) run as for any session
    try:
        if db.backend == "postgresql":
            return _claim_postgresql(raw.driver_connection, params)
        with db.turn():
            return _claim_sqlite(raw.driver_connection, params, light=db.durability == "full")
    except BaseException:
        raw.invalidate()
        raise
    finally:
        raw.close()


async def claim_lightly_on_loop(
    connection: AsyncDriverConnection, *, team_id: str, key: str, now: datetime
) -> bool:
    """`claim_lightly` on the HTTP server's event loop (PostgreSQL, storage.db.Database.on_async_driver):
    the same statement, committed on its own without waiting for the disk; True when it inserted the key."""
    return (
        await connection.first(*claim_statement(connection.dialect, team_id=team_id, key=key, now=now))
        is not None
    )


def claim_statement(dialect: Dialect, *, team_id: str, key: str, now: datetime) -> Statement:
    """PostgreSQL: `claim_lightly_on_loop`'s statement, for a caller that sends it with others (one round
    trip): a row back when it inserted the key."""
    event_id, team, received_at = claim_values(dialect, team_id=team_id, event_id=key, now=now)
    return _POSTGRESQL_NAMED, {"event_id": event_id, "team_id": team, "received_at": received_at}


def claim_values(dialect: Dialect, *, team_id: str, event_id: str, now: datetime) -> tuple[Any, ...]:
    """(event_id, team_id, received_at) as a claim writes them (a statement of its own may write one)."""
    process = _received_at(dialect)
    # PostgreSQL text cannot hold NUL; Slack's ids never do, so a key with one is a mangled request
    # (found by the fuzz test): it is claimed without it rather than failing the request.
    return (event_id.replace("\x00", ""), team_id, process(now) if process is not None else now)


def _claim_postgresql(connection: Any, params: tuple[Any, ...]) -> bool:
    connection.autocommit = True  # client-side only: no round trip
    try:
        return connection.execute(_POSTGRESQL, params).fetchone() is not None
    finally:
        # Only an idle connection can leave autocommit (psycopg refuses otherwise). One that is not idle
        # here died mid-statement (a server restart): the pool discards it for the error being raised,
        # which must not be replaced by psycopg's refusal (seen once in CI: "can't change 'autocommit'
        # now: connection in transaction status ACTIVE" instead of the server's termination).
        if connection.info.transaction_status == TransactionStatus.IDLE:
            connection.autocommit = False


def _claim_sqlite(connection: Any, params: tuple[Any, ...], *, light: bool) -> bool:
    # The driver leaves transactions to us (isolation_level None, see storage/db.py): BEGIN IMMEDIATE takes
    # the write lock first, as every unit of work does. SQLite refuses to change its safety level inside a
    # transaction: NORMAL is set before, FULL again after.
    if light:
        connection.execute("PRAGMA synchronous=NORMAL")
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            inserted = connection.execute(_SQLITE, params).fetchall()  # read before COMMIT
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return bool(inserted)
    finally:
        if light:
            connection.execute("PRAGMA synchronous=FULL")
