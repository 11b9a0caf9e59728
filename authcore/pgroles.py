"""PostgreSQL roles: what each kind of client may do, enforced by the database.

Three NOLOGIN group roles (names cluster-wide, so a prefix keeps several installs -- or test
runs -- apart):

* ``authcore_app``: what an app needs (README's example): read users and sessions, log in
  (sessions; ``users.last_login_at`` only), refresh, log out (also ``authcore_delete_session``,
  audited), user events (``user_events``: logout, refresh replay/reuse; insert only),
  revocation notices. No version bump, no disable, no write to the audit but that delete's.
* ``authconsole_viewer``: SELECT only.
* ``authconsole_admin``: SELECT, plus EXECUTE on the SECURITY DEFINER functions of migration
  0004 (each: change + audit event + notice in one transaction; an empty reason is refused),
  and ``bulk_runs`` (a bulk run's bookkeeping). No direct UPDATE of ``users``, no write on
  ``sessions``, ``audit_events`` or ``audit_head``.

Only the owner of the tables (who ran ``db upgrade``) keeps direct write rights; a trigger
refuses UPDATE/DELETE on ``audit_events`` even for it. Operators get a login role per person
(``CREATE ROLE ops2 LOGIN IN ROLE authconsole_viewer``) or peer authentication.

authcore writes through the functions whenever its connection's role lacks direct write rights
(``direct_writer``); the owner (and SQLite) keep the direct fast path.
"""

from __future__ import annotations

import contextlib
import json
import re
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

APP, VIEWER, ADMIN = "authcore_app", "authconsole_viewer", "authconsole_admin"
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,30}")

_READ = (
    "users",
    "sessions",
    "audit_events",
    "audit_head",
    "revocations",
    "bulk_runs",
    "user_events",
    "alembic_version",
)
_ADMIN_FUNCS = (
    "authcore_revoke_tokens(bigint, text, text, text)",
    "authcore_bump_many(bigint[], text, text, text, jsonb)",
    "authcore_delete_session(text, text, text, text)",
    "authcore_delete_sessions(bigint, text, text, text)",
    "authcore_set_disabled(bigint, boolean, text, text, text)",
    "authcore_prune_sessions(timestamptz, integer, text, text, text)",
    "authcore_audit_append(text, text, text, bigint, text, jsonb, text)",
)
# An app's own events (logout, refresh replay/reuse) go to user_events, off the chain: it needs
# no generic audit append, only the audited single-session delete (README's older logout).
_APP_FUNCS = ("authcore_delete_session(text, text, text, text)",)


@dataclass(frozen=True)
class RoleNames:
    app: str
    viewer: str
    admin: str

    @classmethod
    def with_prefix(cls, prefix: str = "") -> RoleNames:
        if prefix and not _PREFIX.fullmatch(prefix):
            from authcore.errors import ValidationError

            raise ValidationError(
                "a role prefix is lower-case letters, digits and _ "
                "(starting with a letter, at most 31 characters)"
            )
        return cls(prefix + APP, prefix + VIEWER, prefix + ADMIN)


def roles_sql(prefix: str = "", schema: str = "public") -> list[str]:
    """The statements that create (if missing) the three roles and grant what each may do.
    Idempotent: safe to apply again after an upgrade."""
    r = RoleNames.with_prefix(prefix)
    q = f'"{schema}"'
    out = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
        f"CREATE ROLE {name} NOLOGIN; END IF; END $$"
        for name in (r.app, r.viewer, r.admin)
    ]
    everyone = f"{r.app}, {r.viewer}, {r.admin}"
    out += [
        f"GRANT USAGE ON SCHEMA {q} TO {everyone}",
        # start from nothing on the tables and functions (re-applying never widens)
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {q} FROM {everyone}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {q} FROM {everyone}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {q} FROM {everyone}",
        f"GRANT SELECT ON {', '.join(f'{q}.{t}' for t in _READ)} TO {r.viewer}, {r.admin}",
        f"GRANT INSERT, UPDATE ON {q}.bulk_runs TO {r.admin}",
        f"GRANT SELECT ON {q}.users, {q}.sessions, {q}.revocations, {q}.alembic_version TO {r.app}",
        f"GRANT UPDATE (last_login_at) ON {q}.users TO {r.app}",
        f"GRANT INSERT, UPDATE, DELETE ON {q}.sessions TO {r.app}",
        f"GRANT INSERT ON {q}.revocations, {q}.user_events TO {r.app}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {q} TO {r.app}",
    ]
    out += [f"GRANT EXECUTE ON FUNCTION {q}.{fn} TO {r.admin}" for fn in _ADMIN_FUNCS]
    out += [f"GRANT EXECUTE ON FUNCTION {q}.{fn} TO {r.app}" for fn in _APP_FUNCS]
    return out


def drop_sql(prefix: str) -> list[str]:
    """Remove the three roles again (tests; the database's own objects stay)."""
    r = RoleNames.with_prefix(prefix)
    return [
        stmt
        for name in (r.app, r.viewer, r.admin)
        for stmt in (f"DROP OWNED BY {name}", f"DROP ROLE IF EXISTS {name}")
    ]


