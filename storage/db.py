"""Engine and session factory; SQLite gets foreign keys, WAL, a busy timeout and BEGIN IMMEDIATE."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import time
from asyncio import Future
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, create_engine, event, text
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import UpdateBase

from storage import schedule
from storage.async_driver import AsyncDriverConnection, AsyncDrivers, StatementObserver, positional

SQLITE_BUSY_TIMEOUT_S = 10
# SQLite: how long the event loop's counts wait for this process's turn before they go to worker threads
# (Database.on_driver_together).
TURN_WAIT_S = 1.0
# COMMIT_DURABILITY: "full" waits for each commit to reach the disk (the default: nothing acknowledged is
# ever lost); "fast" lets the database flush a fraction of a second later (PostgreSQL synchronous_commit=off,
# SQLite synchronous=NORMAL in WAL mode). Both survive a crash of the app; "fast" can lose the last
# ~0.6 s of acknowledged writes if the database server or the machine crashes. See README, "Performance".
DURABILITIES = ("full", "fast")
# A pooled connection idle for longer than this is pinged before it is handed out (see `_ping_if_idle`).
IDLE_PING_S = 60
_CHECKED_IN_AT = "cdp_checked_in_at"
# Connections older than this are replaced at checkout: servers and proxies close idle ones.
POOL_RECYCLE_S = 1800
# Kept open: enough for the requests the HTTP server runs at once (16 concurrent senders in
# bench/bench_events.py) plus the outbox and the scheduler. SQLAlchemy's default, 5, made every request past
# the fifth open a connection and close it at return ("overflow"): a new PostgreSQL backend per request, a
# third of the request's time under load, and 16 senders slower than one. Past POOL_SIZE, overflow still
# serves a burst (up to the threadpool's 40 threads) rather than queuing it.
POOL_SIZE = 20
POOL_MAX_OVERFLOW = 20
T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, fast: bool = False) -> None:
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
    cursor.execute(f"PRAGMA synchronous={'NORMAL' if fast else 'FULL'}")
    cursor.close()


def _postgresql_fast_commits(dbapi_connection: Any, _record: Any) -> None:
    """COMMIT_DURABILITY=fast on PostgreSQL: this connection's commits return before the WAL is flushed."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION synchronous_commit TO off")
    cursor.close()
    dbapi_connection.autocommit = autocommit


def _sqlite_begin(connection: Connection) -> None:
    """Every transaction takes the write lock at its start, waiting up to busy_timeout for it.

    A DEFERRED transaction that has read and then writes must upgrade its lock; when another
    connection writes meanwhile, SQLite refuses the upgrade at once ("database is locked"), since
    waiting could deadlock, whatever busy_timeout says. IMMEDIATE makes writers queue instead, and makes
    each unit of work serializable on SQLite (a value read is still the value when it is written).
    Read-only units queue too: with one short transaction per request, that wait stays small.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, durability: str = "full", **kwargs: Any) -> Engine:
    if durability not in DURABILITIES:
        raise ValueError(f"durability must be one of {DURABILITIES}, not {durability!r}")
    fast = durability == "fast"
    parsed = make_url(url)
    if parsed.database not in (None, "", ":memory:"):  # an in-memory SQLite has a single-connection pool
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_MAX_OVERFLOW)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, fast=fast))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping on every checkout: it cost a round trip per request. Old connections are recycled; one
    # that sat idle for a while (when a server restart or an idle-closing proxy most likely killed it) is
    # pinged at checkout (`_ping_if_idle`), and a dead one is replaced before the request uses it. One
    # that dies while busy fails its first statement: SQLAlchemy then invalidates the pool, and the event
    # path retries once on a fresh one (`retrying_on_disconnect`); a slash command or a click answers
    # with Slack's generic error (Slack never resends those), and the next one works.
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    if fast and parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgresql_fast_commits)
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection idle for over IDLE_PING_S is checked with one round trip before it is handed out; a
    DisconnectionError makes the pool replace it (and retry the checkout) instead of failing a request."""
    checked_in_at = record.info.get(_CHECKED_IN_AT)
    if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()  # leave no transaction open behind the ping
    except Exception as exc:
        raise DisconnectionError("an idle database connection was closed") from exc


