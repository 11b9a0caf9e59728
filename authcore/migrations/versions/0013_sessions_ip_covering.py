"""The IP indexes of ``sessions`` cover an IP-prefix page: ``ip, created_at, public_id,
expires_at`` instead of the address alone (migration 0011).

``SessionService.recent`` filtered by an IP prefix reads, per column, the newest page of the
prefix's range and cuts their union to one page (``authcore.sessions._ip_page``); with every term
of that read in the index (the range, the order and keyset, ``active_only``'s expiry), the
matches are read from the index alone and only the page's rows from the table. With the address
alone, every match cost a row read: ``81.23.`` (about 1 session in 2,000) read ~1,400 rows at 3M
sessions and would read ~14k at 30M, beyond the 10 ms the session list has (docs/performance.md,
"10M run"). PostgreSQL keeps ``COLLATE "C"`` on the address (byte order, as the range is).

Cost: each entry is ~64 bytes instead of ~24 (220 MB per index at 3M sessions instead of 90 MB).
Writes: ``first_ip`` and ``created_at``/``public_id`` never change; a touch rewrites ``last_ip``
and ``last_seen_at`` (not indexed here), so an UPDATE from the same address stays HOT on
PostgreSQL as before; ``expires_at`` was indexed already (``ix_sessions_expires``).

Indexes only, rebuilt under their 0011 names: each build reads the table once (PostgreSQL: about
8 s per 3M sessions, holding a SHARE lock, so logins wait; SQLite about 7 s).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEXES = {"ix_sessions_last_ip": "last_ip", "ix_sessions_first_ip": "first_ip"}
COVERED = ("created_at", "public_id", "expires_at")


def _build(covered: tuple[str, ...]) -> None:
    collate = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    for name, column in INDEXES.items():
        op.drop_index(name, "sessions")
        op.execute(f"CREATE INDEX {name} ON sessions ({', '.join((column + collate, *covered))})")


def upgrade() -> None:
    _build(COVERED)


def downgrade() -> None:
    _build(())
