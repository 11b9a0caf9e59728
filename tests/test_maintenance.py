"""authcore.maintenance: ``core.maintenance``, what ``authconsole db`` and ``demo`` run through
``AuthCore`` (the console builds no engine): schema status and upgrade from empty to head, the
PostgreSQL roles (refused on SQLite in one line), and the demo data, on both engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authcore import pgroles
from authcore.config import Config
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.demo import NAMED_EMAILS
from authcore.errors import ValidationError
from tests.support.pg import temp_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def bare(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuthCore]:
    """A core on a database with no schema yet."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield AuthCore(engine, Config())
        engine.dispose()
        return
    with temp_pg_database("authcore_maint", upgrade=False) as url:
        engine = make_engine(url)
        yield AuthCore(engine, Config())
        engine.dispose()


def test_status_then_upgrade_then_demo(bare: AuthCore) -> None:
    m = bare.maintenance
    before = m.status()
    assert before.current is None and not before.up_to_date and before.pending[0] == "0001"
    after = m.upgrade()
    assert after.up_to_date and after.current == after.head == before.pending[-1]
    assert m.status() == after
    bare.require_schema()  # an app would start on it now

    assert m.demo_present() == ((), 0)
    summary = m.seed_demo(25, rng_seed=5)
    assert summary.named == NAMED_EMAILS and summary.users == 28
    assert m.demo_present() == (NAMED_EMAILS, 28)
    again = m.seed_demo(5, rng_seed=5)
    assert again.named == () and m.demo_present()[1] == 33


def test_roles_need_postgresql(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with pytest.raises(ValidationError, match="roles need PostgreSQL"):
            AuthCore(engine, Config()).maintenance.apply_roles()
    finally:
        engine.dispose()


def test_roles_are_applied_on_postgresql_and_idempotent(pg_url: str) -> None:
    prefix = "m" + uuid.uuid4().hex[:8] + "_"
    names = pgroles.RoleNames.with_prefix(prefix)
    engine = make_engine(pg_url)
    core = AuthCore(engine, Config())
    try:
        first = core.maintenance.apply_roles(prefix)
        assert first == core.maintenance.apply_roles(prefix)  # again: same statements, no error
        with engine.connect() as conn:
            have = set(
                conn.execute(
                    text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p"), {"p": prefix + "%"}
                ).scalars()
            )
        assert have == {names.app, names.viewer, names.admin}
    finally:
        with engine.begin() as conn:
            for stmt in pgroles.drop_sql(prefix):
                conn.exec_driver_sql(stmt)
        engine.dispose()
    engine = make_engine(pg_url)
    try:
        with pytest.raises(ValidationError, match="role prefix"):
            AuthCore(engine, Config()).maintenance.apply_roles("Bad-Prefix")
    finally:
        engine.dispose()