def retrying_on_disconnect(session: Session, work: Callable[[], T]) -> T:
    """Run `work`, the first thing done in `session`'s transaction; if the connection turns out dead, roll
    back (nothing was written: the transaction died with it) and run it once more on a new connection.
    Only for work that starts the transaction: a retry after earlier writes would silently drop them."""
    try:
        return work()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        session.rollback()
        return work()


class DriverConnection:
    """A pooled connection's own DBAPI connection (psycopg or sqlite3), for the event path's hot statements.

    SQLAlchemy's Session, Connection and Result machinery around one statement cost ~300 us of Python per
    event (measured: 440 us of CPU for the counting statement through a Session, 110 us on the driver),
    more than the statement's round trip. The few statements run here (the counting statement, the
    outbox worker's claim, outcome and reads) are compiled once by SQLAlchemy (storage/repositories/
    counting.py, `for_driver`) and bypass its events: `Database.statement_observers` sees them.
    """

    __slots__ = ("_observers", "backend", "dbapi", "dialect")

    def __init__(self, dbapi: Any, dialect: Dialect, observers: list[StatementObserver]) -> None:
        self.dbapi = dbapi
        self.dialect = dialect  # the engine's: what SQLAlchemy compiles the statements for
        self.backend = dialect.name
        self._observers = observers

    def first(self, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        """Run one statement that returns rows; its first row (None when there is none)."""
        cursor = self._execute(sql, params or {})
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        for observe in self._observers:
            observe(sql, self.dbapi)
        return None if row is None else tuple(row)

    def _execute(self, sql: str, params: dict[str, Any]) -> Any:
        if self.backend != "postgresql":
            return self.dbapi.execute(sql, params)
        import psycopg  # only PostgreSQL has it (a raw cursor: see storage.async_driver.numbered)

        # A server-side prepared statement from the first execution on (parsed and planned once per
        # connection); sqlite3 keeps its own statement cache.
        query, values = positional(sql, params)
        cursor = psycopg.RawCursor(self.dbapi)
        cursor.execute(query, values, prepare=True)
        return cursor

    def run(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run one statement that returns no rows."""
        self._execute(sql, params or {}).close()
        for observe in self._observers:
            observe(sql, self.dbapi)


# What runs a statement that is atomic on its own: a Session (`Database.statement_session`) or a pooled
# connection's driver in autocommit (`Database.on_driver`), for repositories that take either.
OneStatement = Session | DriverConnection


@dataclass(frozen=True)
class DriverStatement:
    """A SQLAlchemy Core statement compiled once for DriverConnection on PostgreSQL (`for_driver`), with
    what SQLAlchemy's execution would otherwise do around it: the values the statement binds itself
    (a constant such as `status = 'pending'`), the parameters the caller must give, each typed
    parameter's bind processor (a UTCDateTime: naive UTC) and each result column's processor."""

    sql: str
    constants: dict[str, Any]
    required: frozenset[str]
    binds: dict[str, Callable[[Any], Any]]
    results: tuple[Callable[[Any], Any] | None, ...]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        """The parameters to run it with: `values` processed as SQLAlchemy would, with the constants. A
        missing or unknown name is an error, as it is through a Session (never a silent NULL)."""
        missing = self.required - values.keys()
        unknown = values.keys() - self.required - self.constants.keys()
        if missing or unknown:
            raise KeyError(f"parameters missing: {sorted(missing)}, unknown: {sorted(unknown)}")
        processed = dict(self.constants)
        for name, value in values.items():
            process = self.binds.get(name)
            processed[name] = value if process is None or value is None else process(value)
        return processed

    def row(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row as SQLAlchemy's result gives it (a UTCDateTime: aware UTC)."""
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(values, self.results, strict=True)
        )


@functools.lru_cache(maxsize=64)
def for_driver(statement: Select[Any] | UpdateBase, dialect: Dialect) -> DriverStatement:
    """`statement` (a SELECT, or a DML statement with RETURNING or none) compiled once for DriverConnection.
    PostgreSQL only: SQLite's compiled statements use `?`, and its DriverConnection takes `:name`."""
    if dialect.name != "postgresql":
        raise ValueError(f"statements are compiled for the driver on PostgreSQL only, not {dialect.name}")
    compiled = statement.compile(dialect=dialect)
    named = compiled.bind_names.items()
    binds: dict[str, Callable[[Any], Any]] = {}
    for bind, name in named:
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds[name] = process
    return DriverStatement(
        sql=compiled.string,
        constants={name: bind.effective_value for bind, name in named if not bind.required},
        required=frozenset(name for bind, name in named if bind.required),
        binds=binds,
        results=tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.exported_columns
        ),
    )


