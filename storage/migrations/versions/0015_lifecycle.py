"""lifecycle: each community's lifecycle state, since when and why, and its transitions

Revision ID: 0015
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (NULL until the first daily pass), not a batch table rebuild: a rebuild of
    # `communities` on SQLite would silently drop 0006's triggers (see 0010).
    op.add_column("communities", sa.Column("lifecycle_state", sa.String(length=16), nullable=True))
    op.add_column("communities", sa.Column("lifecycle_since", sa.DateTime(), nullable=True))
    op.add_column("communities", sa.Column("lifecycle_reason", sa.JSON(), nullable=True))
    op.create_table(
        "lifecycle_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        # Entering "dormant": when the moderators' message was written to the outbox (NULL: still owed,
        # waiting for the community's working hours).
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lifecycle_transitions_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_transitions")),
    )
    op.create_index(
        "ix_lifecycle_transitions_community", "lifecycle_transitions", ["community_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_lifecycle_transitions_community", table_name="lifecycle_transitions")
    op.drop_table("lifecycle_transitions")
    op.drop_column("communities", "lifecycle_reason")
    op.drop_column("communities", "lifecycle_since")
    op.drop_column("communities", "lifecycle_state")
