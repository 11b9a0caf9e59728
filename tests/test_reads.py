"""``authcore.reads`` and ``read_database_url`` without a standby (the real streaming replica is
tests/test_replica.py): the rule with no replica, the URL's sources and its pairing with the
primary, the refusals, and a replica nothing listens on (reads fall back to the primary)."""

from __future__ import annotations

import json
import os
import socket
import uuid

import pytest

from authcore.config import Config, load_config, resolve_read_database_url
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import ConfigError
from authcore.reads import Read, ReplicaStatus, parse_lsn
from console.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def test_without_a_replica_every_read_is_on_the_primary(core: AuthCore) -> None:
    core.users.create("ann@example.com", "ann")
    assert not core.has_read_replica and core.replica_status() is None
    for read in Read:
        assert core.reads.engine(read) is core.engine
    core.require_write()  # a write marks nothing that matters without a replica
    assert core.reads.engine(Read.BROWSE) is core.engine
    assert [u.username for u in core.users.search("ann").items] == ["ann"]


def test_parse_lsn() -> None:
    assert parse_lsn("0/0") == 0
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert parse_lsn("1/0") - parse_lsn("0/FFFFFFFF") == 1


def test_status_lines() -> None:
    url = "postgresql+psycopg://ops:***@standby/app"
    assert ReplicaStatus(url, True, 5).summary() == "caught up"
    behind = ReplicaStatus(url, True, 5, behind_bytes=4096, lag_s=1.25)
    assert behind.summary() == "1.2s behind (4.0 kB)" and not behind.warn
    late = ReplicaStatus(
        url, True, 5, paused=True, behind_bytes=3 << 20, lag_s=9, lag_basis="last replayed commit"
    )
    assert late.warn and late.summary() == (
        "9.0s behind (3.0 MB, since its last replayed commit), replay paused, past the 5s bound"
    )
    down = ReplicaStatus(url, False, 5, error="database unavailable")
    assert down.warn and down.summary() == "down (database unavailable); reads go to the primary"
    assert ReplicaStatus(url, True, 5, standby=False).warn
    assert late.to_dict()["warn"] is True and late.to_dict()["behind_bytes"] == 3 << 20


def test_read_url_from_the_flag_the_environment_or_the_file(monkeypatch, write_config) -> None:  # type: ignore[no-untyped-def]
    primary, standby = "postgresql+psycopg://ops@db/app", "postgresql+psycopg://ops@standby/app"
    assert resolve_read_database_url(None, primary, load_config()) is None
    write_config(f'database_url = "{primary}"\nread_database_url = "{standby}"\nreplica_max_lag = "2s"\n')
    cfg = load_config()
    assert cfg.replica_max_lag.total_seconds() == 2
    assert resolve_read_database_url(None, primary, cfg) == standby
    # the file's standby pairs with the file's primary: --db naming another drops it
    assert resolve_read_database_url(None, "postgresql+psycopg://ops@elsewhere/app", cfg) is None
    monkeypatch.setenv("AUTHCONSOLE_READ_DATABASE_URL", "postgresql://ops@env-standby/app")
    assert resolve_read_database_url(None, primary, cfg) == "postgresql://ops@env-standby/app"
    assert resolve_read_database_url("postgres://ops@flag/app", primary, cfg) == "postgres://ops@flag/app"


