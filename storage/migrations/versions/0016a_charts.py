"""charts: the file id of each community's chart uploaded to Slack, per day and language

Revision ID: 0016a
Revises: 0016d
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016a"
down_revision = "0016d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chart_files",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("alt_text", sa.String(length=2000), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_chart_files_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "community_id", "day", "lang", name=op.f("pk_chart_files")),
    )


def downgrade() -> None:
    op.drop_table("chart_files")
