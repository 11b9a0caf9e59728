"""User events: logouts and refresh replays/reuse, outside the operator's hash chain.

``user_events`` is append-only and has no chain: an app's user-initiated events (one per logout
at fleet rates) must not serialise on ``audit_head``'s lock, which orders the operator's
actions. ``sessions.refresh_replays`` counts the grace replays since the last rotation (one is
allowed; see ``authcore.tokens``).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from authcore.models import ID, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.String(40), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_user_events_user_id", "user_events", ["user_id", "id"])
    op.create_index("ix_user_events_action_id", "user_events", ["action", "id"])
    # a constant default: no table rewrite on PostgreSQL, a plain ADD COLUMN on SQLite
    op.add_column("sessions", sa.Column("refresh_replays", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("sessions") as batch:
            batch.drop_column("refresh_replays")
    else:  # no batch (it would reflect sessions and users) where DROP COLUMN just works
        op.drop_column("sessions", "refresh_replays")
    op.drop_table("user_events")
