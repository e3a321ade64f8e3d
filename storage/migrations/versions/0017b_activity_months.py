"""data retention: activity_months, the monthly totals of the daily counters rolled up by the nightly job

Revision ID: 0017b
Revises: 0016c
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017b"
down_revision = "0016c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_months",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("contributions", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_activity_months_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_months")),
        sa.UniqueConstraint("team_id", "community_id", "user_id", "month", name="uq_activity_months_key"),
    )
    op.create_index("ix_activity_months_community", "activity_months", ["community_id", "month"])


def downgrade() -> None:
    op.drop_index("ix_activity_months_community", table_name="activity_months")
    op.drop_table("activity_months")
