"""``authcore_prune_sessions`` records the operator's reason (PostgreSQL only).

``sessions prune`` needs ``--reason`` like revoke, and the reason goes into every
``sessions_pruned`` event. Roles that write through the SECURITY DEFINER functions prune with
``authcore_prune_sessions``, which wrote a fixed reason: the function gains ``p_reason``
(checked by ``authcore_reason``, as every other function does). Who could EXECUTE the old
function can EXECUTE the new one (grants carried over), so no ``db roles --apply`` is needed.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD = "authcore_prune_sessions(timestamptz, integer, text, text)"
NEW = "authcore_prune_sessions(timestamptz, integer, text, text, text)"

_BODY = r"""
CREATE FUNCTION authcore_prune_sessions(p_cutoff timestamptz, p_batch integer,
    p_actor text, p_client text{reason_param}) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
-- One batch of SessionService.prune: expired sessions deleted, one event when any were.
DECLARE n integer; at timestamptz := clock_timestamp(); cutoff timestamptz;
  r text := authcore_reason({reason});
BEGIN
  cutoff := least(p_cutoff, at);  -- never a session that has not expired
  DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= cutoff
                                    LIMIT greatest(p_batch, 1));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM authcore_append_event('sessions_pruned', p_actor, r, NULL,
      NULL, '{{"deleted":' || n || ',"expired_before":'
      || to_json(to_char(cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))::text
      || '}}', NULL, p_client, at);
  END IF;
  RETURN n;
END $$;
"""


def _swap(old: str, new: str, reason_param: str, reason: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
    grantees = [
        r[0]
        for r in bind.exec_driver_sql(
            "SELECT a.grantee::regrole::text FROM pg_proc p, aclexplode(p.proacl) a "
            f"WHERE p.oid = '{old}'::regprocedure AND a.privilege_type = 'EXECUTE' "
            "AND a.grantee <> 0 AND a.grantee <> p.proowner"
        )
    ]
    ddl = _BODY.format(schema=f'"{schema}"', reason_param=reason_param, reason=reason)
    # On the driver connection: no bind-parameter parsing of the ':' and '%' in the body.
    dbapi = bind.connection.dbapi_connection
    assert dbapi is not None  # a live connection: the migration's own
    dbapi.cursor().execute(ddl)
    op.execute(f"REVOKE ALL ON FUNCTION {new} FROM PUBLIC")
    for role in grantees:  # regrole::text is already quoted where needed
        op.execute(f"GRANT EXECUTE ON FUNCTION {new} TO {role}")
    op.execute(f"DROP FUNCTION {old}")


def upgrade() -> None:
    _swap(OLD, NEW, ", p_reason text", "p_reason")


def downgrade() -> None:
    _swap(NEW, OLD, "", "'expired sessions pruned'")
