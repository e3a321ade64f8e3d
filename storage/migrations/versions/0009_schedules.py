"""due times the scheduler reads by index: communities.next_due_at, reviews.next_step_at

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_communities_next_due_at"), ["next_due_at"], unique=False)
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_step_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_reviews_next_step_at"), ["next_step_at"], unique=False)
    op.create_index(
        "ix_outbox_dedupe_prefix",
        "outbox",
        ["dedupe_key"],
        postgresql_ops={"dedupe_key": "varchar_pattern_ops"},
    )
    # The data: the same set-based fill the benchmarks use for rows inserted by raw SQL. The UTC instant
    # comes from the pure cadence rule (DST-safe), so the code is shared rather than frozen here.
    from storage.schedule import fill_next_due, fill_next_steps

    connection = op.get_bind()
    fill_next_due(connection)
    fill_next_steps(connection)


def downgrade() -> None:
    # Plain DROP INDEX / DROP COLUMN (SQLite 3.35+ has it), not a batch table rebuild: a rebuild of
    # `communities` on SQLite would silently drop the binding-version triggers of migration 0006.
    op.drop_index("ix_outbox_dedupe_prefix", table_name="outbox")
    for table, column in (("reviews", "next_step_at"), ("communities", "next_due_at")):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
        op.drop_column(table, column)
