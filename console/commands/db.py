"""``authconsole db upgrade|status``."""

from __future__ import annotations

import argparse

from console.output import emit_json, line


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("db", parents=[common], help="schema migrations")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dsub.add_parser("upgrade", parents=[common], help="create or upgrade the schema").set_defaults(
        func=upgrade)
    dsub.add_parser("status", parents=[common], help="show the schema revision").set_defaults(
        func=status)


def _engine(ctx):  # type: ignore[no-untyped-def]
    from authcore.db import make_engine

    return make_engine(ctx.database_url())


def _report(ctx, st, engine) -> None:  # type: ignore[no-untyped-def]
    from authcore.db import mask_url

    url = mask_url(engine.url.render_as_string(hide_password=False))
    if ctx.json:
        emit_json({"database": url, "current": st.current, "head": st.head,
                   "pending": st.pending, "up_to_date": st.up_to_date})
    else:
        line(f"database: {url}")
        line(f"revision: {st.current or '(empty)'}  head: {st.head}  "
             f"{'up to date' if st.up_to_date else 'pending: ' + ', '.join(st.pending)}")


def upgrade(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import migrate

    if ctx.args.read_only:
        from authcore.errors import ReadOnlyError

        raise ReadOnlyError("refused: read-only mode; the schema was not changed")
    engine = _engine(ctx)
    try:
        _report(ctx, migrate.upgrade(engine), engine)
    finally:
        engine.dispose()
    return 0


def status(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import migrate

    engine = _engine(ctx)
    try:
        st = migrate.status(engine)
        _report(ctx, st, engine)
    finally:
        engine.dispose()
    return 0 if st.up_to_date else 1
