"""Group indexes for the session list's IP filter: each /16's sessions, newest first.

``SessionService.recent`` filtered by an IP prefix read every match from the IP indexes'
range (0013) and kept the newest page: fine for an address or a /24, but ``81.23.`` (a /16, about
1 session in 2,000) costs every match, ~1,400 index entries at 3M sessions and ~14k at 30M
(5.7 ms SQLite / 7.9 ms PostgreSQL at 10M users, 3.4x / 2.7x the 1M figure: docs/performance.md,
"10M run"). These indexes put the address's /16 first (``ip_group``: the address through its
second dot), then the list's order: a prefix through its /16 reads its group newest first and
stops at the page, whatever the table's size (``authcore.sessions.IpShape.GROUP``). The range
stays a filter in the index (the address is the last key column), so ``81.23.4`` is served too.

The key is an expression, the same text as ``authcore.sessions.ip_group`` renders (SQLite uses an
expression index only for an identical expression; tests/test_sessions_filter.py checks each
engine's plan): PostgreSQL ``substring(ip, '^[0-9]+\\.[0-9]+\\.')`` (NULL for other text), SQLite
``substr``/``instr`` up to the second dot.

Cost: one more index per address column (~70 bytes an entry); each build reads the table once
(PostgreSQL: about 10 s per 3M sessions, holding a SHARE lock, so logins wait; SQLite about 10 s).
Writes: the expression reads only the address, so an UPDATE that keeps ``last_ip`` stays HOT.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = {"ix_sessions_last_ip_group": "last_ip", "ix_sessions_first_ip_group": "first_ip"}
ORDER = ("created_at", "public_id", "expires_at")


def group_sql(column: str, dialect: str) -> str:
    """``authcore.sessions.ip_group`` of ``column`` as that dialect's SQL (the index key)."""
    if dialect == "postgresql":
        return f"substring({column}, '^[0-9]+\\.[0-9]+\\.')"
    first = f"instr({column}, '.')"
    return f"substr({column}, 1, {first} + instr(substr({column}, {first} + 1), '.'))"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    collate = ' COLLATE "C"' if dialect == "postgresql" else ""
    for name, column in INDEXES.items():
        keys = (f"({group_sql(column, dialect)})", *ORDER, column + collate)
        op.execute(f"CREATE INDEX {name} ON sessions ({', '.join(keys)})")


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "sessions")
