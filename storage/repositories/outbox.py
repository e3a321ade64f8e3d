"""outbox: Slack calls owed to recipients, written in the deciding transaction, sent by a worker.

Every time here is the transport's real time (Slack's rate limits and a worker's lease live in it),
given by the caller.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, Update, bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from storage.db import OneStatement, for_driver
from storage.models import OutboxMessage
from storage.repositories.upsert import prepared_insert_ignoring_conflicts
from storage.types import UTCDateTime

PENDING = "pending"
SENT = "sent"
SKIPPED = "skipped"
FAILED = "failed"
CANCELLED = "cancelled"
DONE = (SENT, SKIPPED, FAILED, CANCELLED)


def add(
    session: Session,
    *,
    team_id: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
    dedupe_key: str | None = None,
    ref: str | None = None,
    not_before: datetime | None = None,
) -> int | None:
    """Write one delivery; None when a delivery with the same `dedupe_key` exists (already decided)."""
    # Built once per dialect (every join, every message on the request path writes one).
    statement = prepared_insert_ignoring_conflicts(session, OutboxMessage, ("dedupe_key",), returning="id")
    values = {
        "team_id": team_id,
        "kind": kind,
        "target": target,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "ref": ref,
        "status": PENDING,
        "created_at": now,
        "not_before": not_before or now,
        "attempts": 0,
    }
    row = session.execute(statement, values).first()
    return int(row[0]) if row is not None else None


# A batch in ONE statement from one JSON parameter: an executemany sends (and psycopg pipelines) one
# statement per row, which was most of a momentum pass that fires alerts in every community at once
# (40,000 deliveries: 1.8 s). json_to_recordset, not jsonb: `payload` keeps its keys as written.
_ADD_MANY = {
    "postgresql": """
        INSERT INTO outbox (team_id, kind, target, payload, dedupe_key, ref, status, created_at,
                            not_before, attempts)
        SELECT team_id, kind, target, payload, dedupe_key, ref, :status, :now, :now, 0
        FROM json_to_recordset(CAST(:rows AS json)) AS x(team_id text, kind text, target text,
             payload json, dedupe_key text, ref text)
        ON CONFLICT (dedupe_key) DO NOTHING
    """,
    # `WHERE true`: SQLite's parser needs it between INSERT ... SELECT and an upsert clause.
    "sqlite": """
        INSERT INTO outbox (team_id, kind, target, payload, dedupe_key, ref, status, created_at,
                            not_before, attempts)
        SELECT json_extract(value, '$.team_id'), json_extract(value, '$.kind'),
               json_extract(value, '$.target'), json(json_extract(value, '$.payload')),
               json_extract(value, '$.dedupe_key'), json_extract(value, '$.ref'), :status, :now, :now, 0
        FROM json_each(:rows) WHERE true
        ON CONFLICT (dedupe_key) DO NOTHING
    """,
}


def add_many(session: Session, *, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """`add` for a batch in one statement (a scheduled job's deliveries); rows carry team_id, kind,
    target, payload, dedupe_key, ref. A row whose `dedupe_key` exists is skipped, as in `add`; rows are
    inserted (their ids given) in the order of `rows`."""
    if not rows:
        return
    values = [
        {
            "team_id": row["team_id"],
            "kind": row["kind"],
            "target": row["target"],
            "payload": row["payload"],
            "dedupe_key": row.get("dedupe_key"),
            "ref": row.get("ref"),
        }
        for row in rows
    ]
    statement = text(_ADD_MANY[session.get_bind().dialect.name]).bindparams(
        bindparam("now", type_=UTCDateTime())
    )
    session.execute(statement, {"rows": json.dumps(values), "status": PENDING, "now": now})


def lock_group(session: Session, *, group: str) -> None:
    """Lock the copies of a message group (dedupe keys `group:...`) in id order until the end of the
    transaction (PostgreSQL; SQLite runs one writing transaction at a time and omits the clause)."""
    session.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.dedupe_key.like(f"{group}:%"))
        .order_by(OutboxMessage.id)
        .with_for_update()
    ).all()


def group_alive(session: Session, *, group: str) -> bool:
    """Whether any copy of a message group (dedupe keys `group:...`) was sent or may still be."""
    found = session.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.dedupe_key.like(f"{group}:%"), OutboxMessage.status.in_((PENDING, SENT)))
        .limit(1)
    ).first()
    return found is not None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row, as the worker's senders read it: plain values, no ORM instance (the worker
    claims one per delivery, on the same GIL as the requests; an ORM UPDATE ... RETURNING cost about
    three times this Core one, most of it in SQLAlchemy's bulk-update and identity-map machinery)."""

    id: int
    team_id: str
    kind: str
    target: str
    payload: dict[str, Any]
    ref: str | None
    attempts: int
    created_at: datetime


def claim_next(
    unit: OneStatement, *, now: datetime, lease: timedelta, busy: Collection[str] = ()
) -> Delivery | None:
    """Take the oldest due delivery for `lease`: no other worker (thread or instance) sends it meanwhile.
    Deliveries to a `busy` target (one is being sent to it now) wait, so one place gets them in order.

    PostgreSQL: SKIP LOCKED lets concurrent workers each take a different row without waiting;
    SQLite serialises writers (BEGIN IMMEDIATE), so the compare-and-set below is enough there.
    """
    # One statement (it was three: the candidate, the claim, the row read back). The outer condition
    # re-checks the row once locked, as the compare-and-set did.
    targets = sorted(busy)
    row = _first(unit, _claim(len(targets)), _claim_values(now, lease, targets))
    return None if row is None else Delivery(*row)


_TABLE: Any = OutboxMessage.__table__
# The worker's statements (`_first`): each runs through a Session or is compiled for the driver.
_Statement = Update | Select[Any]
_UTC = UTCDateTime()
_NOW = bindparam("now", type_=_UTC)
_DUE = (
    (_TABLE.c.status == PENDING)
    & (_TABLE.c.not_before <= _NOW)
    & or_(_TABLE.c.claimed_until.is_(None), _TABLE.c.claimed_until < _NOW)
)


@functools.lru_cache(maxsize=16)  # one per number of busy targets: at most the worker's senders
def _claim(busy_count: int) -> Update:
    """The claim of the oldest due delivery to none of the targets `busy_0`, `busy_1`...: a bound
    parameter each (an expanding one is rendered only once its values are known: not for the driver)."""
    busy: list[BindParameter[Any]] = [bindparam(f"busy_{index}") for index in range(busy_count)]
    return (
        update(_TABLE)
        .where(
            _TABLE.c.id
            == select(_TABLE.c.id)
            .where(_DUE, *([_TABLE.c.target.not_in(busy)] if busy else []))
            .order_by(_TABLE.c.not_before, _TABLE.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery(),
            _DUE,
        )
        .values(claimed_until=bindparam("until", type_=_UTC), attempts=_TABLE.c.attempts + 1)
        .returning(*(_TABLE.c[field.name] for field in fields(Delivery)))
    )


def _claim_values(now: datetime, lease: timedelta, targets: list[str]) -> dict[str, Any]:
    return {"now": now, "until": now + lease, **{f"busy_{i}": target for i, target in enumerate(targets)}}


def _first(unit: OneStatement, statement: _Statement, values: dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of one statement, through a Session or on a pooled connection's driver in autocommit
    (PostgreSQL: Database.one_statement), the same values in and the same rows out.

    The worker claims a delivery, records its outcome and looks for the next due time around every
    send, on the same GIL as the answers. Through a Session, a claim and an outcome cost 842-912 us of
    CPU; on the driver, 303-321 us (PostgreSQL, 400 of each a round, 3 rounds, 2026-12-01; in a second
    loop on more rows, 1,781-2,248 us against 786-1,254 us: docs/PERFORMANCE.md, thirteenth session)."""
    if isinstance(unit, Session):
        row = unit.execute(statement, values).first()
        return None if row is None else tuple(row)
    compiled = for_driver(statement, unit.dialect)
    found = unit.first(compiled.sql, compiled.params(values))
    return None if found is None else compiled.row(found)


def _run(unit: OneStatement, statement: _Statement, values: dict[str, Any]) -> None:
    """`_first` for a statement without rows."""
    if isinstance(unit, Session):
        unit.execute(statement, values)
    else:
        compiled = for_driver(statement, unit.dialect)
        unit.run(compiled.sql, compiled.params(values))


# Built once, on the table (no ORM bulk-update machinery): recorded after every delivery.
_FINISH = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("message_id"))
    .values(
        status=bindparam("new_status"),
        sent_at=bindparam("sent", type_=_UTC),
        error=bindparam("failure"),
        result_channel=bindparam("landed_in"),
        result_ts=bindparam("landed_at"),
        claimed_until=None,
    )
)


def finish(
    unit: OneStatement,
    *,
    message_id: int,
    status: str,
    now: datetime,
    error: str | None = None,
    channel: str | None = None,
    ts: str | None = None,
) -> None:
    values = {
        "message_id": message_id,
        "new_status": status,
        "sent": now if status == SENT else None,
        "failure": error,
        "landed_in": channel,
        "landed_at": ts,
    }
    _run(unit, _FINISH, values)


def retry_at(session: Session, *, message_id: int, when: datetime, error: str) -> None:
    """Not now (a 429's Retry-After, a backoff): release the lease and come back at `when`."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(not_before=when, claimed_until=None, error=error)
    )


def copies(session: Session, *, ref: str) -> Sequence[OutboxMessage]:
    """Every delivery of one message (`ref`), in the order written."""
    return session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.ref == ref, OutboxMessage.kind == "message")
        .order_by(OutboxMessage.id)
    ).all()


def has_sent_or_pending(session: Session, *, ref: str) -> bool:
    """Whether some copy of `ref` was delivered or is on its way (one an update has to reach)."""
    found = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.ref == ref,
            OutboxMessage.kind == "message",
            OutboxMessage.status.in_((PENDING, SENT)),
        )
        .limit(1)
    )
    return found is not None


