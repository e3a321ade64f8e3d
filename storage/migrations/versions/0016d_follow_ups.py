"""follow_ups: a review's "no" or "partly" turned into something to do, with an owner and a date;
communities.sponsor_id: the manager a review summary can be sent to (issue 11, item 5)

Revision ID: 0016d
Revises: 0016b
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016d"
down_revision = "0016b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch table rebuild: a rebuild of `communities` on SQLite would silently
    # drop 0006's triggers (see 0010).
    op.add_column("communities", sa.Column("sponsor_id", sa.String(length=32), nullable=True))
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("done_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_follow_ups_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_follow_ups_review_id_reviews"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("review_id", "item", name="uq_follow_ups_review_item"),
    )
    # The open follow-ups of some communities (the moderators' Home, the next review's prompt) and of
    # one owner (their Home): both read only rows still open, by these keys.
    op.create_index(
        "ix_follow_ups_community_open", "follow_ups", ["community_id", "done_at", "due_on"], unique=False
    )
    op.create_index(
        "ix_follow_ups_owner_open", "follow_ups", ["team_id", "owner_id", "done_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_follow_ups_owner_open", table_name="follow_ups")
    op.drop_index("ix_follow_ups_community_open", table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_column("communities", "sponsor_id")