def apply(engine: Any, prefix: str = "") -> list[str]:
    """Run ``roles_sql`` in one transaction (needs CREATEROLE and ownership of the tables)."""
    from authcore.db import translate_errors

    with translate_errors(engine), engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        stmts = roles_sql(prefix, schema)
        for stmt in stmts:
            conn.exec_driver_sql(stmt)
    return stmts


def database_role(engine: Any, prefix: str = "") -> tuple[str, str | None]:
    """``(session_user, kind)``: kind is ``owner`` (direct write rights), ``admin``,
    ``viewer``, ``app`` or None (none of the roles)."""
    r = RoleNames.with_prefix(prefix)
    from authcore.db import read_conn

    with read_conn(engine) as conn:
        row = conn.exec_driver_sql(
            "SELECT session_user, has_table_privilege('audit_events', 'INSERT'), "
            "(SELECT array_agg(rolname::text) FROM pg_roles "
            " WHERE rolname = ANY(%s) AND pg_has_role(session_user, oid, 'MEMBER'))",
            ([r.admin, r.viewer, r.app],),
        ).one()
    user, writer, member = row[0], bool(row[1]), set(row[2] or ())
    if writer:
        return user, "owner"
    for name, kind in ((r.admin, "admin"), (r.viewer, "viewer"), (r.app, "app")):
        if name in member:
            return user, kind
    return user, None


def _args(args: Sequence[Any]) -> list[Any]:
    from sqlalchemy import bindparam

    return [bindparam(a) if isinstance(a, str) else a for a in args]


def function_rows(name: str, *args: Any) -> Any:
    """``SELECT * FROM name(args)`` as a Core statement (compile it once: ``authcore.compiled``).
    A ``str`` argument is an untyped bind of that name (the function's signature types it)."""
    from sqlalchemy import func, literal_column, select

    return select(literal_column("*")).select_from(getattr(func, name)(*_args(args)))


def function_value(name: str, *args: Any) -> Any:
    """``SELECT name(args)`` as a Core statement (arguments as for ``function_rows``)."""
    from sqlalchemy import func, select

    return select(getattr(func, name)(*_args(args)))


def _append_stmt() -> Any:
    from sqlalchemy import bindparam, cast
    from sqlalchemy.dialects.postgresql import JSONB

    details = cast(bindparam("details"), JSONB)
    return function_value(
        "authcore_audit_append",
        "action",
        "actor",
        "reason",
        "target_user_id",
        "target_session",
        details,
        "client",
    )


_direct: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_APPEND: Any = None


def _engine_of(conn: Any) -> Any:
    return conn.engine  # a SQLAlchemy Connection or a fastpath.RawTx: both have one


def _may_write_directly() -> Any:
    """Whether the role may INSERT audit events and UPDATE users: the owner's rights."""
    from sqlalchemy import and_, func, select

    return select(
        and_(
            func.has_table_privilege("audit_events", "INSERT"),
            func.has_table_privilege("users", "UPDATE"),
        )
    )


def direct_writer(engine_or_conn: Any) -> bool:
    """Whether this connection's role may write the tables directly (the owner; checked once
    per engine). Anyone else writes through the functions, and the database decides."""
    from sqlalchemy import Engine

    engine = engine_or_conn if isinstance(engine_or_conn, Engine) else _engine_of(engine_or_conn)
    got = _direct.get(engine)
    if got is None:
        from authcore.compiled import Compiled

        c = Compiled(_may_write_directly(), engine.dialect)  # once per engine: kept in _direct
        if isinstance(engine_or_conn, Engine):
            from authcore.db import read_conn

            with read_conn(engine) as conn:
                got = bool(conn.exec_driver_sql(c.sql, c.params({})).scalar())
        else:
            got = bool(engine_or_conn.exec_driver_sql(c.sql, c.params({})).fetchone()[0])
        _direct[engine] = got
    return got


def append_events(conn: Any, events: Sequence[Any]) -> int:
    """``audit.append`` for a role without direct rights: one ``authcore_audit_append`` per
    event (the database stamps, hashes and links each). Returns the last seq."""
    global _APPEND
    from authcore.compiled import once

    if _APPEND is None:
        _APPEND = once(_append_stmt())
    c = _APPEND(conn.dialect)
    seq = 0
    for ev in events:
        params = {
            "action": ev.action,
            "actor": ev.actor,
            "reason": ev.reason,
            "target_user_id": ev.target_user_id,
            "target_session": ev.target_session,
            "details": json.dumps(ev.details, default=str),
            "client": ev.client,
        }
        seq = conn.exec_driver_sql(c.sql, c.params(params)).fetchone()[0]
    return int(seq)


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """The functions' own refusals become authcore errors (no such user or session:
    ``NotFound``; a missing or over-long reason: ``ValidationError``); a permission refusal
    stays the database's error (``permission denied``)."""
    from sqlalchemy import exc

    from authcore.errors import NotFound, ValidationError

    try:
        yield
    except exc.DBAPIError as e:
        state = getattr(e.orig, "sqlstate", None)
        msg = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        if state == "P0002":
            raise NotFound(msg) from None
        if state == "22023":
            raise ValidationError(msg) from None
        raise


def call(conn: Any, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Run one function call inside the caller's transaction (see ``refusals``)."""
    with refusals():
        return list(conn.exec_driver_sql(sql, params).fetchall())
