"""``authconsole db upgrade|status``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.output import emit_json, line

if TYPE_CHECKING:
    from authcore.core import AuthCore
    from authcore.migrate import Status
    from authcore.reads import ReplicaStatus
    from console.cli import Ctx


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
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


def _core(ctx: Ctx, create: bool) -> AuthCore:
    """The command's core (``Ctx.core``): schema work acts for no operator."""
    return ctx.core(create=create, operator=False)


def _report(ctx: Ctx, st: Status, core: AuthCore, replica: ReplicaStatus | None = None) -> None:
    url = core.url_masked
    if ctx.json:
        doc: dict[str, object] = {
            "database": url,
            "current": st.current,
            "head": st.head,
            "pending": st.pending,
            "up_to_date": st.up_to_date,
        }
        if replica is not None:
            doc["replica"] = replica.to_dict()
        emit_json(doc)
    else:
        line(f"database: {url}")
        line(
            f"revision: {st.current or '(empty)'}  head: {st.head}  "
            f"{'up to date' if st.up_to_date else 'pending: ' + ', '.join(st.pending)}"
        )
        if replica is not None:  # url masked, error one line: both from authcore
            line(f"read replica: {replica.url}  {'WARNING: ' if replica.warn else ''}{replica.summary()}")


def upgrade(ctx: Ctx) -> int:
    if ctx.args.read_only:
        from authcore.errors import ReadOnlyError

        raise ReadOnlyError("refused: read-only mode; the schema was not changed")
    core = _core(ctx, create=True)
    _report(ctx, core.maintenance.upgrade(), core)
    return 0


def status(ctx: Ctx) -> int:
    core = _core(ctx, create=False)
    st = core.maintenance.status()
    _report(ctx, st, core, core.replica_status())
    return 0 if st.up_to_date else 1


def roles(ctx: Ctx) -> int:
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
    if not ctx.database_url().startswith("postgres"):  # before any file is opened or made
        raise UsageError(
            "db roles --apply needs PostgreSQL: on SQLite roles are advisory (one operator; file mode 0600)"
        )
    done = _core(ctx, create=False).maintenance.apply_roles(prefix)
    if ctx.json:
        emit_json({"prefix": prefix, "applied": len(done)})
    else:
        names = pgroles.RoleNames.with_prefix(prefix)
        line(f"applied {len(done)} statements: roles {names.app}, {names.viewer}, {names.admin}")
    return 0
