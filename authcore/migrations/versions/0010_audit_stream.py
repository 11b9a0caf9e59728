"""The audit log as a stream (authcore/auditstream.py, docs/audit-stream.md).

- ``ix_audit_actor_id`` and ``ix_audit_at``: ``audit list --actor`` and ``--since/--until``
  with a time start from an index like ``--user`` and ``--action`` do (``ix_audit_user_id``,
  ``ix_audit_action_id``); a seq bound uses the unique ``seq`` index.
- PostgreSQL: a statement-level trigger NOTIFYs ``authcore_audit`` whenever events are appended,
  by any writer (the Python append, the SECURITY DEFINER functions of migration 0004, retention),
  so ``audit tail -f`` and the console's audit screen wake on commit instead of polling. The
  notice is sent at commit and only then (a rolled-back append announces nothing); identical
  notices of one transaction are folded into one by PostgreSQL, so a bulk append costs one.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHANNEL = "authcore_audit"  # authcore.auditstream.CHANNEL (tests compare)


def upgrade() -> None:
    op.create_index("ix_audit_actor_id", "audit_events", ["actor", "id"])
    op.create_index("ix_audit_at", "audit_events", ["at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
CREATE FUNCTION authcore_audit_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', '');
  RETURN NULL;
END $$;
CREATE TRIGGER authcore_audit_notify AFTER INSERT ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION authcore_audit_notify();
"""
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS authcore_audit_notify ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS authcore_audit_notify()")
    op.drop_index("ix_audit_at", "audit_events")
    op.drop_index("ix_audit_actor_id", "audit_events")
