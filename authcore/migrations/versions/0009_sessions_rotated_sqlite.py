"""SQLite: an index on ``sessions.refresh_rotated_at``, so the live activity view finds refreshes.

A refresh rotation sets ``refresh_rotated_at``; on SQLite the activity follower
(``authcore.activityfeed``) reads new rotations by that column, which needs an index to stay a
range read at a million sessions. SQLite only: on PostgreSQL a rotation announces itself by
``pg_notify`` (``authcore.activity``), and an index there would make every rotation's UPDATE
touch an index (no longer HOT). Not in ``authcore.models`` for that reason (one engine only;
``tests/test_migrate.py`` allows extra indexes). Creating it reads the table once; nothing locks
readers.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_sessions_rotated"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON sessions (refresh_rotated_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
