"""``authcore_event_hash`` runs with its caller's ``search_path``, so PostgreSQL inlines it
(PostgreSQL only; nothing changes on SQLite).

Migration 0004 pinned the ``search_path`` of every function, this pure computation included.
A SQL function with a ``SET`` clause is never inlined: each call went through
``fmgr_security_definer`` and ``fmgr_sql``, which planned the body again in every transaction.
That was 43% of the server's instructions for an operator's revoke
(``authcore_revoke_tokens``; callgrind, 1.56M instructions a call before and 0.96M after, against
0.78M for the raw UPDATE, INSERT and ``pg_notify``). Without the clause, the body becomes part of
the calling statement's plan, which plpgsql keeps for the session.

Its callers are the SECURITY DEFINER functions, whose own ``search_path`` is pinned. The inlined
body is parsed under that pinned path, with ``pg_catalog`` first, so a caller's ``search_path``
cannot swap ``to_json`` or ``sha256`` inside a chained event (tests/test_roles.py tries). The
function is not SECURITY DEFINER: a role that calls it directly gains nothing, whatever its path.
The body, owner and grants stay as they are (``ALTER FUNCTION ... RESET``).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

FUNCTION = "authcore_event_hash(bigint, timestamptz, text, text, bigint, text, text, text, text, text, text)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER FUNCTION {FUNCTION} RESET search_path")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
        op.execute(f'ALTER FUNCTION {FUNCTION} SET search_path = "{schema}", pg_temp')