# A unit of work `Database.on_driver_together` was asked for, and the future its caller awaits.
_Together = tuple[Callable[["DriverConnection"], Any], Future[Any]]


def _fail_all(waiting: list[_Together], error: Exception) -> None:
    for _work, future in waiting:
        if not future.done():
            future.set_exception(error)


class WriteLockBusy(Exception):
    """SQLite's write lock is held by another connection (`on_driver_together`): nothing was done."""


def _begin_at_once(connection: DriverConnection) -> None:
    """BEGIN IMMEDIATE without SQLite's busy wait (the connection's busy_timeout is 0: see
    `Database._at_once_connection`): WriteLockBusy when another connection holds the write lock."""
    try:
        connection.run("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        # The extended codes too: SQLITE_BUSY_SNAPSHOT (another process committed meanwhile) and
        # SQLITE_BUSY_RECOVERY (another process recovering the WAL) wrote nothing either.
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        raise WriteLockBusy from error


def _dead(dbapi: Any) -> bool:
    """The connection died under the statement (server restarted, proxy closed it): psycopg then marks it
    closed. Most often the statement never reached the server; in autocommit it may also have committed
    just before its answer was lost. The work runs again on a new connection, so it must be safe to run
    twice (`Database.on_driver`)."""
    return bool(getattr(dbapi, "closed", False))


@contextmanager
def _committing(session: Session) -> Iterator[Session]:
    """The session's unit of work: committed when the block ends normally, rolled back on any error,
    closed either way."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """Owns the engine; `session()` is a unit of work that commits on success."""

    def __init__(self, url: str, *, durability: str = "full", **engine_kwargs: Any) -> None:
        self.url = url
        self.durability = durability
        self.engine = make_engine(url, durability=durability, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Every unit of work keeps the scheduler's due times in step (storage/schedule.py).
        event.listen(self._sessions, "before_flush", schedule.before_flush)
        # PostgreSQL: sessions whose every statement commits on its own (the driver sends no BEGIN and no
        # COMMIT: psycopg's autocommit is a client-side flag, set at checkout and reset at return, both
        # without a round trip). Same pool as `engine`.
        self._autocommit_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.backend == "postgresql"
            else None
        )
        self._autocommit_sessions = (
            sessionmaker(self._autocommit_engine, expire_on_commit=False)
            if self._autocommit_engine is not None
            else None
        )
        # SQLite: one unit of work at a time in this process (see `_turn`).
        self._turn_lock = threading.RLock() if self.backend == "sqlite" else None
        # Told of every statement run on a DriverConnection (tests and benchmarks count them).
        self.statement_observers: list[StatementObserver] = []
        self._async_drivers: AsyncDrivers | None = None
        # SQLite: the connection `on_driver_together` uses, its own (see `_at_once_connection`).
        self._at_once: tuple[PoolProxiedConnection, DriverConnection] | None = None
        # SQLite: per event loop, the units of work `on_driver_together` gathers for its next turn, and
        # the loops among them waiting for this process's turn.
        self._together: dict[asyncio.AbstractEventLoop, list[_Together]] = {}
        self._loops_waiting: set[asyncio.AbstractEventLoop] = set()
        self._loops_waiting_lock = threading.Lock()
        self._deadlines: dict[asyncio.AbstractEventLoop, list[_Together]] = {}  # see `_stop_waiting`

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """On SQLite, wait for this process's other sessions to finish before starting one.

        BEGIN IMMEDIATE already lets one transaction write at a time, but SQLite's busy handler polls,
        sleeping up to 100 ms between tries, and is unfair: with 16 concurrent writers some events waited
        over 4 s (p99 2-3 s). Queuing here wakes the next session as soon as one ends (p99 0.5 s). Other
        processes (`cdp-bot recompute`) still meet busy_timeout. Re-entrant, and bounded: a session opened
        inside another on the same thread, or a holder stuck past SQLite's own busy_timeout, falls back
        to SQLite's locking rather than waiting here for ever. The event loop never waits here: it takes
        its turn when it is free, or is told when it is, for at most TURN_WAIT_S (`on_driver_together`).
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
                self._wake_loops_waiting()

    def turn(self) -> AbstractContextManager[None]:
        """`_turn` for work done on a raw connection of the pool (storage/claims.py)."""
        return self._turn()

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
        with self._turn(), _committing(self._sessions()) as session:
            yield session

    @contextmanager
    def statement_session(self) -> Iterator[Session]:
        """On PostgreSQL, a session in autocommit: each statement is its own transaction, committed when it
        returns; one round trip for a one-statement unit of work instead of three (BEGIN, it, COMMIT).
        Only for work whose every statement is atomic and safe on its own (the counting statement: a
        claim and the count it guards, in one statement). Elsewhere an ordinary `session()`. Nothing is
        enqueued for the outbox here: its worker wakes on `session()` commits (bot/outbox.py)."""
        if self._autocommit_sessions is None:
            with self.session() as session:
                yield session
            return
        # Its commit has nothing left to commit on the server: no round trip.
        with _committing(self._autocommit_sessions()) as session:
            yield session

    def one_statement(self, work: Callable[[OneStatement], T]) -> T:
        """`work`, one statement that is atomic on its own, committed as it returns: on PostgreSQL on a
        pooled connection's driver in autocommit (`on_driver`: one round trip, no BEGIN nor COMMIT, and
        about a third of a Session's CPU: storage.repositories.outbox._first); elsewhere in a
        `statement_session`."""
        if self.backend == "postgresql":
            return self.on_driver(work)
        with self.statement_session() as session:
            return work(session)

    def on_driver(self, work: Callable[[DriverConnection], T]) -> T:
        """Run `work` as one unit of work on a pooled connection's DBAPI connection (see DriverConnection).

        PostgreSQL: in autocommit, each statement its own transaction (no BEGIN, no COMMIT: psycopg's
        autocommit is a client-side flag, set and reset here without a round trip); only for work whose
        every statement is atomic and safe on its own, like `statement_session`. A connection found dead
        by the first statement is replaced and `work` run once more, so `work` must be safe to run twice
        (the statement may have committed before its answer was lost): the counting statement's event
        claim refuses a second count; a second outbox claim takes another row, and the first stays leased
        until its lease ends, then goes. SQLite: inside BEGIN IMMEDIATE ... COMMIT, in this process's
        turn (see `_turn`), rolled back on any error.
        """
        if self._turn_lock is not None:
            with self._turn():
                return self._sqlite_unit(work)
        for attempt in (1, 2):
            pooled = self.engine.raw_connection()
            dbapi: Any = pooled.driver_connection
            try:
                dbapi.autocommit = True
                try:
                    return work(DriverConnection(dbapi, self.engine.dialect, self.statement_observers))
                finally:
                    if not dbapi.closed:
                        dbapi.autocommit = False  # the pool's other users expect transactions
            except Exception as error:
                if attempt == 2 or not _dead(dbapi):
                    raise
                # As SQLAlchemy does on a disconnect: this one is dropped, and every connection opened
                # before it is replaced at its next checkout (a server restart killed them all).
                self.engine.pool._invalidate(pooled, error)
            finally:
                pooled.close()
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def awaits_statements(self) -> bool:
        """True when `on_async_driver` can run statements on an event loop (PostgreSQL)."""
        return self.backend == "postgresql"

    async def on_async_driver(self, work: Callable[[AsyncDriverConnection], Awaitable[T]]) -> T:
        """PostgreSQL only: like `on_driver`, awaited on the running event loop (storage/async_driver.py)."""
        return await self._async().run(work)

    async def first_together(
        self, sql: str, params: dict[str, Any], lock_order: tuple[str, ...]
    ) -> tuple[Any, ...] | None:
        """PostgreSQL only: one statement that is atomic and safe on its own (like `on_async_driver`'s),
        awaited on the running event loop, its first row; sent in one round trip and one transaction with
        the others asked for while statements are on their way (a group commit: AsyncDrivers.first_together
        says when, and what `lock_order` is for)."""
        return await self._async().first_together(sql, params, lock_order)

    def _async(self) -> AsyncDrivers:
        if self._async_drivers is None:
            self._async_drivers = AsyncDrivers(
                self.engine, fast=self.durability == "fast", observers=self.statement_observers
            )
        return self._async_drivers

    async def on_driver_together(self, work: Callable[[DriverConnection], T]) -> T:
        """SQLite only: `on_driver`, from the HTTP server's event loop, without a worker thread, together
        with every other unit of work asked for in the same turn of the loop: all of them in one
        BEGIN IMMEDIATE ... COMMIT on a connection of the loop's own (`_at_once_connection`), so one disk
        flush for all (a group commit; PostgreSQL groups the flushes of concurrent commits itself). Each
        gets its own result. Events sent at once (Slack sends a busy workspace's concurrently) are read in
        the same turn of the loop and share a flush; one sent alone waits one turn of the loop more.

        The hop to a worker thread and back cost as much CPU as a count. The loop never waits for another
        writer:
        - another unit of work of this process holding the turn (a worker thread's): these wait for it
          without blocking the loop, joined by the ones asked for meanwhile, until its end wakes the loop
          (`_turn`); sending them to worker threads instead made the next ones find a worker thread's turn
          in their way in turn (with 16 senders, half the counts went through threads). Worker threads
          waiting for the turn are woken by its release itself and often take it first: after TURN_WAIT_S
          these stop waiting on the loop and go to worker threads (WriteLockBusy, as below), so a steady
          run of worker threads cannot keep them past Slack's 3 s;
        - another process holding the database's write lock (`cdp-bot recompute`, another instance):
          WriteLockBusy, having done nothing; the caller then waits in a worker thread (`on_driver`).
        The loop does wait for the commit's disk flush (~0.2-0.4 ms on this machine's disk, more on a slower
        one), and now and then for the WAL checkpoint SQLite runs inside the commit that crosses its 1,000
        pages (milliseconds: the pages written back and the database file synced): every other request
        waits meanwhile, as it would behind a listener Bolt's adapter runs.

        When one of them raises, the shared unit is rolled back and each runs again on its own, so one
        failure fails no other."""
        assert self._turn_lock is not None, "SQLite only"
        loop = asyncio.get_running_loop()
        future: Future[T] = loop.create_future()
        waiting = self._together.get(loop)
        if waiting is None:
            waiting = self._together[loop] = []
            loop.call_soon(self._run_together, loop)
        waiting.append((work, future))
        return await future

    def _run_together(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._turn_lock is not None
        with self._loops_waiting_lock:
            if not self._turn_lock.acquire(blocking=False):
                self._loops_waiting.add(loop)  # `_turn` calls again when the turn ends
                waiting = self._together.get(loop)
                if waiting is not None and self._deadlines.get(loop) is not waiting:
                    self._deadlines[loop] = waiting
                    loop.call_later(TURN_WAIT_S, self._stop_waiting, loop, waiting)
                return
        try:
            self._deadlines.pop(loop, None)
            waiting = [(work, future) for work, future in self._together.pop(loop, ()) if not future.done()]
            if waiting:  # else every request that asked was cancelled meanwhile (its client left)
                self._run_now(waiting)
        finally:
            self._turn_lock.release()
            self._wake_loops_waiting()

    def _stop_waiting(self, loop: asyncio.AbstractEventLoop, waiting: list[_Together]) -> None:
        """TURN_WAIT_S after these began to wait for this process's turn: still waiting, they go to worker
        threads (WriteLockBusy)."""
        if self._together.get(loop) is not waiting:
            return  # they have run
        del self._together[loop]
        self._deadlines.pop(loop, None)
        _fail_all(waiting, WriteLockBusy())

    def _run_now(self, waiting: list[_Together]) -> None:
        """The units `on_driver_together` gathered, in one SQLite transaction: this process's turn held."""
        try:
            results = self._sqlite_unit(
                lambda connection: [work(connection) for work, _ in waiting], at_once=True
            )
        except WriteLockBusy:
            _fail_all(waiting, WriteLockBusy())
            return
        except Exception:  # rolled back: each on its own, so only the one that fails fails
            for work, future in waiting:
                try:
                    result = self._sqlite_unit(work, at_once=True)
                except Exception as error:
                    future.set_exception(error)
                else:
                    future.set_result(result)
            return
        except BaseException:  # interrupted: no one is left waiting for ever
            _fail_all(waiting, RuntimeError("interrupted"))
            raise
        for (_work, future), result in zip(waiting, results, strict=True):
            future.set_result(result)

    def _wake_loops_waiting(self) -> None:
        """This process's turn has ended: the event loops whose `on_driver_together` waits for it try
        again."""
        with self._loops_waiting_lock:
            loops, self._loops_waiting = self._loops_waiting, set()
        for loop in loops:
            try:
                loop.call_soon_threadsafe(self._run_together, loop)
            except RuntimeError:  # that loop is closed: its server stopped, its requests with it
                self._together.pop(loop, None)

    def _at_once_connection(self) -> DriverConnection:
        """SQLite: the connection `on_driver_together` uses, out of the pool and kept: busy_timeout 0, so
        BEGIN IMMEDIATE fails at once rather than wait for another process's write, without setting the
        timeout and back on every unit (a pooled connection's other users expect it); and no checkout and
        checkin (the pool's reset, a rollback) on the event loop. Used only in this process's turn."""
        if self._at_once is None:
            pooled = self.engine.raw_connection()
            dbapi: Any = pooled.driver_connection
            pooled.detach()  # ours until `dispose` closes it
            dbapi.execute("PRAGMA busy_timeout=0")
            self._at_once = (pooled, DriverConnection(dbapi, self.engine.dialect, self.statement_observers))
        return self._at_once[1]

    def _sqlite_unit(self, work: Callable[[DriverConnection], T], *, at_once: bool = False) -> T:
        if at_once:
            return self._sqlite_transaction(self._at_once_connection(), work, at_once=True)
        pooled = self.engine.raw_connection()
        try:
            dbapi: Any = pooled.driver_connection
            connection = DriverConnection(dbapi, self.engine.dialect, self.statement_observers)
            return self._sqlite_transaction(connection, work, at_once=False)
        finally:
            pooled.close()

    @staticmethod
    def _sqlite_transaction(
        connection: DriverConnection, work: Callable[[DriverConnection], T], *, at_once: bool
    ) -> T:
        if at_once:
            _begin_at_once(connection)
        else:
            connection.run("BEGIN IMMEDIATE")  # the write lock first: see `_sqlite_begin`
        try:
            result = work(connection)
            connection.run("COMMIT")
        except BaseException:
            if connection.dbapi.in_transaction:
                connection.dbapi.rollback()
            raise
        return result

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A Core connection for a unit of work that only reads (`/cdp me`): no ORM session, and on
        PostgreSQL no BEGIN nor COMMIT (autocommit: each statement reads the latest committed data, which
        is all a display needs). On SQLite, a transaction like any other (one snapshot, this process's
        turn), rolled back at the end."""
        if self._autocommit_engine is not None:
            with self._autocommit_engine.connect() as connection:
                yield connection
            return
        with self._turn(), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def light_session(self) -> Iterator[Session]:
        """A unit of work whose commit need not wait for the disk, whatever COMMIT_DURABILITY says: for
        writes that are harmless to lose if the database server crashes (a trigger id claimed against
        replays: losing it only lets a replay of the last instant through). A crash of the app loses
        nothing either way. Saves the disk flush (~2-4 ms here) on every slash command and click."""
        if self.durability == "fast":
            with self.session() as session:
                yield session
            return
        if self.backend != "sqlite":
            with self.session() as session:
                # Only this transaction; the connection goes back to the pool as it was.
                session.execute(text("SET LOCAL synchronous_commit TO off"))
                yield session
            return
        # SQLite refuses to change its safety level inside a transaction: set it on the connection before
        # the session begins (at the driver level, under SQLAlchemy's autobegin), and back after.
        with self._turn(), self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA synchronous=NORMAL")
            try:
                with _committing(self._sessions(bind=connection)) as session:
                    yield session
            finally:
                driver.execute("PRAGMA synchronous=FULL")

    def ping(self) -> bool:
        try:
            # In this process's turn on SQLite, as every other unit of work (its BEGIN IMMEDIATE takes the
            # write lock: outside the turn, a count of the event loop's would find it busy).
            with self._turn(), self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        if self._async_drivers is not None:
            self._async_drivers.close()
        with self._turn():  # not under a unit of work of the event loop's
            if self._at_once is not None:
                self._at_once[0].close()
                self._at_once = None
        self.engine.dispose()
