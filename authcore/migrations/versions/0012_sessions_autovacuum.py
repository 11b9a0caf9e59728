"""Autovacuum and autoanalyze of ``sessions`` after a fixed share of churn, not a fifth of the
table (PostgreSQL only).

Every login inserts a session and every logout deletes one, all at the newest end of
``ix_sessions_created``: the end the console's "needs attention" reads first (the window's
newest sessions) and the end the planner probes when a time is past its statistics. PostgreSQL's
defaults wait for 20 % of the table dead (3M sessions: 600k dead rows) before vacuuming and 10 %
changed before analyzing, so on a busy table that end holds dead entries for hours: the first
read after them visits the heap for each (about 2 us) and marks it dead, and every read does so
again while a snapshot older than the logouts is open (docs/performance.md, "Churn at the
window's end"). With 2 % / 1 % the table is vacuumed after 60k dead rows and analyzed after 30k
changes at 3M sessions: minutes of heavy churn, not hours (200k logins and logouts at 900k
sessions: vacuumed 4 s after them, the first read 55 ms instead of 361 ms).

``ALTER TABLE ... SET`` of storage parameters rewrites nothing and takes a SHARE UPDATE
EXCLUSIVE lock (logins and logouts go on). It changes nothing where autovacuum is off for the
server (``autovacuum = off``): that is the operator's, and then so is vacuuming. SQLite has no
autovacuum of this kind; nothing to do.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: Storage parameters of ``sessions`` (tests compare with ``pg_class.reloptions``).
SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0.02",
    "autovacuum_vacuum_insert_scale_factor": "0.02",
    "autovacuum_analyze_scale_factor": "0.01",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        values = ", ".join(f"{k} = {v}" for k, v in SETTINGS.items())
        op.execute(f"ALTER TABLE sessions SET ({values})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE sessions RESET ({', '.join(SETTINGS)})")
