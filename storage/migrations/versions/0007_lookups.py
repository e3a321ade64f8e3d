"""lookups: community names' cache token, indexes for moderators, counts and latest circle changes

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No row for a workspace means "not cached": names are read from the table until the first
    # create, rename or dissolution writes a token, so existing databases need no seeding.
    op.create_table(
        "community_names",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_community_names")),
    )
    op.create_index(
        "ix_memberships_active",
        "memberships",
        ["team_id", "community_id", "role", "circle", "joined_at", "id"],
        unique=False,
        sqlite_where=sa.text("left_at IS NULL"),
        postgresql_where=sa.text("left_at IS NULL"),
    )
    op.create_index(
        "ix_circle_changes_member",
        "circle_changes",
        ["team_id", "user_id", "community_id", "changed_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_circle_changes_member", table_name="circle_changes")
    op.drop_index("ix_memberships_active", table_name="memberships")
    op.drop_table("community_names")
