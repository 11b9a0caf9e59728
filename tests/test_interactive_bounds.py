"""The console (a person at a terminal) gets shorter PostgreSQL bounds than batch callers, so an
outage shows within seconds: ``Connect.from_ctx`` builds its core with ``interactive=True``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from authcore.db import (
    INTERACTIVE_STATEMENT_TIMEOUT_S,
    PG_STATEMENT_TIMEOUT_S,
    make_engine,
)
from console.cli import Ctx, parse
from console.connect import Connect


def _show(engine) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW statement_timeout")).scalar())


def test_interactive_engine_sets_the_short_statement_timeout(pg_url: str) -> None:
    assert INTERACTIVE_STATEMENT_TIMEOUT_S < PG_STATEMENT_TIMEOUT_S
    batch, person = make_engine(pg_url), make_engine(pg_url, interactive=True)
    try:
        assert _show(batch) == f"{PG_STATEMENT_TIMEOUT_S:g}s"
        assert _show(person) == f"{INTERACTIVE_STATEMENT_TIMEOUT_S:g}s"
        # an explicit value still wins over the profile
        explicit = make_engine(pg_url, interactive=True, statement_timeout=9)
        assert _show(explicit) == "9s"
        explicit.dispose()
    finally:
        batch.dispose()
        person.dispose()


def test_console_core_is_built_interactive(pg_url: str, write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_config('[tokens]\nsecret = "' + "k" * 48 + '"\n')
    args = parse(["--db", pg_url])
    connect = Connect.from_ctx(Ctx(args))
    core = connect.build()
    try:
        assert _show(core.engine) == f"{INTERACTIVE_STATEMENT_TIMEOUT_S:g}s"
    finally:
        core.dispose()


def test_interactive_is_accepted_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", interactive=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
