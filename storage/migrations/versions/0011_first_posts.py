"""first posts: a newcomer's first message noticed once, and the time to its first reply

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-29

- first_posts: who posted for the first time, where and when, and when someone else first replied
  (timestamps only, never text);
- memberships.first_contribution_at: the claim that the first contribution was noticed (once). Everyone
  who already contributed is marked here, so nobody who posted before gets thanked as a newcomer;
- community_channels.awaiting_reply_since: set while a first post in the channel waits for a reply
  (the counting statement returns it; not a binding column, so the binding triggers ignore it);
- communities.first_post_emoji: the reaction added to a first post ("" for none).

Plain ADD COLUMN (no batch rebuild): a rebuild of `communities` or `community_channels` on SQLite
would silently drop the binding-version triggers of migration 0006.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "first_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("first_reply_at", sa.DateTime(), nullable=True),
        sa.Column("first_reply_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_first_posts_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_first_posts")),
        sa.UniqueConstraint("team_id", "community_id", "user_id", name="uq_first_posts_member"),
    )
    op.create_index(
        "ix_first_posts_awaiting",
        "first_posts",
        ["team_id", "channel_id", "posted_at"],
        sqlite_where=sa.text("first_reply_at IS NULL"),
        postgresql_where=sa.text("first_reply_at IS NULL"),
    )
    op.create_index("ix_first_posts_recent", "first_posts", ["team_id", "community_id", "posted_at"])
    op.add_column("memberships", sa.Column("first_contribution_at", sa.DateTime(), nullable=True))
    op.add_column("community_channels", sa.Column("awaiting_reply_since", sa.DateTime(), nullable=True))
    op.add_column("community_channels", sa.Column("awaiting_reply_from", sa.String(length=32), nullable=True))
    op.add_column(
        "communities",
        sa.Column("first_post_emoji", sa.String(length=64), nullable=False, server_default="wave"),
    )
    # Whoever contributed before this migration is no newcomer: their first post was long ago.
    op.execute(
        "UPDATE memberships SET first_contribution_at = joined_at WHERE EXISTS ("
        "SELECT 1 FROM activity_days a WHERE a.team_id = memberships.team_id"
        " AND a.community_id = memberships.community_id AND a.user_id = memberships.user_id"
        " AND a.contributions > 0)"
    )


def downgrade() -> None:
    op.drop_column("communities", "first_post_emoji")
    op.drop_column("community_channels", "awaiting_reply_from")
    op.drop_column("community_channels", "awaiting_reply_since")
    op.drop_column("memberships", "first_contribution_at")
    op.drop_index("ix_first_posts_recent", table_name="first_posts")
    op.drop_index("ix_first_posts_awaiting", table_name="first_posts")
    op.drop_table("first_posts")
