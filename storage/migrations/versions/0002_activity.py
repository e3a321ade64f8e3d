"""activity days, circle changes, forgotten users, channel backfill state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "forgotten_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forgotten_users")),
        sa.UniqueConstraint("team_id", "user_id", name="uq_forgotten_users_team_user"),
    )
    op.create_table(
        "activity_days",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("contributions", sa.Integer(), nullable=False),
        sa.Column("reactions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_activity_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_days")),
        sa.UniqueConstraint(
            "team_id", "community_id", "channel_id", "user_id", "day", name="uq_activity_days_key"
        ),
    )
    with op.batch_alter_table("activity_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_days_member", ["team_id", "community_id", "user_id", "day"], unique=False
        )

    op.create_table(
        "circle_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("from_circle", sa.String(length=16), nullable=False),
        sa.Column("to_circle", sa.String(length=16), nullable=False),
        sa.Column("reason_key", sa.String(length=80), nullable=False),
        sa.Column("reason_params", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_circle_changes_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_changes")),
    )
    with op.batch_alter_table("circle_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circle_changes_community_id"), ["community_id"], unique=False)

    with op.batch_alter_table("community_channels", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("backfill_status", sa.String(length=16), server_default="pending", nullable=False)
        )
        batch_op.add_column(sa.Column("backfill_cursor", sa.String(length=255), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("community_channels", schema=None) as batch_op:
        batch_op.drop_column("backfill_cursor")
        batch_op.drop_column("backfill_status")

    with op.batch_alter_table("circle_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circle_changes_community_id"))

    op.drop_table("circle_changes")
    with op.batch_alter_table("activity_days", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_days_member")

    op.drop_table("activity_days")
    op.drop_table("forgotten_users")
