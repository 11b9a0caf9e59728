"""Shared fixtures: every DB test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``AUTHCORE_TEST_PG_URL`` (``.ci/run`` sets it). The suite creates its own
database next to it, migrates it once, and truncates between tests. Without the variable the
PostgreSQL half is skipped, with that reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from authcore import migrate
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.models import GENESIS_HASH

PG_ENV = "AUTHCORE_TEST_PG_URL"
TEST_SECRET = "test-secret-" + "s" * 40
ROOT = Path(__file__).resolve().parents[1]


def modules_loaded(code: str, names: tuple[str, ...], *,
                   env: dict[str, str] | None = None) -> list[str]:
    """Run ``code`` in a fresh interpreter (from the repo root), then list the loaded modules
    among ``names`` (a name, or any module under it)."""
    probe = (f"{code}\nimport json as _json, sys as _sys\n"
             f"print(_json.dumps(sorted(m for m in _sys.modules if m in {names!r}\n"
             f"                         or m.split('.')[0] in {names!r})))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded
ENGINES = ["sqlite", "postgresql"]
_TABLES = ("bulk_runs", "revocations", "audit_events", "user_events", "sessions", "users")


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
    for var in ("AUTHCONSOLE_DATABASE_URL", "DATABASE_URL", "AUTHCORE_SECRET", "SSH_CONNECTION",
                "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return home


def bypass_audit_trigger(conn) -> None:  # type: ignore[no-untyped-def]
    """Let this transaction UPDATE/DELETE ``audit_events`` behind authcore's back: what a
    superuser (a DBA) can do on PostgreSQL, where a trigger otherwise refuses it for every role
    (migration 0004). Tests of tamper detection use it; seals are what catch such rewrites."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@contextlib.contextmanager
def temp_pg_database(prefix: str = "authcore_test") -> Iterator[str]:
    """A migrated PostgreSQL database of this run's own next to ``AUTHCORE_TEST_PG_URL``,
    dropped afterwards. Skips, with that reason, when the variable is unset."""
    admin = _admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL half skipped: {PG_ENV} is not set")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test run's own (dropped at the end)."""
    with temp_pg_database() as url:
        yield url


def reset_pg(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h) "
                          "ON CONFLICT (id) DO UPDATE SET seq = 0, hash = :h"),
                     {"h": GENESIS_HASH})  # a test may have deleted the row
    engine.dispose()


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
