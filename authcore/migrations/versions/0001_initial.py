"""Initial schema: users, sessions, audit chain, revocation log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from authcore.models import GENESIS_HASH, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _lower_index(name: str, column: str, unique: bool) -> None:
    """Index on lower(column); byte order ("C") on PostgreSQL so prefix ranges use it."""
    collate = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    op.execute(
        f"CREATE {kind} {name} ON users ((lower({column}){collate}), id)"
        if not unique
        else f"CREATE {kind} {name} ON users ((lower({column}){collate}))"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"),
    )
    _lower_index("ux_users_email_lower", "email", unique=True)
    _lower_index("ux_users_username_lower", "username", unique=True)
    _lower_index("ix_users_email_lower_id", "email", unique=False)
    _lower_index("ix_users_username_lower_id", "username", unique=False)
    _lower_index("ix_users_display_lower_id", "display_name", unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(40), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("first_ip", sa.String(64), nullable=True),
        sa.Column("last_ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("refresh_counter", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refresh_rotated_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_sessions_user_created", "sessions", ["user_id", "created_at"])
    op.create_index("ix_sessions_created", "sessions", ["created_at"])
    op.create_index("ix_sessions_expires", "sessions", ["expires_at"])

    op.create_table(
        "audit_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_user_id", sa.BigInteger(), nullable=True),
        sa.Column("target_session", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_user_id", "audit_events", ["target_user_id", "id"])
    op.create_index("ix_audit_action_id", "audit_events", ["action", "id"])

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])

    op.create_table(
        "revocations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(40), nullable=True),
    )
    op.create_index("ix_revocations_at", "revocations", ["at"])


def downgrade() -> None:
    for table in ("revocations", "audit_head", "audit_events", "sessions", "users"):
        op.drop_table(table)
