"""Issue 11: who may create a SQLite database, where, and with which mode."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from authcore.db import DatabaseMissing, make_engine
from console.cli import main

READERS = [
    "users search a",
    "users show alice",
    "sessions list",
    "audit list",
    "audit verify",
    "db status",
    "revoke alice --all-tokens --reason x --yes",
    "sessions prune --reason x --yes",
    "users disable bob --reason x --yes",
]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("command", READERS)
def test_other_commands_never_create_a_database(command: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "dbdir"
    d.mkdir()
    code = main(["--db", f"sqlite:///{d}/x.db", *command.split()])
    err = capsys.readouterr().err
    assert code == 5 and err.count("\n") == 1 and "does not exist" in err, err
    assert list(d.iterdir()) == []


def test_demo_and_upgrade_need_an_existing_directory(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for argv in (["db", "upgrade"], ["demo", "--users", "0"]):
        code = main(["--db", f"sqlite:///{tmp_path}/no/such/dir/x.db", *argv])
        err = capsys.readouterr().err
        assert code == 1 and "does not exist" in err and err.count("\n") == 1
        assert not (tmp_path / "no").exists()


def test_new_database_files_are_0600_wal_and_shm_too(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    old = os.umask(0o022)
    try:
        db = tmp_path / "new.db"
        assert main(["--db", f"sqlite:///{db}", "db", "upgrade"]) == 0
        assert _mode(db) == 0o600
        engine = make_engine(f"sqlite:///{db}", create=False)
        with engine.connect() as conn:  # an open connection keeps -wal and -shm
            conn.exec_driver_sql("SELECT count(*) FROM users").scalar_one()
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            assert wal.exists() and shm.exists()
            assert _mode(wal) == 0o600 and _mode(shm) == 0o600
        engine.dispose()
        db2 = tmp_path / "demo.db"
        assert main(["--db", f"sqlite:///{db2}", "demo", "--users", "0"]) == 0
        assert _mode(db2) == 0o600
    finally:
        os.umask(old)


def test_default_data_dir_is_made_0700(hermetic_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--json", "db", "upgrade"]) == 0
    url = json.loads(capsys.readouterr().out)["database"]
    db = Path(url.removeprefix("sqlite:///"))
    assert db.exists() and _mode(db) == 0o600 and _mode(db.parent) == 0o700
    assert str(db).startswith(str(hermetic_env))


def test_library_refuses_missing_file_when_asked(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        make_engine(f"sqlite:///{tmp_path}/missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_the_console_on_a_missing_file_creates_nothing(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``authconsole`` (the TUI) builds its core like every command: one line, exit 5."""
    import sys

    from console import app as app_module

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    real_run = app_module.AuthConsoleApp.run
    monkeypatch.setattr(
        app_module.AuthConsoleApp, "run", lambda self: real_run(self, headless=True, size=(80, 24))
    )
    d = tmp_path / "dbdir"
    d.mkdir()
    code = main(["--db", f"sqlite:///{d}/x.db"])
    err = capsys.readouterr().err
    assert code == 5 and "does not exist" in err and err.count("\n") == 1, err
    assert list(d.iterdir()) == []