def cancel_pending(session: Session, *, ref: str, now: datetime) -> int:
    """Copies of `ref` not yet taken by a worker: they will never be sent (the message is outdated)."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.ref == ref,
            OutboxMessage.kind == "message",
            OutboxMessage.status == PENDING,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .values(status=CANCELLED, claimed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def next_due_at(unit: OneStatement) -> datetime | None:
    """When the soonest pending delivery may go (the worker sleeps until then, or until woken)."""
    row = _first(unit, _NEXT_DUE, {})
    return None if row is None else row[0]


_NEXT_DUE = select(func.min(_TABLE.c.not_before)).where(_TABLE.c.status == PENDING)


def pending_count(session: Session, *, due_by: datetime | None = None) -> int:
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == PENDING)
    if due_by is not None:
        query = query.where(OutboxMessage.not_before <= due_by)
    return int(session.scalar(query) or 0)


def prune(session: Session, *, older_than: datetime, copies_older_than: datetime) -> int:
    """Deliveries done long ago: their payload is no longer needed (and holds user ids). Copies of a
    message that may still be updated (a `ref`) are kept longer, until `copies_older_than`."""
    result = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_(DONE),
            OutboxMessage.created_at < older_than,
            or_(OutboxMessage.ref.is_(None), OutboxMessage.created_at < copies_older_than),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
