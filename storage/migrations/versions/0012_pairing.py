"""pairing: communities.pairing_enabled / pairing_after_days, pairing_people, intros

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default, not a batch table rebuild: a rebuild of `communities` on
    # SQLite would silently drop the binding-version triggers of migration 0006.
    op.add_column(
        "communities",
        sa.Column("pairing_enabled", sa.Boolean(), nullable=False, server_default=sa.text("true")),
    )
    op.add_column(
        "communities",
        sa.Column("pairing_after_days", sa.Integer(), nullable=False, server_default=sa.text("10")),
    )
    op.create_table(
        "pairing_people",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.Column("last_paired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_people")),
        sa.UniqueConstraint("team_id", "user_id", name="uq_pairing_people_team_user"),
    )
    op.create_table(
        "intros",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("newcomer", sa.String(length=32), nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=True),
        sa.Column("pair_low", sa.String(length=32), nullable=True),
        sa.Column("pair_high", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("newcomer_tz", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("introduced_at", sa.DateTime(), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("check_back_at", sa.DateTime(), nullable=True),
        sa.Column("check_back_sent_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_by", sa.String(length=32), nullable=True),
        sa.Column("outcome_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_intros_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intros")),
        sa.UniqueConstraint("team_id", "pair_low", "pair_high", name="uq_intros_pair"),
    )
    op.create_index(op.f("ix_intros_community_id"), "intros", ["community_id"], unique=False)
    op.create_index(op.f("ix_intros_due_at"), "intros", ["due_at"], unique=False)
    op.create_index("ix_intros_newcomer", "intros", ["team_id", "newcomer", "community_id"], unique=False)
    op.create_index("ix_intros_partner", "intros", ["team_id", "partner"], unique=False)
    op.create_index(
        "uq_intros_waiting",
        "intros",
        ["team_id", "community_id", "newcomer"],
        unique=True,
        sqlite_where=sa.text("status = 'waiting'"),
        postgresql_where=sa.text("status = 'waiting'"),
    )


def downgrade() -> None:
    op.drop_table("intros")
    op.drop_table("pairing_people")
    # Plain DROP COLUMN (SQLite 3.35+), for the same reason as above.
    op.drop_column("communities", "pairing_after_days")
    op.drop_column("communities", "pairing_enabled")
