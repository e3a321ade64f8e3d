"""backfill_leases: which instance reads a bound channel's history (see storage.models.BackfillLease).

Times here are the transport's real time, given by the caller (a lease lives in real time, like the
outbox's, whatever clock the domain reads).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from storage.models import BackfillLease
from storage.repositories.upsert import dialect_insert


def hold(session: Session, *, binding_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """Take or renew the lease on a binding's backfill: True when `owner` holds it until `until`.

    One upsert, a compare-and-set: the row is written only when it is new, already `owner`'s, or its
    holder let it pass. Of two instances asking at once, exactly one gets its row back (PostgreSQL: the
    second waits for the first's commit, then its WHERE sees the first's lease; SQLite: writers take
    turns)."""
    table = BackfillLease.__table__
    statement = (
        dialect_insert(session, BackfillLease)
        .values(binding_id=binding_id, owner=owner, held_until=until)
        .on_conflict_do_update(
            index_elements=["binding_id"],
            set_={"owner": owner, "held_until": until},
            where=or_(table.c.owner == owner, table.c.held_until < now),
        )
        .returning(table.c.binding_id)
    )
    return session.execute(statement).first() is not None


def release(session: Session, *, binding_id: int, owner: str) -> None:
    """Give the lease up (the backfill is done or stopped): another instance may take it at once."""
    session.execute(
        delete(BackfillLease).where(BackfillLease.binding_id == binding_id, BackfillLease.owner == owner)
    )
