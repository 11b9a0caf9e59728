"""authcore.migrate: the shipped Alembic migrations, from an empty database to head, on SQLite and
PostgreSQL; the schema they build is the one ``authcore.models`` describes; a database behind
head is reported (``status``), refused by an app (``require_schema``) and by ``db status``'s exit
code, and brought to head by ``upgrade``."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect

from authcore import migrate
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import ConfigError
from authcore.models import Base
from console.cli import main
from console.exitcodes import Exit
from tests.support.pg import temp_pg_database

# The revisions in order, as the files name them (0001_initial.py ...).
REVISIONS = sorted(p.name[:4] for p in (migrate.MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
SECRET = "migrate-secret-" + "m" * 40
# Columns the migrations add outside the models: 0003's stored generated column for trigram
# search (authcore/users/search.py reads it by name).
PG_ONLY = {"users": {"search_text"}}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with temp_pg_database("authcore_migrate", upgrade=False) as url:
        yield url


@pytest.fixture
def empty(empty_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_url)
    yield engine
    engine.dispose()


def test_the_revisions_form_one_chain_ending_at_head() -> None:
    assert REVISIONS[0] == "0001" and len(REVISIONS) >= 6
    assert migrate.head_revision() == REVISIONS[-1]


def test_an_empty_database_is_behind_by_every_revision(empty: Engine) -> None:
    st = migrate.status(empty)
    assert st.current is None
    assert st.head == REVISIONS[-1]
    assert st.pending == REVISIONS
    assert not st.up_to_date


def test_upgrade_from_empty_builds_the_models_schema(empty: Engine) -> None:
    st = migrate.upgrade(empty)
    assert st.up_to_date and st.current == st.head == REVISIONS[-1] and st.pending == []
    insp = inspect(empty)
    tables = set(insp.get_table_names())
    if empty.dialect.name == "sqlite":  # 0003: the FTS5 trigram index and its shadow tables
        assert "users_trgm" in tables
        tables = {t for t in tables if not t.startswith("users_trgm")}
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    for name, table in Base.metadata.tables.items():
        db_cols = {c["name"]: c for c in insp.get_columns(name)}
        extra = PG_ONLY.get(name, set()) if empty.dialect.name == "postgresql" else set()
        assert set(db_cols) == {c.name for c in table.columns} | extra, name
        for col in table.columns:
            if not col.primary_key:
                assert db_cols[col.name]["nullable"] == col.nullable, f"{name}.{col.name}"
        with warnings.catch_warnings():  # SQLite: expression indexes are not reflected
            warnings.simplefilter("ignore")
            db_indexes = {i["name"] for i in insp.get_indexes(name)}
        assert {i.name for i in table.indexes} <= db_indexes, name


def test_upgrade_again_changes_nothing(empty: Engine) -> None:
    migrate.upgrade(empty)
    before = {t: [c["name"] for c in inspect(empty).get_columns(t)] for t in inspect(empty).get_table_names()}
    st = migrate.upgrade(empty)
    assert st.up_to_date
    after = {t: [c["name"] for c in inspect(empty).get_columns(t)] for t in inspect(empty).get_table_names()}
    assert after == before


def test_a_schema_behind_head_is_detected_refused_and_upgraded(empty: Engine, empty_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    behind = REVISIONS[-2]
    st = migrate.upgrade(empty, behind)
    assert st.current == behind and st.pending == [REVISIONS[-1]] and not st.up_to_date

    # An app refuses to run on it, in one line naming the fix.
    core = AuthCore(empty, Config(tokens=TokenSettings(secret=SECRET)))
    with pytest.raises(ConfigError) as info:
        core.require_schema()
    msg = str(info.value)
    assert "not migrated" in msg and behind in msg and REVISIONS[-1] in msg
    assert "authconsole db upgrade" in msg and "\n" not in msg

    # The operator's ``db status`` says so, with a non-zero exit.
    code = main(["--db", empty_url, "db", "status"])
    out = capsys.readouterr().out
    assert code == Exit.FAILED and f"pending: {REVISIONS[-1]}" in out

    st = migrate.upgrade(empty)
    assert st.up_to_date
    core.require_schema()  # no longer raises
    assert main(["--db", empty_url, "db", "status"]) == Exit.OK


def test_an_app_refuses_a_database_without_schema(empty: Engine) -> None:
    core = AuthCore(empty, Config(tokens=TokenSettings(secret=SECRET)))
    with pytest.raises(ConfigError, match="no authcore schema"):
        core.require_schema()


def test_sessions_are_vacuumed_and_analyzed_after_a_fixed_share_of_churn() -> None:
    """Migration 0012: ``sessions`` carries its own autovacuum and autoanalyze scale factors on
    PostgreSQL (logins and logouts leave dead entries at the newest end of
    ``ix_sessions_created``, which the attention signals read first); a database at 0011 has
    PostgreSQL's defaults, and downgrading puts them back. SQLite has nothing of the kind (the
    schema tests run it there)."""
    from alembic import command

    m = importlib.import_module("authcore.migrations.versions.0012_sessions_autovacuum")

    def reloptions(engine: Engine) -> set[str]:
        with engine.connect() as conn:
            opts = conn.exec_driver_sql("SELECT reloptions FROM pg_class WHERE relname = 'sessions'").scalar()
        return set(opts or [])

    with temp_pg_database("authcore_autovac", upgrade=False) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine, "0011")
            assert reloptions(engine) == set()
            migrate.upgrade(engine)
            want = {f"{k}={v}" for k, v in m.SETTINGS.items()}
            assert want == {
                "autovacuum_vacuum_scale_factor=0.02",
                "autovacuum_vacuum_insert_scale_factor=0.02",
                "autovacuum_analyze_scale_factor=0.01",
            }
            assert reloptions(engine) == want
            cfg = migrate._alembic_config()
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "0011")
            assert reloptions(engine) == set()
        finally:
            engine.dispose()


def test_the_ip_indexes_cover_an_ip_prefix_page_and_downgrade_to_the_address(empty: Engine) -> None:
    """Migration 0013: ``ix_sessions_last_ip``/``ix_sessions_first_ip`` hold the address, then
    what an IP-prefix page reads (``created_at``, ``public_id``, ``expires_at``), so its matches
    come from the index alone (tests/test_sessions_filter.py checks the plans); at 0012 and after
    a downgrade, the address alone. The sessions stay and are found the same way."""
    from alembic import command

    def columns() -> dict[str, list[str]]:
        if empty.dialect.name == "sqlite":
            with empty.connect() as conn:
                return {
                    name: [r[2] for r in conn.exec_driver_sql(f"PRAGMA index_info({name})")]
                    for name in ("ix_sessions_last_ip", "ix_sessions_first_ip")
                }
        with empty.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
                " WHERE indrelid = 'sessions'::regclass"
            ).all()
        return {
            name: [c.strip().split()[0] for c in d[d.index("(") + 1 : d.rindex(")")].split(",")]
            for name, d in rows
            if name in ("ix_sessions_last_ip", "ix_sessions_first_ip")
        }

    migrate.upgrade(empty, "0012")
    assert columns() == {"ix_sessions_last_ip": ["last_ip"], "ix_sessions_first_ip": ["first_ip"]}
    core = AuthCore(empty, Config(tokens=TokenSettings(secret=SECRET)))
    u = core.users.create("cover@example.com", "cover")
    made = {core.sessions.create(u.id, ip=f"81.23.0.{i}", user_agent="x")[0].public_id for i in range(3)}
    core.dispose()
    migrate.upgrade(empty)
    covered = ["created_at", "public_id", "expires_at"]
    want = {"ix_sessions_last_ip": ["last_ip", *covered], "ix_sessions_first_ip": ["first_ip", *covered]}
    assert columns() == want
    core = AuthCore(empty, Config(tokens=TokenSettings(secret=SECRET)))
    assert {s.public_id for s in core.sessions.recent(text="81.23.")} == made
    core.dispose()
    cfg = migrate._alembic_config()
    with empty.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    assert columns() == {"ix_sessions_last_ip": ["last_ip"], "ix_sessions_first_ip": ["first_ip"]}


def test_users_pages_keep_room_so_a_bulk_revoke_stays_on_each_page() -> None:
    """Migration 0007: a bulk bump of users scattered over the table (a query's matches, a few per
    page) is a HOT update on PostgreSQL -- every new row version stays on its page, so no index
    (the trigram GIN one included) gets an entry. Under fillfactor 100 the same bump moves them.
    (Later bumps stay HOT once the page is pruned of the versions they replaced, which waits for
    every snapshot in the database that could still see them: not a thing a test can time.)"""
    with temp_pg_database("authcore_fill") as url:
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                fill = conn.exec_driver_sql(
                    "SELECT reloptions FROM pg_class WHERE relname = 'users'"
                ).scalar()
                assert fill == ["fillfactor=85"]
                conn.exec_driver_sql(
                    "INSERT INTO users (email, username, display_name, created_at, disabled, token_version) "
                    "SELECT 'u' || g || '@example.com', 'user' || g, 'User Number ' || g, now(), false, 0 "
                    "FROM generate_series(1, 3000) g"
                )

            def pages() -> dict[int, int]:
                with engine.connect() as conn:
                    rows = conn.exec_driver_sql("SELECT id, (ctid::text::point)[0]::int FROM users").all()
                return {int(i): int(p) for i, p in rows}

            before = pages()
            some = sorted(before)[::7]
            core = AuthCore(engine, Config(tokens=TokenSettings(secret=SECRET)))
            core.admin.revoke_tokens_many(some, "rotate their keys")
            assert pages() == before

            # The same bump under PostgreSQL's default fillfactor moves rows: the check can fail.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ALTER TABLE users RESET (fillfactor)")
                conn.exec_driver_sql("VACUUM FULL users")
            before = pages()
            core.admin.revoke_tokens_many(some, "rotate under fillfactor 100")
            moved = sum(1 for i, p in pages().items() if p != before[i])
            assert moved > len(some) // 2
        finally:
            engine.dispose()


def test_the_event_hash_is_inlined_at_head_and_pinned_again_after_a_downgrade() -> None:
    """Migration 0015: ``authcore_event_hash`` loses its ``SET search_path`` (0004), which kept
    PostgreSQL from inlining it into the SECURITY DEFINER functions that chain events. At head a
    call plans as the body itself (``encode(sha256(...))``); at 0014, and after a downgrade, as
    a call of the function. The hash is the same either way."""
    from alembic import command

    call = (
        "SELECT authcore_event_hash(7, '2026-01-02T03:04:05.678901+00:00', 'alice', 'revoke_tokens',"
        " 42, NULL, 'phished', '{}', 'prev', 'ssh 10.0.0.1', 'ops')"
    )

    def shape(conn: Any) -> tuple[Any, bool, str]:
        config = conn.exec_driver_sql(
            "SELECT proconfig FROM pg_proc WHERE proname = 'authcore_event_hash'"
        ).scalar_one()
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (VERBOSE, COSTS OFF) " + call))
        return config, "encode(sha256(" in plan, conn.exec_driver_sql(call).scalar_one()

    with temp_pg_database("authcore_hash_inline", upgrade=False) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine, "0014")
            with engine.connect() as conn:
                pinned, inlined, before = shape(conn)
            assert pinned == ["search_path=public, pg_temp"] and not inlined
            migrate.upgrade(engine)
            with engine.connect() as conn:
                assert shape(conn) == (None, True, before)
            cfg = migrate._alembic_config()
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "0014")
            with engine.connect() as conn:
                assert shape(conn) == (pinned, False, before)
        finally:
            engine.dispose()
