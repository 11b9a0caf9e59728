"""Room on each ``users`` page for its rows' next versions (PostgreSQL only).

Every revocation updates a user row (``token_version``, ``disabled``). With PostgreSQL's default
fillfactor of 100 a page holds no spare room, so such an update is not HOT: the new version goes to
another page and every index on ``users`` gets a new entry -- the trigram GIN index around sixty of
them per row. A bulk revoke of 10,000 users on a table full of such pages ran past the 15 s
statement timeout (docs/performance.md). With 15 % of each page kept free the update stays on its
page and touches no index.

``ALTER TABLE ... SET (fillfactor)`` rewrites nothing and takes no lock that blocks reads or
writes: pages written from now on keep the room; existing pages get it when the table is rewritten
(``VACUUM FULL users``, or pg_repack without the lock), an operator's choice that
docs/performance.md describes. SQLite has no fillfactor; its update is in place.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FILLFACTOR = 85


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE users SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE users RESET (fillfactor)")
