"""stages: each community's current stage on the path of its typical objectives, and its history

Revision ID: 0016e
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016e"
down_revision = "0015"
branch_labels = None
depends_on = None

# The card's four typical objectives, in its order (bot.domain.communities.OBJECTIVES, copied: a
# migration must not change when the code does).
OBJECTIVES = ("exchange_information", "develop_solutions", "test_applications", "change_process")


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch table rebuild: a rebuild of `communities` on SQLite would silently
    # drop 0006's triggers (see 0010).
    op.add_column("communities", sa.Column("stage", sa.String(length=32), nullable=True))
    # Existing communities start at the first objective they chose, in the card's order; none of the
    # four chosen: no stage. One set-based statement: the JSON list is matched as text (each key is
    # quoted in it, and no key is a part of another), which reads the same on SQLite and PostgreSQL.
    communities = sa.table("communities", sa.column("stage", sa.String()), sa.column("objectives", sa.JSON()))
    objectives = sa.cast(communities.c.objectives, sa.Text())
    first_chosen = sa.case(
        *((objectives.like(f'%"{key}"%'), sa.literal(key)) for key in OBJECTIVES), else_=sa.null()
    )
    op.execute(communities.update().values(stage=first_chosen))
    op.create_table(
        "stage_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=32), nullable=True),
        # The review whose answer moved it on (NULL: set in the settings, or by a change of objectives).
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("changed_by", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_stage_changes_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_stage_changes_review_id_reviews"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes")),
    )
    op.create_index("ix_stage_changes_community", "stage_changes", ["community_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stage_changes_community", table_name="stage_changes")
    op.drop_table("stage_changes")
    op.drop_column("communities", "stage")
