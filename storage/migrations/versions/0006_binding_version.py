"""binding_versions: a counter bumped by triggers on every change of a channel binding or of what
counting reads from a community (status, time zone, circle rule); the channel-binding caches watch it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# An upsert, not an UPDATE: a database emptied by hand (or by the tests) still gets its version back.
PG_BUMP = (
    "INSERT INTO binding_versions (id, version) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET version = binding_versions.version + 1"
)
SQLITE_BUMP = (
    "INSERT OR REPLACE INTO binding_versions (id, version) "
    "VALUES (1, COALESCE((SELECT version FROM binding_versions WHERE id = 1), 0) + 1)"
)
# What a cached binding holds (storage/bindings.py): a change of any other column leaves caches valid.
CHANNEL_COLUMNS = "team_id, channel_id, community_id, bound_at"
COMMUNITY_COLUMNS = (
    "status, timezone, circle_window_days, inner_min_contributions, inner_min_days, demotion_grace_days"
)


def upgrade() -> None:
    versions = op.create_table(
        "binding_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_binding_versions")),
    )
    op.bulk_insert(versions, [{"id": 1, "version": 0}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION cdp_bump_binding_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {PG_BUMP}; RETURN NULL; END $$"
        )
        for name, when in (
            ("community_channels_binding_version", f"INSERT OR DELETE OR UPDATE OF {CHANNEL_COLUMNS}"),
            ("communities_binding_version", f"DELETE OR UPDATE OF {COMMUNITY_COLUMNS}"),
        ):
            table = name.removesuffix("_binding_version")
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION cdp_bump_binding_version()"
            )
        return
    for name, when, table in (
        ("community_channels_bv_insert", "INSERT", "community_channels"),
        ("community_channels_bv_delete", "DELETE", "community_channels"),
        ("community_channels_bv_update", f"UPDATE OF {CHANNEL_COLUMNS}", "community_channels"),
        ("communities_bv_delete", "DELETE", "communities"),
        ("communities_bv_update", f"UPDATE OF {COMMUNITY_COLUMNS}", "communities"),
    ):
        op.execute(f"CREATE TRIGGER {name} AFTER {when} ON {table} BEGIN {SQLITE_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS community_channels_binding_version ON community_channels")
        op.execute("DROP TRIGGER IF EXISTS communities_binding_version ON communities")
        op.execute("DROP FUNCTION IF EXISTS cdp_bump_binding_version()")
    else:
        for name in (
            "community_channels_bv_insert",
            "community_channels_bv_delete",
            "community_channels_bv_update",
            "communities_bv_delete",
            "communities_bv_update",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("binding_versions")