def test_read_url_with_a_password_needs_a_private_file(capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('read_database_url = "postgresql+psycopg://ops:PW-hunter2@standby/app"\n', mode=0o644)
    assert main(["users", "search", "a"]) == 3
    err = capsys.readouterr().err
    assert "database password" in err and f"chmod 600 {path}" in err and "hunter2" not in err


def test_a_replica_needs_postgresql(db_url: str, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = "sqlite:///" + str(tmp_path / "standby.db") if db_url.startswith("postgres") else db_url
    primary = db_url if db_url.startswith("postgres") else "sqlite:///" + str(tmp_path / "primary.db")
    read = other if db_url.startswith("postgres") else "postgresql+psycopg://ops@standby/app"
    code = main(["--db", primary, "--read-db", read, "users", "search", "a"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "a read replica needs PostgreSQL" in err
    assert not (tmp_path / "primary.db").exists() and not (tmp_path / "standby.db").exists()


def test_an_app_opens_no_replica(db_url: str, config: Config) -> None:
    if not db_url.startswith("postgres"):
        with pytest.raises(ConfigError, match="needs PostgreSQL"):
            AuthCore.from_config(config, db_url, read_db_url="postgresql+psycopg://ops@standby/app")
        return
    config.read_database_url, config.database_url = db_url, db_url
    app = AuthCore.from_config(config, app=True)
    tool = AuthCore.from_config(config)
    try:
        assert not app.has_read_replica  # an app's requests must see their own writes
        assert tool.has_read_replica and tool.reads.replica is not tool.engine
    finally:
        app.dispose()
        tool.dispose()


def test_a_replica_nothing_listens_on_sends_reads_to_the_primary(pg_url: str, config: Config) -> None:
    standby = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/none", interactive=True)
    core = AuthCore(make_engine(pg_url), config, read_engine=standby)
    try:
        name = f"zoe{uuid.uuid4().hex[:8]}"
        uid = core.users.create(f"{name}@example.com", name).id
        assert [u.id for u in core.users.search(name).items] == [uid]  # from the primary
        assert core.reads.down and "database unavailable" in (core.reads.down_reason or "")
        assert core.reads.engine(Read.BROWSE) is core.engine  # skipped while marked down
        st = core.replica_status()
        assert st is not None and not st.up and st.warn and "reads go to the primary" in st.summary()
        assert core.live_state(uid, None).exists  # the inspector's lookup answers too
    finally:
        core.dispose()


@pytest.mark.parametrize("as_json", [False, True])
def test_a_command_says_its_reads_went_to_the_primary(pg_url: str, capsys, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    standby = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/none"
    flags = ["--json"] if as_json else []
    code = main(["--db", pg_url, "--read-db", standby, *flags, "sessions", "list", "--limit", "3"])
    out, err = capsys.readouterr()
    assert code == 0 and err.count("\n") == 1
    if as_json:
        assert json.loads(err)["note"].startswith("read replica unavailable, reads go to the primary")
        json.loads(out)
    else:
        assert err.startswith("authconsole: note: read replica unavailable, reads go to the primary: ")


def test_a_locked_read_url_is_the_only_one(tmp_path, monkeypatch, write_config) -> None:  # type: ignore[no-untyped-def]
    if os.getuid() != 0:
        pytest.skip("the system config must be root-owned: these tests run as root")
    from authcore import config as config_mod

    primary, standby = "postgresql+psycopg://ops@db/app", "postgresql+psycopg://ops@standby/app"
    system = tmp_path / "system.toml"
    system.write_text(
        f'database_url = "{primary}"\nread_database_url = "{standby}"\nlock = ["read_database_url"]\n'
    )
    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", system)
    cfg = load_config()
    assert resolve_read_database_url(None, primary, cfg) == standby
    with pytest.raises(ConfigError, match="--read-db cannot override read_database_url, locked by"):
        resolve_read_database_url("postgresql+psycopg://ops@mine/app", primary, cfg)
    monkeypatch.setenv("AUTHCONSOLE_READ_DATABASE_URL", "postgresql+psycopg://ops@mine/app")
    with pytest.raises(ConfigError, match="AUTHCONSOLE_READ_DATABASE_URL cannot override"):
        resolve_read_database_url(None, primary, cfg)
    monkeypatch.delenv("AUTHCONSOLE_READ_DATABASE_URL")
    write_config('read_database_url = "postgresql+psycopg://ops@mine/app"\n')
    with pytest.raises(ConfigError, match="sets read_database_url, locked by"):
        load_config()
