"""INSERT ... ON CONFLICT for the two databases we support (both speak it, with their own dialect)."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: Any) -> Any:
    """The dialect's `insert()`, which has `on_conflict_do_nothing/update`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_ignoring_conflicts(session: Session, model: Any, keys: list[str]) -> Any:
    return dialect_insert(session, model).on_conflict_do_nothing(index_elements=keys)


def prepared_insert_ignoring_conflicts(
    session: Session, model: Any, keys: tuple[str, ...], returning: str | None = None
) -> Any:
    """`insert_ignoring_conflicts` on the model's table (Core: no ORM bulk machinery), built once per
    dialect and reused: executed with a dict of values, it costs no clause construction nor cache-key
    computation on the request path (the values' keys pick the compiled form, cached by SQLAlchemy)."""
    return _prepared(session.get_bind().dialect.name, cast(Table, model.__table__), keys, returning)


@cache
def _prepared(dialect: str, table: Table, keys: tuple[str, ...], returning: str | None) -> Any:
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.on_conflict_do_nothing(index_elements=list(keys))
    return statement.returning(table.c[returning]) if returning is not None else statement
