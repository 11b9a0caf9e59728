"""Authority in the database: who wrote each audit event, an append-only audit, and the
SECURITY DEFINER functions through which roles without direct write rights change data.

Both engines: ``audit_events.client`` (claimed context such as ``ssh 10.1.2.3``) and
``audit_events.db_role`` (nullable; events written before keep NULL in both, so their hashes --
which cover the two fields only when one is set -- stay verifiable).

PostgreSQL only (see ``authcore.pgroles`` for the roles and grants, docs/security.md):

* ``db_role`` defaults to ``session_user``: the role the connection authenticated as, written by
  the database (SECURITY DEFINER does not change ``session_user``). Added without a default
  first, so existing rows stay NULL.
* a trigger refuses UPDATE and DELETE on ``audit_events`` for every role, the owner included;
  only ``authcore_audit_retain`` (owner only) removes old events.
* ``authcore_event_hash``/``authcore_canon`` compute the event hash in SQL, byte for byte as
  ``authcore.audit.event_hash`` (tests compare), so the functions chain events themselves.
* the functions: each does its change, its audit event and its revocation notice (row plus
  ``pg_notify``) in the caller's transaction, refuses an empty reason, and runs with a pinned
  ``search_path``. EXECUTE is revoked from PUBLIC; ``authconsole db roles`` grants it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# name(argument types) of every function, for the REVOKE and for the downgrade.
FUNCTIONS = (
    "authcore_canon(jsonb)",
    "authcore_event_hash(bigint, timestamptz, text, text, bigint, text, text, text, text, text, text)",
    "authcore_reason(text)",
    "authcore_append_event(text, text, text, bigint, text, text, jsonb, text, timestamptz)",
    "authcore_notice(timestamptz, text, bigint, integer, text[])",
    "authcore_audit_append(text, text, text, bigint, text, jsonb, text)",
    "authcore_revoke_tokens(bigint, text, text, text)",
    "authcore_bump_many(bigint[], text, text, text, jsonb)",
    "authcore_delete_session(text, text, text, text)",
    "authcore_delete_sessions(bigint, text, text, text)",
    "authcore_set_disabled(bigint, boolean, text, text, text)",
    "authcore_prune_sessions(timestamptz, integer, text, text)",
    "authcore_audit_retain(bigint, text, text)",
)

_PINNED = "SET search_path = {schema}, pg_temp"
_DEFINER = "LANGUAGE plpgsql SECURITY DEFINER " + _PINNED

SQL = r"""
CREATE FUNCTION authcore_canon(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE {pinned} AS $$
-- Python's json.dumps(j, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for the
-- values authcore writes (objects, arrays, strings, integers, booleans, null). Keys sort by
-- code point (UTF-8 byte order, COLLATE "C"); to_json(text) escapes as Python does.
BEGIN
  CASE jsonb_typeof(j)
    WHEN 'object' THEN
      RETURN '{' || coalesce((SELECT string_agg(to_json(k)::text || ':' || authcore_canon(v),
                                                ',' ORDER BY k COLLATE "C")
                              FROM jsonb_each(j) AS e(k, v)), '') || '}';
    WHEN 'array' THEN
      RETURN '[' || coalesce((SELECT string_agg(authcore_canon(v), ',' ORDER BY n)
                              FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n)), '')
             || ']';
    WHEN 'string' THEN
      RETURN to_json(j #>> '{}')::text;
    ELSE
      RETURN j::text;
  END CASE;
END $$;

CREATE FUNCTION authcore_event_hash(p_seq bigint, p_at timestamptz, p_actor text,
    p_action text, p_user bigint, p_session text, p_reason text, p_details text, p_prev text,
    p_client text, p_role text) RETURNS text
LANGUAGE sql STABLE {pinned} AS $$
  -- authcore.audit.event_hash: sha256 of the canonical JSON array; p_details is already
  -- canonical text. client and db_role are appended only when one of them is set.
  SELECT encode(sha256(convert_to(
    '[' || p_seq::text || ','
    || to_json(to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00')::text
    || ',' || to_json(p_actor)::text || ',' || to_json(p_action)::text
    || ',' || coalesce(p_user::text, 'null') || ',' || coalesce(to_json(p_session)::text, 'null')
    || ',' || to_json(p_reason)::text || ',' || p_details || ',' || to_json(p_prev)::text
    || CASE WHEN p_client IS NULL AND p_role IS NULL THEN ''
            ELSE ',' || coalesce(to_json(p_client)::text, 'null') || ','
                 || coalesce(to_json(p_role)::text, 'null') END
    || ']', 'UTF8')), 'hex')
$$;

CREATE FUNCTION authcore_reason(p_reason text) RETURNS text
LANGUAGE plpgsql IMMUTABLE {pinned} AS $$
-- authcore.revoke._reason: required, at most 1000 characters.
DECLARE r text := btrim(coalesce(p_reason, ''), E' \t\n\r\f\v');
BEGIN
  IF r = '' THEN
    RAISE EXCEPTION 'a reason is required' USING ERRCODE = '22023';
  END IF;
  IF length(r) > 1000 THEN
    RAISE EXCEPTION 'the reason is too long (at most 1000 characters)' USING ERRCODE = '22023';
  END IF;
  RETURN r;
END $$;

CREATE FUNCTION authcore_append_event(p_action text, p_actor text, p_reason text,
    p_user bigint, p_session text, p_details_canon text, p_details jsonb, p_client text,
    p_at timestamptz) RETURNS bigint
{definer} AS $$
-- Append one event under the head's row lock (internal: called by the functions below).
DECLARE h record; s bigint; hx text;
BEGIN
  SELECT seq, hash INTO h FROM audit_head WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the audit_head row is missing: run authconsole db upgrade';
  END IF;
  s := h.seq + 1;
  hx := authcore_event_hash(s, p_at, p_actor, p_action, p_user, p_session, p_reason,
                            p_details_canon, h.hash, p_client, session_user::text);
  INSERT INTO audit_events (seq, at, actor, action, target_user_id, target_session, reason,
                            details, prev_hash, hash, client)
  VALUES (s, p_at, p_actor, p_action, p_user, p_session, p_reason,
          coalesce(p_details, p_details_canon::jsonb)::json, h.hash, hx, p_client);
  UPDATE audit_head SET seq = s, hash = hx WHERE id = 1;
  RETURN s;
END $$;

CREATE FUNCTION authcore_notice(p_at timestamptz, p_kind text, p_user bigint,
    p_version integer, p_sessions text[]) RETURNS void
{definer} AS $$
-- authcore.notices.publish for one user: the rows, then NOTIFY (at most 100 sessions each).
DECLARE i integer;
BEGIN
  IF p_kind = 'session' THEN
    IF coalesce(cardinality(p_sessions), 0) = 0 THEN RETURN; END IF;
    INSERT INTO revocations (at, kind, user_id, token_version, session_id)
      SELECT p_at, 'session', p_user, NULL, s FROM unnest(p_sessions) AS s;
    FOR i IN 1 .. cardinality(p_sessions) BY 100 LOOP
      PERFORM pg_notify('authcore_revocations', json_build_object(
        'k', 'session', 'u', p_user, 's', p_sessions[i:i + 99])::text);
    END LOOP;
  ELSE
    INSERT INTO revocations (at, kind, user_id, token_version, session_id)
      VALUES (p_at, p_kind, p_user, p_version, NULL);
    PERFORM pg_notify('authcore_revocations', json_build_object(
      'k', p_kind, 'u', json_build_array(p_user), 'v', json_build_array(p_version))::text);
  END IF;
END $$;

CREATE FUNCTION authcore_audit_append(p_action text, p_actor text, p_reason text,
    p_user bigint, p_session text, p_details jsonb, p_client text) RETURNS bigint
{definer} AS $$
-- An audit event without a change (refresh reuse, bulk summaries): roles without INSERT on
-- audit_events append through this; the database hashes, links and stamps it.
BEGIN
  IF coalesce(p_action, '') = '' THEN
    RAISE EXCEPTION 'an action is required' USING ERRCODE = '22023';
  END IF;
  RETURN authcore_append_event(p_action, p_actor, authcore_reason(p_reason), p_user, p_session,
                               authcore_canon(coalesce(p_details, '{{}}')),
                               coalesce(p_details, '{{}}'), p_client, clock_timestamp());
END $$;

CREATE FUNCTION authcore_revoke_tokens(p_user bigint, p_reason text, p_actor text,
    p_client text)
RETURNS TABLE (user_id bigint, token_version integer, email text, active bigint)
{definer} AS $$
-- One round trip: the bump, its chained audit event, the notice row and pg_notify.
#variable_conflict use_column
DECLARE r text := authcore_reason(p_reason); at timestamptz := clock_timestamp();
        v integer; e text; n bigint;
BEGIN
  UPDATE users u SET token_version = u.token_version + 1 WHERE u.id = p_user
    RETURNING u.token_version, u.email INTO v, e;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no user with id %', p_user USING ERRCODE = 'P0002';
  END IF;
  SELECT count(*) INTO n FROM sessions s WHERE s.user_id = p_user AND s.expires_at > at;
  PERFORM authcore_append_event('revoke_tokens', p_actor, r, p_user, NULL,
    '{{"new_version":' || v || ',"old_version":' || (v - 1) || '}}', NULL, p_client, at);
  PERFORM authcore_notice(at, 'version', p_user, v, NULL);
  RETURN QUERY SELECT p_user, v, e, n;
END $$;

CREATE FUNCTION authcore_bump_many(p_ids bigint[], p_reason text, p_actor text,
    p_client text, p_extra jsonb)
RETURNS TABLE (user_id bigint, token_version integer, email text)
{definer} AS $$
-- AdminService.bump_many_in: one UPDATE, one event per user with details
-- {{"old_version", "new_version", "bulk": true, **p_extra}}, one notice per 500 users.
#variable_conflict use_column
DECLARE r text := authcore_reason(p_reason); at timestamptz := clock_timestamp();
        parts text[] := '{{}}'; i_new integer; i_old integer; i integer := 0; kv record;
        ids bigint[]; vs integer[]; es text[]; k integer; d text;
BEGIN
  FOR kv IN SELECT key, value FROM jsonb_each(coalesce(p_extra, '{{}}') ||
      '{{"bulk": true, "new_version": 0, "old_version": 0}}') ORDER BY key COLLATE "C" LOOP
    i := i + 1;
    IF kv.key = 'new_version' THEN i_new := i; parts[i] := '';
    ELSIF kv.key = 'old_version' THEN i_old := i; parts[i] := '';
    ELSE parts[i] := to_json(kv.key)::text || ':' || authcore_canon(kv.value);
    END IF;
  END LOOP;
  WITH b AS (UPDATE users u SET token_version = u.token_version + 1 WHERE u.id = ANY(p_ids)
             RETURNING u.id, u.token_version, u.email)
  SELECT array_agg(b.id ORDER BY b.id), array_agg(b.token_version ORDER BY b.id),
         array_agg(b.email ORDER BY b.id) INTO ids, vs, es FROM b;
  IF ids IS NULL THEN RETURN; END IF;
  FOR k IN 1 .. cardinality(ids) LOOP
    parts[i_new] := '"new_version":' || vs[k];
    parts[i_old] := '"old_version":' || (vs[k] - 1);
    d := '{{' || array_to_string(parts, ',') || '}}';
    PERFORM authcore_append_event('revoke_tokens', p_actor, r, ids[k], NULL, d, NULL, p_client,
                                  at);
  END LOOP;
  INSERT INTO revocations (at, kind, user_id, token_version, session_id)
    SELECT at, 'version', x.u, x.v, NULL FROM unnest(ids, vs) AS x(u, v);
  FOR k IN 1 .. cardinality(ids) BY 500 LOOP
    PERFORM pg_notify('authcore_revocations', json_build_object(
      'k', 'version', 'u', ids[k:k + 499], 'v', vs[k:k + 499])::text);
  END LOOP;
  RETURN QUERY SELECT x.u, x.v, x.e FROM unnest(ids, vs, es) AS x(u, v, e);
END $$;

CREATE FUNCTION authcore_delete_session(p_sid text, p_reason text, p_actor text,
    p_client text)
RETURNS TABLE (user_id bigint, email text, token_version integer, disabled boolean,
               active bigint)
{definer} AS $$
#variable_conflict use_column
DECLARE r text := authcore_reason(p_reason); at timestamptz := clock_timestamp();
        uid bigint; n bigint;
BEGIN
  DELETE FROM sessions s WHERE s.public_id = p_sid RETURNING s.user_id INTO uid;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no session %', quote_literal(left(p_sid, 60)) USING ERRCODE = 'P0002';
  END IF;
  SELECT count(*) INTO n FROM sessions s WHERE s.user_id = uid AND s.expires_at > at;
  PERFORM authcore_append_event('delete_session', p_actor, r, uid, p_sid, '{{}}', NULL,
                                p_client, at);
  PERFORM authcore_notice(at, 'session', uid, NULL, ARRAY[p_sid]);
  RETURN QUERY SELECT u.id, u.email::text, u.token_version, u.disabled, n
               FROM users u WHERE u.id = uid;
END $$;

CREATE FUNCTION authcore_delete_sessions(p_user bigint, p_reason text, p_actor text,
    p_client text)
RETURNS TABLE (user_id bigint, email text, token_version integer, disabled boolean,
               deleted integer)
{definer} AS $$
#variable_conflict use_column
DECLARE r text := authcore_reason(p_reason); at timestamptz := clock_timestamp();
        u record; sids text[];
BEGIN
  SELECT x.id, x.email, x.token_version, x.disabled INTO u FROM users x WHERE x.id = p_user
    FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no user with id %', p_user USING ERRCODE = 'P0002';
  END IF;
  WITH d AS (DELETE FROM sessions s WHERE s.user_id = p_user RETURNING s.public_id)
  SELECT coalesce(array_agg(d.public_id), '{{}}') INTO sids FROM d;
  PERFORM authcore_append_event('delete_sessions', p_actor, r, p_user, NULL,
    '{{"sessions_deleted":' || cardinality(sids) || '}}', NULL, p_client, at);
  PERFORM authcore_notice(at, 'session', p_user, NULL, sids);
  RETURN QUERY SELECT u.id, u.email::text, u.token_version, u.disabled, cardinality(sids);
END $$;

CREATE FUNCTION authcore_set_disabled(p_user bigint, p_disabled boolean, p_reason text,
    p_actor text, p_client text)
RETURNS TABLE (user_id bigint, email text, token_version integer, disabled boolean,
               active bigint, deleted integer)
{definer} AS $$
-- AdminService.set_disabled: disabling also bumps token_version and deletes the sessions.
#variable_conflict use_column
DECLARE r text := authcore_reason(p_reason); at timestamptz := clock_timestamp();
        step integer := CASE WHEN p_disabled THEN 1 ELSE 0 END;
        v integer; e text; sids text[] := '{{}}'; n bigint; d text := '{{}}';
BEGIN
  UPDATE users u SET disabled = p_disabled,
         disabled_at = CASE WHEN p_disabled THEN at END,
         token_version = u.token_version + step
   WHERE u.id = p_user RETURNING u.token_version, u.email INTO v, e;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no user with id %', p_user USING ERRCODE = 'P0002';
  END IF;
  IF p_disabled THEN
    WITH x AS (DELETE FROM sessions s WHERE s.user_id = p_user RETURNING s.public_id)
    SELECT coalesce(array_agg(x.public_id), '{{}}') INTO sids FROM x;
    d := '{{"new_version":' || v || ',"old_version":' || (v - 1) || ',"sessions_deleted":'
         || cardinality(sids) || '}}';
  END IF;
  SELECT count(*) INTO n FROM sessions s WHERE s.user_id = p_user AND s.expires_at > at;
  PERFORM authcore_append_event(CASE WHEN p_disabled THEN 'disable_user' ELSE 'enable_user' END,
                                p_actor, r, p_user, NULL, d, NULL, p_client, at);
  PERFORM authcore_notice(at, CASE WHEN p_disabled THEN 'disabled' ELSE 'enabled' END, p_user,
                          v, NULL);
  PERFORM authcore_notice(at, 'session', p_user, NULL, sids);
  RETURN QUERY SELECT p_user, e, v, p_disabled, n, cardinality(sids);
END $$;

CREATE FUNCTION authcore_prune_sessions(p_cutoff timestamptz, p_batch integer,
    p_actor text, p_client text) RETURNS integer
{definer} AS $$
-- One batch of SessionService.prune: expired sessions deleted, one event when any were.
DECLARE n integer; at timestamptz := clock_timestamp(); cutoff timestamptz;
BEGIN
  cutoff := least(p_cutoff, at);  -- never a session that has not expired
  DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= cutoff
                                    LIMIT greatest(p_batch, 1));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM authcore_append_event('sessions_pruned', p_actor, 'expired sessions pruned', NULL,
      NULL, '{{"deleted":' || n || ',"expired_before":'
      || to_json(to_char(cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))::text
      || '}}', NULL, p_client, at);
  END IF;
  RETURN n;
END $$;

CREATE FUNCTION authcore_audit_retain(p_keep_from bigint, p_reason text, p_actor text)
RETURNS bigint
{definer} AS $$
-- Retention, the only way to remove audit events (owner only: EXECUTE is granted to nobody).
-- Deletes events before seq p_keep_from and appends an audit_retention event recording the
-- first kept event's seq and prev_hash: `audit verify` then starts the chain there.
DECLARE r text := authcore_reason(p_reason); h record; k record; n bigint;
BEGIN
  SELECT seq, hash INTO h FROM audit_head WHERE id = 1 FOR UPDATE;
  SELECT seq, prev_hash INTO k FROM audit_events WHERE seq = p_keep_from;
  IF NOT FOUND OR p_keep_from < 1 THEN
    RAISE EXCEPTION 'no audit event with seq % to keep from', p_keep_from USING ERRCODE = '22023';
  END IF;
  PERFORM set_config('authcore.audit_retention', 'on', true);
  DELETE FROM audit_events WHERE seq > 0 AND seq < p_keep_from;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('authcore.audit_retention', 'off', true);
  PERFORM authcore_audit_append('audit_retention', p_actor, r, NULL, NULL,
    jsonb_build_object('removed', n, 'first_kept_seq', k.seq,
                       'first_kept_prev_hash', k.prev_hash), NULL);
  RETURN n;
END $$;

CREATE FUNCTION authcore_audit_immutable() RETURNS trigger
LANGUAGE plpgsql {pinned} AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('authcore.audit_retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused (old events are removed only by '
                  'authcore_audit_retain)', TG_OP USING ERRCODE = '42501';
END $$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION authcore_audit_immutable();
"""


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("client", sa.String(200), nullable=True))
    op.add_column("audit_events", sa.Column("db_role", sa.String(200), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The default only after the column exists: rows written before keep NULL.
    op.execute("ALTER TABLE audit_events ALTER COLUMN db_role SET DEFAULT session_user")
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
    definer = _DEFINER.format(schema=f'"{schema}"')
    pinned = _PINNED.format(schema=f'"{schema}"')
    ddl = SQL.replace("{definer}", definer).replace("{pinned}", pinned).replace("{{", "{").replace("}}", "}")
    # On the driver connection, in the migration's transaction: no bind-parameter parsing of
    # the ':' and '%' in the function bodies.
    dbapi = bind.connection.dbapi_connection
    assert dbapi is not None  # a live connection: the migration's own
    dbapi.cursor().execute(ddl)
    for fn in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS authcore_audit_immutable()")
        for fn in reversed(FUNCTIONS):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.drop_column("audit_events", "db_role")
    op.drop_column("audit_events", "client")
