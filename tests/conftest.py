"""Shared fixtures: every DB test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``AUTHCORE_TEST_PG_URL`` (``.ci/run`` sets it). The suite creates its own
database next to it, migrates it once, and truncates between tests. Without the variable the
PostgreSQL half is skipped, with that reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from authcore import migrate
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine

# The helpers live in tests/support/; re-exported here for tests that import them from conftest.
from tests.support import ROOT, TEST_SECRET
from tests.support.pg import PG_ENV, bypass_audit_trigger, reset_pg, temp_pg_database
from tests.support.pg import admin_url as _admin_url
from tests.support.processes import modules_loaded
from tests.support.roles import cluster, owner  # noqa: F401 - fixtures: PostgreSQL roles of the run's own

__all__ = [
    "PG_ENV",
    "ROOT",
    "TEST_SECRET",
    "_admin_url",
    "bypass_audit_trigger",
    "modules_loaded",
    "reset_pg",
    "temp_pg_database",
]
ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the developer's config, data dir or database variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("AUTHCONSOLE_CONFIG", str(home / "config.toml"))
    from authcore import config as config_mod

    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", home / "no-system-config.toml")
    for var in (
        "AUTHCONSOLE_DATABASE_URL",
        "AUTHCONSOLE_LISTEN_URL",
        "AUTHCONSOLE_READ_DATABASE_URL",
        "DATABASE_URL",
        "AUTHCORE_SECRET",
        "SSH_CONNECTION",
        "NO_COLOR",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test run's own (dropped at the end)."""
    with temp_pg_database() as url:
        yield url


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A freshly migrated, empty database URL: SQLite file or PostgreSQL (truncated)."""
    if request.param == "sqlite":
        dest = tmp_path / "authcore.db"
        shutil.copy(sqlite_template, dest)
        return f"sqlite:///{dest}"
    url = request.getfixturevalue("pg_url")
    reset_pg(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def config() -> Config:
    return Config(tokens=TokenSettings(secret=TEST_SECRET))


@pytest.fixture
def core(engine: Engine, config: Config) -> AuthCore:
    return AuthCore(engine, config, actor="test-operator")


@pytest.fixture
def write_config(hermetic_env: Path):  # type: ignore[no-untyped-def]
    """Write a TOML config (mode 0600) at AUTHCONSOLE_CONFIG and return its path."""

    def _write(body: str, mode: int = 0o600) -> Path:
        path = hermetic_env / "config.toml"
        path.write_text(body, encoding="utf-8")
        path.chmod(mode)
        return path

    return _write
