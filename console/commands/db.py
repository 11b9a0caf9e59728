"""``authconsole db upgrade|status``."""

from __future__ import annotations

import argparse

from console.output import emit_json, line


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("db", parents=[common], help="schema migrations")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dsub.add_parser("upgrade", parents=[common], help="create or upgrade the schema").set_defaults(
        func=upgrade
    )
    dsub.add_parser("status", parents=[common], help="show the schema revision").set_defaults(func=status)
    r = dsub.add_parser(
        "roles",
        parents=[common],
        help="PostgreSQL roles: print (or --apply) the SQL for authcore_app, "
        "authconsole_viewer and authconsole_admin",
    )
    r.add_argument(
        "--apply", action="store_true", help="run it (needs CREATEROLE and ownership of the tables)"
    )
    r.add_argument(
        "--prefix",
        default=None,
        metavar="TEXT",
        help="prefix of the three role names (default: role_prefix from the config)",
    )
    r.add_argument("--schema", default="public", help="schema of the tables (printing only)")
    r.set_defaults(func=roles)


def _engine(ctx, create: bool):  # type: ignore[no-untyped-def]
    from authcore.db import make_engine

    return make_engine(ctx.database_url(), create=create)


def _report(ctx, st, engine) -> None:  # type: ignore[no-untyped-def]
    from authcore.db import mask_url

    url = mask_url(engine.url.render_as_string(hide_password=False))
    if ctx.json:
        emit_json(
            {
                "database": url,
                "current": st.current,
                "head": st.head,
                "pending": st.pending,
                "up_to_date": st.up_to_date,
            }
        )
    else:
        line(f"database: {url}")
        line(
            f"revision: {st.current or '(empty)'}  head: {st.head}  "
            f"{'up to date' if st.up_to_date else 'pending: ' + ', '.join(st.pending)}"
        )


def upgrade(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import migrate

    if ctx.args.read_only:
        from authcore.errors import ReadOnlyError

        raise ReadOnlyError("refused: read-only mode; the schema was not changed")
    engine = _engine(ctx, create=True)
    try:
        _report(ctx, migrate.upgrade(engine), engine)
    finally:
        engine.dispose()
    return 0


def status(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import migrate

    engine = _engine(ctx, create=False)
    try:
        st = migrate.status(engine)
        _report(ctx, st, engine)
    finally:
        engine.dispose()
    return 0 if st.up_to_date else 1


def roles(ctx) -> int:  # type: ignore[no-untyped-def]
    """Print the role SQL, or apply it in one transaction (the database refuses a role that
    may not create roles or grant on the tables: one line, nothing done)."""
    from authcore import pgroles
    from authcore.errors import ValidationError
    from console.cli import UsageError

    a = ctx.args
    prefix = a.prefix if a.prefix is not None else ctx.config.role_prefix
    try:
        stmts = pgroles.roles_sql(prefix, a.schema)
    except ValidationError as e:
        raise UsageError(f"--prefix: {e}") from None
    if not a.apply:
        if ctx.json:
            emit_json({"prefix": prefix, "statements": stmts})
        else:
            for stmt in stmts:
                line(stmt + ";")
        return 0
    if a.read_only or ctx.config.read_only:
        from authcore.errors import ReadOnlyError

        raise ReadOnlyError("refused: read-only mode; no role was created or granted")
    from authcore.db import make_engine

    engine = make_engine(ctx.database_url())
    try:
        if engine.dialect.name != "postgresql":
            raise UsageError(
                "db roles --apply needs PostgreSQL: on SQLite roles are advisory "
                "(one operator; file mode 0600)"
            )
        done = pgroles.apply(engine, prefix)
    finally:
        engine.dispose()
    if ctx.json:
        emit_json({"prefix": prefix, "applied": len(done)})
    else:
        names = pgroles.RoleNames.with_prefix(prefix)
        line(f"applied {len(done)} statements: roles {names.app}, {names.viewer}, {names.admin}")
    return 0
