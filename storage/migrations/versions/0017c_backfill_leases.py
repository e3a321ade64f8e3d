"""backfill leases: which instance reads a bound channel's history, until when (several instances)

Revision ID: 0017c
Revises: 0016c
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017c"
down_revision = "0017a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backfill_leases",
        sa.Column("binding_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("held_until", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["binding_id"],
            ["community_channels.id"],
            name=op.f("fk_backfill_leases_binding_id_community_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("binding_id", name=op.f("pk_backfill_leases")),
    )


def downgrade() -> None:
    op.drop_table("backfill_leases")
