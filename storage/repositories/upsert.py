"""INSERT ... ON CONFLICT for the two databases we support (both speak it, with their own dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: Any) -> Any:
    """The dialect's `insert()`, which has `on_conflict_do_nothing/update`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_ignoring_conflicts(session: Session, model: Any, keys: list[str]) -> Any:
    return dialect_insert(session, model).on_conflict_do_nothing(index_elements=keys)
