"""app secrets; forgotten users kept as a keyed hash, not their Slack id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of storage/repositories/privacy.py's FORGOTTEN_KEY and user_hash: a migration must
# compute today what the code computes, even after the code changes.
FORGOTTEN_KEY = "forgotten_users_hmac"


def _user_hash(key: str, team_id: str, user_id: str) -> str:
    message = json.dumps([team_id, user_id]).encode()
    return hmac.new(bytes.fromhex(key), message, hashlib.sha256).hexdigest()


def upgrade() -> None:
    app_secrets = op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    # Generated here, once per database: never in the repository, the same for every instance.
    key = secrets.token_hex(32)
    op.bulk_insert(app_secrets, [{"name": FORGOTTEN_KEY, "value": key}])

    with op.batch_alter_table("forgotten_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_hash", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    forgotten = sa.table(
        "forgotten_users",
        sa.column("id", sa.Integer()),
        sa.column("team_id", sa.String()),
        sa.column("user_id", sa.String()),
        sa.column("user_hash", sa.String()),
    )
    rows = connection.execute(sa.select(forgotten.c.id, forgotten.c.team_id, forgotten.c.user_id)).all()
    for row_id, team_id, user_id in rows:
        connection.execute(
            forgotten.update()
            .where(forgotten.c.id == row_id)
            .values(user_hash=_user_hash(key, team_id, user_id))
        )
    with op.batch_alter_table("forgotten_users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_forgotten_users_team_user", type_="unique")
        batch_op.drop_column("user_id")
        batch_op.alter_column("user_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_forgotten_users_user_hash", ["user_hash"])


def downgrade() -> None:
    # A hash cannot give the Slack id back: the forgotten list is lost (those people would be counted
    # again if they post in a community's channel). Downgrading is for development databases only.
    op.execute("DELETE FROM forgotten_users")
    with op.batch_alter_table("forgotten_users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_forgotten_users_user_hash", type_="unique")
        batch_op.drop_column("user_hash")
        batch_op.add_column(sa.Column("user_id", sa.String(length=32), nullable=False))
        batch_op.create_unique_constraint("uq_forgotten_users_team_user", ["team_id", "user_id"])
    op.drop_table("app_secrets")
