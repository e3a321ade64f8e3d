"""Engine and session factory; SQLite gets foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from storage import schedule

SQLITE_BUSY_TIMEOUT_S = 10


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 driver's legacy transaction control opens a transaction only before INSERT/UPDATE/
    # DELETE, and as DEFERRED; we take that job over (`_sqlite_begin`), as SQLAlchemy documents for
    # pysqlite ("Enabling Non-Legacy SQLite Transactional Modes"). Set first, so the pragmas below run
    # outside any transaction (journal_mode cannot change inside one).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL: readers outside our transactions (a backup, the sqlite3 shell) never block a commit, nor the
    # reverse; busy_timeout waits for the write lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Every transaction takes the write lock at its start, waiting up to busy_timeout for it.

    A DEFERRED transaction that has read and then writes must upgrade its lock; when another
    connection writes meanwhile, SQLite refuses the upgrade at once ("database is locked"), since
    waiting could deadlock, whatever busy_timeout says. IMMEDIATE makes writers queue instead, and makes
    each unit of work serializable on SQLite (a value read is still the value when it is written).
    Read-only units queue too: with one short transaction per request, that wait stays small.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """Owns the engine; `session()` is a unit of work that commits on success."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Every unit of work keeps the scheduler's due times in step (storage/schedule.py).
        event.listen(self._sessions, "before_flush", schedule.before_flush)
        # SQLite: one unit of work at a time in this process (see `_turn`).
        self._turn_lock = threading.RLock() if self.backend == "sqlite" else None

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """On SQLite, wait for this process's other sessions to finish before starting one.

        BEGIN IMMEDIATE already lets one transaction write at a time, but SQLite's busy handler polls,
        sleeping up to 100 ms between tries, and is unfair: with 16 concurrent writers some events waited
        over 4 s (p99 2-3 s). Queuing here wakes the next session as soon as one ends (p99 0.5 s). Other
        processes (`cdp-bot recompute`) still meet busy_timeout. Re-entrant, and bounded: a session opened
        inside another on the same thread, or a holder stuck past SQLite's own busy_timeout, falls back
        to SQLite's locking rather than waiting here for ever.
        """
        if self._turn_lock is None:
            yield
            return
        acquired = self._turn_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S)
        try:
            yield
        finally:
            if acquired:
                self._turn_lock.release()

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory: its event listeners see every unit of work (the outbox wakes on commit)."""
        return self._sessions

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Commit when the block ends normally, roll back on any error.

        Repositories never commit: the caller owns the transaction, so a Slack event is
        acknowledged only after everything it wrote is committed.
        """
        with self._turn():
            session = self._sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
