"""processed_events: the ledger that makes event handling idempotent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.models import ProcessedEvent
from storage.repositories.upsert import prepared_insert_ignoring_conflicts


def claim(session: Session, *, team_id: str, event_id: str, now: datetime) -> bool:
    """Insert the id unless present; True when this call inserted it.

    ON CONFLICT DO NOTHING keeps concurrent retries (two instances, one event) from raising:
    exactly one of them gets the row back.
    """
    values = {"event_id": event_id, "team_id": team_id, "received_at": now}
    # Built once per dialect: every slash command and interaction claims its trigger_id here.
    # RETURNING says whether this statement inserted the row (rowcount is not reliable on every driver).
    statement = prepared_insert_ignoring_conflicts(
        session, ProcessedEvent, ("event_id",), returning="event_id"
    )
    return session.execute(statement, values).first() is not None


def prune(session: Session, *, older_than: datetime) -> int:
    result = session.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
