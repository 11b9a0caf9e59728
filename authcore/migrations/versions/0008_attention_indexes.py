"""Indexes for the "needs attention" signals (``authcore.attention``), so each reads only its
window or its answer, never a whole table, at 1M users / 3M sessions.

- ``ix_user_events_action_at`` (action, at): refresh reuse within the last N hours is one
  range of it. ``ix_user_events_action_id`` (action, id) could only walk every reuse event ever
  recorded and filter on ``at``: the log is append-only, so that walk grows forever.
- ``ix_sessions_created`` becomes (created_at, user_id): "who opened sessions in the last N
  hours" reads the window's entries only (an index-only scan on PostgreSQL) instead of one heap
  fetch per session for its user, or -- what the planner chose at 5,000 users -- a walk of all
  of ``ix_sessions_user_created``. Same name and same leading column, so every ``ORDER BY
  created_at`` the index served before it serves still; still one index on the login path.
- ``ix_users_disabled_at`` (disabled_at) WHERE disabled, partial: the disabled users, newest
  first, without scanning every user (about 2 % are disabled). A revocation's ``token_version``
  bump changes neither column, so it stays a HOT update (0007).

Indexes only: no table rewrite; on PostgreSQL each build holds a SHARE lock (writes to that table
wait: logins, for the sessions one) for about a second per million rows.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_user_events_action_at", "user_events", ["action", "at"])
    op.drop_index("ix_sessions_created", "sessions")
    op.create_index("ix_sessions_created", "sessions", ["created_at", "user_id"])
    # the predicates as ``where(users.c.disabled)`` renders on each engine: SQLite uses a
    # partial index only for a query term written the same way
    op.create_index(
        "ix_users_disabled_at",
        "users",
        ["disabled_at"],
        postgresql_where=sa.text("disabled"),
        sqlite_where=sa.text("disabled = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_disabled_at", "users")
    op.drop_index("ix_sessions_created", "sessions")
    op.create_index("ix_sessions_created", "sessions", ["created_at"])
    op.drop_index("ix_user_events_action_at", "user_events")
