"""products: what a community has produced, saved by its members (title and link only, never text)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=150), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("saved_by", sa.String(length=32), nullable=False),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_products_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    # The listing reads a community's newest first: one index serves it and the directory's latest three.
    op.create_index("ix_products_community_saved", "products", ["community_id", "saved_at"])


def downgrade() -> None:
    op.drop_index("ix_products_community_saved", table_name="products")
    op.drop_table("products")
