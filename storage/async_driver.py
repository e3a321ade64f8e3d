"""PostgreSQL connections for the HTTP server's event loop: the counting statement of a message, awaited
there instead of sent from a worker thread (storage/db.py `Database.on_async_driver`).

The hop to a worker thread and back, around a statement that takes ~0.2 ms, cost more CPU than the
statement itself; psycopg's AsyncConnection waits for the answer on the event loop (through its libpq
layer, `_Lean`: a lone statement, or several at once in libpq's pipeline mode). These connections
are the app's own few (at most ASYNC_POOL_SIZE, opened when first needed, per event loop), in autocommit:
only for statements that are atomic and safe on their own, like `Database.on_driver`. A connection that
died (a server restart, a proxy closing it) is found by its first statement, which then wrote nothing:
the work runs once more on a new connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Dialect, Engine

T = TypeVar("T")
# What observes the statements sent on a driver connection (storage.db.DriverConnection and the one here):
# the statement and the DBAPI connection, after it ran. Tests and benchmarks count them.
StatementObserver = Callable[[str, Any], None]

# Enough for the events the server answers at once (16 concurrent senders in bench/bench_events.py);
# past it, an event waits for a connection rather than opening more.
ASYNC_POOL_SIZE = 8
RECYCLE_S = 1800  # like the engine's pool_recycle: servers and proxies close old connections


_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")


@functools.lru_cache(maxsize=64)
def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """A statement SQLAlchemy compiled for psycopg (`%(name)s`, `%%`) with PostgreSQL's own `$n`
    placeholders instead, one per distinct name, and the names in their order: done once per statement.

    Sent as it is (psycopg's raw cursors), psycopg no longer re-parses the text on every execution (it
    caches only short statements: the counting CTE was parsed each time, 40% of its Python), and a name
    the statement uses ten times is sent once rather than ten times."""
    names: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${names.setdefault(name, len(names) + 1)}"

    return _PLACEHOLDER.sub(replace, sql), tuple(names)


def positional(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """`numbered` statement and the parameters in its order."""
    query, names = numbered(sql)
    return query, [params[name] for name in names]


class AsyncDriverConnection:
    """A psycopg AsyncConnection, for statements compiled by SQLAlchemy (like storage.db.DriverConnection)."""

    __slots__ = ("_lean", "_observers", "backend", "dbapi", "dialect")

    def __init__(
        self,
        dbapi: psycopg.AsyncConnection[Any],
        dialect: Dialect,
        observers: list[StatementObserver],
        lean: _Lean,  # the connection's own (AsyncDrivers keeps it beside the connection)
    ) -> None:
        self.dbapi = dbapi
        self.dialect = dialect
        self.backend = dialect.name
        self._observers = observers
        self._lean = lean

    async def first(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run one statement that returns rows (a prepared statement on this connection); its first row."""
        rows = await self.all(sql, params)
        return rows[0] if rows else None

    async def firsts(self, statements: list[Statement]) -> list[tuple[Any, ...] | None]:
        """`alls`, each statement's first row."""
        return [rows[0] if rows else None for rows in await self.alls(statements)]

    async def alls(self, statements: list[Statement]) -> list[list[tuple[Any, ...]]]:
        """Run these statements in one round trip and ONE transaction (libpq's pipeline mode: one Sync for
        all, so on an autocommit connection PostgreSQL commits them together, or none); each one's rows,
        in their order."""
        results = await self._lean.pipeline([positional(sql, params) for sql, params in statements])
        for sql, _params in statements:
            for observe in self._observers:
                observe(sql, self.dbapi)
        return results

    async def all(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run one statement that returns rows (a prepared statement on this connection); all its rows."""
        query, values = positional(sql, params)
        rows = await self._lean.rows(query, values)
        for observe in self._observers:
            observe(sql, self.dbapi)
        return rows


class _Lean:
    """Statements on a psycopg AsyncConnection, one at a time (`rows`) or several in one round trip
    (`pipeline`), through psycopg's libpq layer (`psycopg.pq`) and its adapters (`Transformer`), awaited
    with one reader callback on the event loop.

    Why not a cursor: for the counting statement, psycopg's cursor and its generic wait (`wait_async`: a
    generator, a timer and a future per wait) cost 80-107 us of CPU per statement on this machine, this
    43-60 us (the same statement on the same connection, timed in a loop, 2026-11-30); on the event path
    that was most of our own Python, and a counted message took 6-11% less time in interleaved A/Bs.
    What psycopg does well stays its own: the values are dumped and the rows loaded by its adapters,
    errors raised as its exceptions, the protocol read by libpq. Prepared statements are named `cdp_N`
    (psycopg's own are `_pg3_N`) and kept per connection, as psycopg keeps its own."""

    __slots__ = ("_dbapi", "_named", "_prepared", "_tx")

    def __init__(self, dbapi: psycopg.AsyncConnection[Any]) -> None:
        self._dbapi = dbapi
        self._tx = Transformer(dbapi)
        # (statement, parameter types) -> its prepared name on this connection
        self._prepared: dict[tuple[str, tuple[int, ...]], bytes] = {}
        # Names are never given twice: a pipeline that failed may have left a preparation behind that
        # `_prepared` forgot (they outlive transactions), which a reused name would collide with.
        self._named = 0

    def _new_name(self) -> bytes:
        self._named += 1
        return f"cdp_{self._named}".encode()

    async def rows(self, query: str, values: list[Any]) -> list[tuple[Any, ...]]:
        """The statement's rows (none for a statement without rows)."""
        try:
            return await self._rows(query, values)
        except psycopg.errors.InvalidSqlStatementName:
            # Our prepared statements are gone (a DEALLOCATE ALL, which psycopg itself sends after some
            # commands): prepared again, once. Nothing ran: the statement failed before it started.
            self._prepared.clear()
            return await self._rows(query, values)

    async def pipeline(self, statements: list[tuple[str, list[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows, the statements sent in one round trip and one transaction (libpq's
        pipeline mode, one Sync for all). The first failure is raised, once every result has been read:
        PostgreSQL then skipped the statements after it and rolled back those before it.

        Why not psycopg's pipeline (`AsyncConnection.pipeline()` and a cursor per statement): for the two
        statements of `/cdp me`, it cost 263-282 us of CPU per round trip on this machine, this 119-136 us
        (two small prepared statements on one connection, timed in a loop, 2026-12-01)."""
        try:
            return await self._pipeline(statements)
        except psycopg.errors.InvalidSqlStatementName:
            # Our preparations are gone (as in `rows`): the transaction was rolled back, nothing was
            # written; prepared again, once.
            self._prepared.clear()
            return await self._pipeline(statements)

    async def _pipeline(self, statements: list[tuple[str, list[Any]]]) -> list[list[tuple[Any, ...]]]:
        tx, pgconn = self._tx, self._dbapi.pgconn
        encoding = self._dbapi.info.encoding
        # Everything dumped before the pipeline starts: what fails here leaves the connection as it was.
        sends: list[_Send] = []
        naming: dict[tuple[str, tuple[int, ...]], bytes] = {}  # the ones prepared in this pipeline
        for query, values in statements:
            params = tx.dump_sequence(values, [PyFormat.TEXT] * len(values))
            types, formats = tx.types, tx.formats
            key = (query, tuple(types or ()))
            name = self._prepared.get(key) or naming.get(key)
            prepare = None
            if name is None:
                name = naming[key] = self._new_name()
                prepare = (query.encode(encoding), types)
            sends.append(_Send(key, name, params, formats, prepare))
        pgconn.enter_pipeline_mode()
        try:
            for send in sends:
                if send.prepare is not None:
                    pgconn.send_prepare(send.name, send.prepare[0], param_types=send.prepare[1])
                pgconn.send_query_prepared(send.name, send.params, param_formats=send.formats)
            pgconn.pipeline_sync()
            answers = await _pipeline_results(pgconn)
        finally:
            # Left in pipeline mode only mid-read (a cancelled request): the connection is then busy, and
            # AsyncDrivers.run closes it instead of taking it back.
            with contextlib.suppress(psycopg.Error):
                pgconn.exit_pipeline_mode()
        return self._pipeline_rows(sends, answers)

    def _pipeline_rows(
        self, sends: list[_Send], answers: list[pq.abc.PGresult]
    ) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows from the pipeline's results (a preparation's, then its statement's); the
        first failure raised. A preparation PostgreSQL made stands (they outlive transactions), one it
        skipped does not."""
        if len(answers) != sum(2 if send.prepare is not None else 1 for send in sends):
            statuses = [pq.ExecStatus(answer.status).name for answer in answers]
            raise psycopg.InterfaceError(f"unexpected results: {statuses}")
        tx = self._tx
        rows: list[list[tuple[Any, ...]]] = []
        failure: pq.abc.PGresult | None = None
        taken = iter(answers)
        for send in sends:
            results = [next(taken), next(taken)] if send.prepare is not None else [next(taken)]
            if send.prepare is not None and results[0].status == pq.ExecStatus.COMMAND_OK:
                self._prepared[send.key] = send.name
            for result in results:
                if failure is None and result.status == pq.ExecStatus.FATAL_ERROR:
                    failure = result
            executed = results[-1]
            if executed.status == pq.ExecStatus.TUPLES_OK:
                tx.set_pgresult(executed)
                rows.append(tx.load_rows(0, executed.ntuples, tuple))
            else:
                rows.append([])
        if failure is not None:
            raise psycopg.errors.error_from_result(failure, encoding=self._dbapi.info.encoding)
        return rows

    async def _rows(self, query: str, values: list[Any]) -> list[tuple[Any, ...]]:
        tx = self._tx
        params = tx.dump_sequence(values, [PyFormat.TEXT] * len(values))
        types, formats = tx.types, tx.formats  # this statement's, before another uses the Transformer
        key = (query, tuple(types or ()))
        name = self._prepared.get(key)
        pgconn = self._dbapi.pgconn
        if name is None:
            name = self._new_name()
            pgconn.send_prepare(name, query.encode(self._dbapi.info.encoding), param_types=types)
            self._result(await _results(pgconn))
            self._prepared[key] = name
        pgconn.send_query_prepared(name, params, param_formats=formats)
        result = self._result(await _results(pgconn))
        if result.status != pq.ExecStatus.TUPLES_OK:  # a statement without rows
            return []
        tx.set_pgresult(result)
        return tx.load_rows(0, result.ntuples, tuple)

    def _result(self, results: list[pq.abc.PGresult]) -> pq.abc.PGresult:
        """The statement's one result; its error as psycopg raises it."""
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise psycopg.errors.error_from_result(result, encoding=self._dbapi.info.encoding)
        if len(results) != 1 or results[0].status not in _SUCCEEDED:
            statuses = [pq.ExecStatus(result.status).name for result in results]
            raise psycopg.InterfaceError(f"unexpected results: {statuses}")
        return results[0]


_SUCCEEDED = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


async def _results(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Send what libpq holds and await every result of the statement sent (libpq's non-blocking protocol,
    as psycopg's own generators drive it)."""
    loop = asyncio.get_running_loop()
    while pgconn.flush():  # 1: the socket's buffer is full, more to send
        await _ready(loop, pgconn, write=True)
    results: list[pq.abc.PGresult] = []
    while True:
        if pgconn.is_busy():  # the answer is not all here: wait for more of it
            await _ready(loop, pgconn, write=False)
            continue
        result = pgconn.get_result()
        if result is None:
            return results
        results.append(result)


async def _pipeline_results(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Send the pipeline libpq holds and await its results up to its Sync: one per command (a preparation
    or a statement), a statement PostgreSQL skipped after a failure answering PIPELINE_ABORTED."""
    loop = asyncio.get_running_loop()
    while pgconn.flush():
        await _ready(loop, pgconn, write=True)
    results: list[pq.abc.PGresult] = []
    ended = False  # the last command's results are all here (libpq then answers None once)
    while True:
        if pgconn.is_busy():
            await _ready(loop, pgconn, write=False)
            continue
        result = pgconn.get_result()
        if result is None:
            if ended:  # None twice: nothing more will come, yet no Sync came
                raise psycopg.InterfaceError("pipeline ended without its Sync")
            ended = True
            continue
        ended = False
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        results.append(result)


async def _ready(loop: asyncio.AbstractEventLoop, pgconn: pq.abc.PGconn, *, write: bool) -> None:
    """Wait until the connection's socket has been read from or, with `write`, can be written: what
    arrives while a statement is still being sent is read too, as libpq asks (the server may answer
    before it has read all of a long statement)."""
    future: asyncio.Future[None] = loop.create_future()
    fileno = pgconn.socket

    def readable() -> None:
        if future.done():
            return
        try:
            pgconn.consume_input()
        except Exception as error:  # the connection died: the caller sees psycopg's OperationalError
            future.set_exception(error)
            return
        future.set_result(None)

    def writable() -> None:
        if not future.done():
            future.set_result(None)

    loop.add_reader(fileno, readable)
    if write:
        loop.add_writer(fileno, writable)
    try:
        await future
    finally:
        loop.remove_reader(fileno)
        if write:
            loop.remove_writer(fileno)


@dataclass(frozen=True)
class _Send:
    """One statement of a pipeline (`_Lean.pipeline`): its preparation's key and name, its dumped values,
    and its text and parameter types when it is prepared in the same pipeline."""

    key: tuple[str, tuple[int, ...]]
    name: bytes
    params: Sequence[Buffer | None]
    formats: Sequence[pq.Format] | None
    prepare: tuple[bytes, Sequence[int] | None] | None


# A statement compiled by SQLAlchemy for psycopg, and its parameters.
Statement = tuple[str, dict[str, Any]]
# One statement `AsyncDrivers.first_together` was asked for: its place in the order statements take their
# locks, and the future its caller awaits (None: the caller that sends the batch).
_Together = tuple[tuple[str, ...], Statement, "asyncio.Future[tuple[Any, ...] | None] | None"]


class AsyncDrivers:
    """The pool: idle connections of the current event loop, handed out last-in first-out."""

    def __init__(self, engine: Engine, *, fast: bool, observers: list[StatementObserver]) -> None:
        self._dialect = engine.dialect
        _args, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # SQLAlchemy's adapters: the statements carry their own casts
        self._params = params
        self._fast = fast
        self._observers = observers
        self._loop: asyncio.AbstractEventLoop | None = None
        # Each with when it was opened, and what runs its lone statements (and keeps their preparations).
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float, _Lean]] = []
        self._slots: asyncio.Semaphore | None = None
        # `first_together`, per event loop: the batch gathering during this turn of the loop, and how many
        # batches are on their way.
        self._gathering: dict[asyncio.AbstractEventLoop, list[_Together]] = {}
        self._sending: dict[asyncio.AbstractEventLoop, int] = {}

    async def run(self, work: Callable[[AsyncDriverConnection], Awaitable[T]]) -> T:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new server (tests start several): the old loop's connections go
            self.close()
            self._loop = loop
            self._slots = asyncio.Semaphore(ASYNC_POOL_SIZE)
        assert self._slots is not None
        async with self._slots:
            for attempt in (1, 2):
                taken = await self._take()
                dbapi, _opened_at, lean = taken
                try:
                    result = await work(AsyncDriverConnection(dbapi, self._dialect, self._observers, lean))
                except BaseException:
                    dead = dbapi.closed
                    if not dead and dbapi.info.transaction_status == TransactionStatus.IDLE:
                        self._idle.append(taken)  # the statement failed; the connection is fine
                    else:
                        _finish(dbapi)  # dead, or left mid-statement (a cancelled request)
                    if attempt == 2 or not dead:
                        raise
                    self.close()  # the idle ones most likely died with it (a server restart)
                    continue
                self._idle.append(taken)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def first_together(
        self, sql: str, params: dict[str, Any], lock_order: tuple[str, ...]
    ) -> tuple[Any, ...] | None:
        """`run` for one statement that is atomic and safe on its own, sent together with the others asked
        for meanwhile (a group commit): while statements are on their way to the database (events sent at
        once: a busy workspace), the ones asked for during the same turn of the loop go in one round trip
        and one transaction (`AsyncDriverConnection.firsts`). Each answer and each wake-up of the loop cost
        more CPU on this machine than the statement's Python: 16 senders got 18-23% more counts per second.
        One asked for while none is on its way goes at once, alone (one at a time: no wait for company).

        `lock_order`: what the statement locks (the counting statement: its event's claim, then the
        counter row this names). A batch runs its statements in this order, and two that name the same
        rows go in transactions one after the other: every transaction then takes its locks in the same
        order, and two never wait for each other (a deadlock, which PostgreSQL breaks after a second by
        failing one). When one statement fails, its transaction is rolled back and each of its statements
        is sent again on its own, so one failure fails no other: a statement must be safe to run again
        after a failure (the counting statement: its event id's claim)."""
        loop = asyncio.get_running_loop()
        gathering = self._gathering.get(loop)
        if gathering is not None:  # a batch is gathering on this loop: join it
            future: asyncio.Future[tuple[Any, ...] | None] = loop.create_future()
            gathering.append((lock_order, (sql, params), future))
            return await future
        sending = self._sending.get(loop, 0)
        self._sending[loop] = sending + 1
        try:
            if not sending:  # alone: at once
                return await self.run(functools.partial(_first, statement=(sql, params)))
            # Company is likely: the others of this turn of the loop join.
            batch: list[_Together] = [(lock_order, (sql, params), None)]
            self._gathering[loop] = batch
            try:
                await asyncio.sleep(0)
            except BaseException:  # cancelled (the server stops): no one is left waiting for ever
                _fail(batch, RuntimeError("cancelled"))
                raise
            finally:
                del self._gathering[loop]
            return await self._send_together(batch)
        finally:
            left = self._sending[loop] - 1
            if left:
                self._sending[loop] = left
            else:
                del self._sending[loop]

    async def _send_together(self, batch: list[_Together]) -> tuple[Any, ...] | None:
        """Send a batch of `first_together`: each future gets its row; the sender's (None) is returned."""
        batch = sorted((e for e in batch if e[2] is None or not e[2].done()), key=lambda entry: entry[0])
        transactions = _one_lock_order_each(batch)
        results: list[tuple[Any, ...] | Exception | None] = []
        try:
            for transaction in transactions:
                results += await self._results([statement for _order, statement, _future in transaction])
        except BaseException:  # cancelled (the server stops): no one is left waiting for ever
            _fail(batch, RuntimeError("cancelled"))
            raise
        mine: tuple[Any, ...] | Exception | None = None
        in_order = [entry for transaction in transactions for entry in transaction]
        for (_order, _statement, future), result in zip(in_order, results, strict=True):
            if future is None:
                mine = result
            elif future.done():
                continue  # its request was cancelled meanwhile (its client left)
            elif isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        if isinstance(mine, Exception):
            raise mine
        return mine

    async def _results(self, statements: list[Statement]) -> list[tuple[Any, ...] | Exception | None]:
        """Each statement's first row, or what it raised on its own: one transaction, or one each."""

        async def firsts(connection: AsyncDriverConnection) -> list[tuple[Any, ...] | None]:
            return await connection.firsts(statements)

        if len(statements) == 1:
            try:
                return [await self.run(functools.partial(_first, statement=statements[0]))]
            except Exception as alone:  # its own failure, not the batch's: the others' stand
                return [alone]
        try:
            return list(await self.run(firsts))
        except Exception:  # rolled back, all of them: each is sent again on its own
            pass
        results: list[tuple[Any, ...] | Exception | None] = []
        for statement in statements:
            try:
                results.append(await self.run(functools.partial(_first, statement=statement)))
            except Exception as alone:
                results.append(alone)
        return results

    async def _take(self) -> tuple[psycopg.AsyncConnection[Any], float, _Lean]:
        while self._idle:
            taken = self._idle.pop()
            dbapi, opened_at, _lean = taken
            if not dbapi.closed and time.monotonic() - opened_at < RECYCLE_S:
                return taken
            _finish(dbapi)
        dbapi = await psycopg.AsyncConnection.connect(**self._params, autocommit=True)
        if self._fast:  # COMMIT_DURABILITY=fast, as storage.db does for the engine's connections
            await dbapi.execute("SET SESSION synchronous_commit TO off")
        return dbapi, time.monotonic(), _Lean(dbapi)

    def close(self) -> None:
        """Close the idle connections (at once, without the event loop: libpq closes the socket)."""
        idle, self._idle = self._idle, []
        for dbapi, _opened_at, _lean in idle:
            _finish(dbapi)


async def _first(connection: AsyncDriverConnection, statement: Statement) -> tuple[Any, ...] | None:
    return await connection.first(*statement)


def _one_lock_order_each(batch: list[_Together]) -> list[list[_Together]]:
    """A batch sorted by lock order, as transactions in which no two statements share it: the first of
    each lock order, then the second, and so on (`AsyncDrivers.first_together`)."""
    transactions: list[list[_Together]] = []
    seen: collections.Counter[tuple[str, ...]] = collections.Counter()
    for entry in batch:
        index = seen[entry[0]]
        seen[entry[0]] += 1
        if index == len(transactions):
            transactions.append([])
        transactions[index].append(entry)
    return transactions


def _fail(batch: list[_Together], error: Exception) -> None:
    for _order, _statement, future in batch:
        if future is not None and not future.done():
            future.set_exception(error)


def _finish(dbapi: psycopg.AsyncConnection[Any]) -> None:
    if not dbapi.closed:
        dbapi.pgconn.finish()
