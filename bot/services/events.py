"""Idempotency of Events API callbacks: each event id is handled once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from storage.repositories import events as repo


def first_time(*, session: Session, team_id: str, event_id: str, now: datetime) -> bool:
    """Claim the event id in this transaction; False when it was already handled (a Slack retry)."""
    return repo.claim(session, team_id=team_id, event_id=event_id, now=now)


def prune(*, session: Session, older_than: datetime) -> int:
    return repo.prune(session, older_than=older_than)
