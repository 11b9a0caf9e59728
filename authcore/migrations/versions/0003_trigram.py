"""Substring ("contains") search: a trigram index over email, username and display name.

PostgreSQL: ``pg_trgm`` and one GIN index on ``users.search_text``, a stored generated column
holding the three lowered fields joined by a control character (a search term can never contain
one, so no match spans two fields). Storing it makes the per-row recheck a plain LIKE on one
column instead of three ``lower()`` calls: about 3x cheaper, and the planner gets statistics on
it (target 1000) to choose between the trigram index (rare terms) and walking the primary key
(terms that match most rows); ``ix_users_id_search`` (id INCLUDE search_text) makes that walk
an index-only scan. Adding the column rewrites ``users`` once.
SQLite: an FTS5 ``trigram`` table with external content (``users``), kept in sync by triggers.
The UPDATE trigger fires only when a searched column changes, so version bumps and disables do
not touch the index.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PG_SEARCH_EXPR = "lower(email) || chr(1) || lower(username) || chr(1) || lower(display_name)"

SQLITE_COLS = "email, username, display_name"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            f"ALTER TABLE users ADD COLUMN search_text text GENERATED ALWAYS AS ({PG_SEARCH_EXPR}) STORED"
        )
        op.execute("ALTER TABLE users ALTER COLUMN search_text SET STATISTICS 1000")
        op.execute("CREATE INDEX ix_users_search_trgm ON users USING gin (search_text gin_trgm_ops)")
        # Terms most users match: walk ids in order reading only this index (index-only scan)
        # until the page is full, instead of visiting every row's heap page.
        op.execute("CREATE INDEX ix_users_id_search ON users (id) INCLUDE (search_text)")
        op.execute("ANALYZE users")
        return
    op.execute(
        f"CREATE VIRTUAL TABLE users_trgm USING fts5({SQLITE_COLS}, content='users', "
        f"content_rowid='id', tokenize='trigram')"
    )
    op.execute("INSERT INTO users_trgm(users_trgm) VALUES ('rebuild')")
    new = "new.id, new.email, new.username, new.display_name"
    old = "'delete', old.id, old.email, old.username, old.display_name"
    op.execute(
        f"CREATE TRIGGER users_trgm_ai AFTER INSERT ON users BEGIN "
        f"INSERT INTO users_trgm(rowid, {SQLITE_COLS}) VALUES ({new}); END"
    )
    op.execute(
        f"CREATE TRIGGER users_trgm_ad AFTER DELETE ON users BEGIN "
        f"INSERT INTO users_trgm(users_trgm, rowid, {SQLITE_COLS}) VALUES ({old}); END"
    )
    op.execute(
        f"CREATE TRIGGER users_trgm_au AFTER UPDATE OF {SQLITE_COLS} ON users BEGIN "
        f"INSERT INTO users_trgm(users_trgm, rowid, {SQLITE_COLS}) VALUES ({old}); "
        f"INSERT INTO users_trgm(rowid, {SQLITE_COLS}) VALUES ({new}); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_users_id_search")
        op.execute("DROP INDEX IF EXISTS ix_users_search_trgm")
        op.execute("ALTER TABLE users DROP COLUMN IF EXISTS search_text")
        return  # pg_trgm stays: other schemas may use it
    for trig in ("users_trgm_ai", "users_trgm_ad", "users_trgm_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trig}")
    op.execute("DROP TABLE IF EXISTS users_trgm")
