"""activity by member with its contributions (index-only scans for the circle recompute on PostgreSQL)

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-29

The daily circle pass (storage/repositories/circles.py) reads, per member, the days of their window and
grace period through ix_activity_days_member (team, community, user, day). On PostgreSQL the index now
also carries `contributions` (INCLUDE), so those reads never visit the table: an index-only scan of the
rows in the window, however long the history. SQLite has no INCLUDE; its index is unchanged.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEY = ["team_id", "community_id", "user_id", "day"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Built before the old one is dropped, so no moment without an index for the event path.
    op.create_index("ix_activity_days_member_v2", "activity_days", KEY, postgresql_include=["contributions"])
    op.drop_index("ix_activity_days_member", table_name="activity_days")
    op.execute("ALTER INDEX ix_activity_days_member_v2 RENAME TO ix_activity_days_member")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_activity_days_member_v1", "activity_days", KEY)
    op.drop_index("ix_activity_days_member", table_name="activity_days")
    op.execute("ALTER INDEX ix_activity_days_member_v1 RENAME TO ix_activity_days_member")
