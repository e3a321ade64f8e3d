"""the welcome, once: communities.welcome_enabled and welcome_text, memberships.welcomed_at

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch table rebuild: a rebuild of `communities` on SQLite would silently
    # drop the binding-version triggers of migration 0006 (see 0009).
    op.add_column(
        "communities", sa.Column("welcome_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.add_column("communities", sa.Column("welcome_text", sa.String(length=2000), nullable=True))
    op.add_column("memberships", sa.Column("welcomed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("memberships", "welcomed_at")
    op.drop_column("communities", "welcome_text")
    op.drop_column("communities", "welcome_enabled")
