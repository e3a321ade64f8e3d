"""Alembic environment: runs online against the engine handed in by storage.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Several instances start at once after a deploy, each running the migrations: one at a time per
        # schema, held until this transaction ends. The next one then reads the version the first
        # committed and has nothing left to do (without it, both would create the same tables and one
        # would fail to start). SQLite needs nothing: BEGIN IMMEDIATE already lets one writer in.
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('cdp-bot migrate ' || current_schema()))")
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
