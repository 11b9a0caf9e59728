"""App mode (``AuthCore.from_config(config, app=True)``): an app fails at start, with one line,
instead of running on an embedded database it just created or without a signing key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from authcore import migrate
from authcore.config import Config, TokenSettings, user_data_dir
from authcore.core import AuthCore
from authcore.errors import ConfigError
from tests.conftest import TEST_SECRET


def _cfg(secret: str | None = TEST_SECRET) -> Config:
    return Config(tokens=TokenSettings(secret=secret))


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert text and "\n" not in text
    return text


def test_no_database_url_is_refused_and_nothing_is_created() -> None:
    with pytest.raises(ConfigError) as exc:
        AuthCore.from_config(_cfg(), app=True)
    assert "no database URL configured" in _one_line(exc)
    assert not user_data_dir().exists()
    # the operators' tools keep the embedded default
    core = AuthCore.from_config(_cfg())
    assert str(user_data_dir()) in core.url_masked
    core.dispose()


def test_missing_sqlite_file_is_refused_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nothere" / "app.db"
    with pytest.raises(ConfigError) as exc:
        AuthCore.from_config(_cfg(), f"sqlite:///{db}", app=True)
    assert "does not exist" in _one_line(exc)
    assert not db.exists() and not db.parent.exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        AuthCore.from_config(_cfg(), url, app=True)
    assert "in-memory" in _one_line(exc)


def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()  # exists, no schema
    with pytest.raises(ConfigError) as exc:
        AuthCore.from_config(_cfg(), f"sqlite:///{db}", app=True)
    assert "not migrated" in _one_line(exc) and "authconsole db upgrade" in str(exc.value)


def test_database_url_from_the_environment(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    core = AuthCore.from_config(_cfg(), app=True)
    try:
        assert core.tokens.signing_key() is not None
    finally:
        core.dispose()


def test_missing_signing_key_fails_at_start(db_url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        AuthCore.from_config(_cfg(secret=None), db_url, app=True)
    assert "no signing key" in _one_line(exc)
    # a verify-only service (the operators' console, a resource server) says so
    core = AuthCore.from_config(_cfg(secret=None), db_url, app=True, sign=False)
    core.dispose()


def test_a_short_secret_fails_at_start(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An app configured with a guessable HS256 secret does not start (it would sign tokens anyone
    could forge); the environment's secret is held to the same rule as the file's."""
    with pytest.raises(ConfigError) as exc:
        AuthCore.from_config(_cfg(secret="changeme"), db_url, app=True)
    assert "needs at least 32 bytes" in _one_line(exc) and "changeme" not in str(exc.value)
    monkeypatch.setenv("AUTHCORE_SECRET", "x")
    with pytest.raises(ConfigError, match="needs at least 32 bytes"):
        AuthCore.from_config(_cfg(secret=None), db_url, app=True)
    # a verify-only process starts (the operators' console), and refuses to issue, writing nothing
    core = AuthCore.from_config(_cfg(secret=None), db_url, app=True, sign=False)
    try:
        migrate.upgrade(core.engine)
        alice = core.users.create("alice@example.com", "alice")
        with pytest.raises(ConfigError, match="needs at least 32 bytes"):
            core.login(alice.id)
        assert core.sessions.for_user(alice.id) == []
    finally:
        core.dispose()


def test_secret_from_the_environment(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCORE_SECRET", TEST_SECRET)
    core = AuthCore.from_config(_cfg(secret=None), db_url, app=True)
    core.dispose()
