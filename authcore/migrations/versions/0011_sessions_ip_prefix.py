"""Indexes on ``sessions.last_ip`` and ``sessions.first_ip``, so an IP-prefix filter of the
global session list (``SessionService.recent``: the console's sessions screen, ``sessions list
--filter``) reads its matches instead of every session (docs/performance.md, "10M run").

The filter is a range ``p <= ip < successor(p)`` on each column; PostgreSQL's indexes are in byte
order (``COLLATE "C"``, as the filter's predicates are), whatever the database's collation, so the
range is a prefix and can use them. SQLite's default BINARY collation is byte order already.

Write cost: ``first_ip`` is written once, at login. ``last_ip`` is rewritten on every touch
(``_TOUCH`` sets it with ``last_seen_at``), but an UPDATE that leaves an indexed column's value
unchanged stays HOT on PostgreSQL, so only a touch from a new address adds an index entry.

Indexes only: no table rewrite; each build reads the table once (about 5 s per 3M sessions on
PostgreSQL, holding a SHARE lock: logins wait; about 8 s on SQLite).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = {"ix_sessions_last_ip": "last_ip", "ix_sessions_first_ip": "first_ip"}


def upgrade() -> None:
    collate = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON sessions ({column}{collate})")


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "sessions")
