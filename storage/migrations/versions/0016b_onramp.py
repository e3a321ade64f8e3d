"""onramp: the onramp figures as they were when each review prompt went out (issue 11, item 2)

Revision ID: 0016b
Revises: 0016e
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016b"
down_revision = "0016e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the reviews sent before: their prompt had no onramp figures, the next one shows no
    # "last review" comparison. Plain ADD COLUMN, no batch rebuild (see 0015).
    op.add_column("reviews", sa.Column("onramp", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("reviews", "onramp")
