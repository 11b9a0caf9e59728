"""A shared bastion config: /etc/authconsole/config.toml read first, its locked keys cannot be
overridden (user file, --config, AUTHCONSOLE_CONFIG, --db, DATABASE_URL,
AUTHCONSOLE_DATABASE_URL), and a root-owned group-readable secret_file is accepted.

The system path is a module constant: the tests patch it in-process (an operator cannot: no
option or environment variable moves it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from authcore import config as config_mod
from authcore.actor import os_user
from authcore.errors import ConfigError
from console.cli import main
from tests.conftest import ROOT

SECRET = "shared-secret-" + "z" * 40


def _cli(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Write the system file (root-owned: the tests run as root) and point the constant at it."""
    etc = tmp_path / "etc"
    etc.mkdir()
    path = etc / "config.toml"
    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", path)

    def write(body: str, mode: int = 0o644) -> Path:
        path.write_text(body, encoding="utf-8")
        path.chmod(mode)
        return path

    return write


@pytest.fixture
def locked_db(system, tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    if os.getuid() != 0:
        pytest.skip("the system config must be root-owned: these tests run as root")
    db = f"sqlite:///{tmp_path}/shared.db"
    secret = tmp_path / "etc" / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o640)  # root:authops on a bastion
    system(
        f'database_url = "{db}"\nread_only = false\nlock = ["database_url", "operators", '
        f'"read_only"]\n[operators]\n"{os_user()}" = "viewer"\n'
        f'[tokens]\nsecret_file = "{secret}"\n'
    )
    assert _cli(capsys, "--db", db, "db", "upgrade")[0] == 0
    return db


def test_locked_keys_cannot_be_overridden(
    locked_db: str, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    me = os_user()
    evil = tmp_path / "evil.toml"
    other_db = f"sqlite:///{tmp_path}/other.db"
    attempts = [
        (f'[operators]\n"{me}" = "admin"\n', "operators"),
        (f'database_url = "{other_db}"\n', "database_url"),
        ("read_only = false\n", "read_only"),
    ]
    for body, key in attempts:
        evil.write_text(body)
        evil.chmod(0o600)
        for how in ("--config", "env"):
            monkeypatch.delenv("AUTHCONSOLE_CONFIG", raising=False)
            argv = ["users", "search", "a"]
            if how == "--config":
                argv = ["--config", str(evil), *argv]
            else:
                monkeypatch.setenv("AUTHCONSOLE_CONFIG", str(evil))
            code, out, err = _cli(capsys, *argv)
            assert code != 0 and f"sets {key}, locked by" in err, (how, key, err)
            assert len(err.strip().splitlines()) == 1 and not out
    monkeypatch.delenv("AUTHCONSOLE_CONFIG", raising=False)
    code, _out, err = _cli(capsys, "--db", other_db, "users", "search", "a")
    assert code != 0 and "--db cannot override database_url" in err
    for var in ("DATABASE_URL", "AUTHCONSOLE_DATABASE_URL"):
        monkeypatch.setenv(var, other_db)
        code, _out, err = _cli(capsys, "users", "search", "a")
        assert code != 0 and f"{var} cannot override database_url" in err
        assert len(err.strip().splitlines()) == 1
        monkeypatch.delenv(var)
    assert not Path(str(tmp_path / "other.db")).exists()  # nothing was created or changed
    # the system file's values hold: its database, its operators (viewer), its secret
    cfg = config_mod.load_config()
    assert cfg.database_url == locked_db and cfg.operators == {me: "viewer"}
    assert cfg.secret() == SECRET and cfg.locked == {"database_url", "operators", "read_only"}


def test_unlocked_keys_still_come_from_the_user_file(system, tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    if os.getuid() != 0:
        pytest.skip("runs as root")
    system('database_url = "sqlite:///x.db"\nstaleness = "5s"\nlock = ["operators"]\n')
    write_config('database_url = "sqlite:///mine.db"\n')
    cfg = config_mod.load_config()
    assert cfg.database_url == "sqlite:///mine.db" and cfg.staleness.total_seconds() == 5


def test_system_file_must_be_roots_and_not_writable_by_others(system) -> None:  # type: ignore[no-untyped-def]
    path = system('lock = ["operators"]\n', mode=0o664)
    with pytest.raises(ConfigError, match="writable by root only"):
        config_mod.load_config()
    path.chmod(0o644)
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by root"):
        config_mod.load_config()
    os.chown(path, 0, 0)
    system('lock = ["secret_sauce"]\n')
    with pytest.raises(ConfigError, match="cannot lock secret_sauce"):
        config_mod.load_config()


def test_secret_file_rules(system, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "etc" / "secret"
    secret.write_text(SECRET)
    system(f'[tokens]\nsecret_file = "{secret}"\n')
    for mode, ok in ((0o600, True), (0o640, True), (0o644, False), (0o660, False)):
        secret.chmod(mode)
        if ok:
            assert config_mod.load_config().secret() == SECRET
        else:
            with pytest.raises(ConfigError, match="secret_file"):
                config_mod.load_config()


def test_user_owned_secret_file_keeps_the_0600_rule(tmp_path: Path) -> None:
    """A real process whose real uid is another user's (nobody): its own secret file must be
    0600."""
    if os.getuid() != 0:
        pytest.skip("needs root to run a process as nobody")
    home = Path(f"/tmp/authcore-nobody-{os.getpid()}")
    home.mkdir(mode=0o755)
    try:
        secret = home / "secret"
        secret.write_text(SECRET)
        cfg = home / "config.toml"
        cfg.write_text(f'[tokens]\nsecret_file = "{secret}"\n')
        for p in (home, secret, cfg):
            os.chown(p, 65534, 65534)
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); from authcore import config as c; "
            "c.SYSTEM_CONFIG = c.Path('/nonexistent/config.toml'); "
            "print(c.load_config(sys.argv[2]).secret() == sys.argv[3])"
        )
        results = {}
        for mode in (0o600, 0o640):
            secret.chmod(mode)
            r = subprocess.run(
                [sys.executable, "-c", code, str(ROOT), str(cfg), SECRET],
                # real uid nobody (what authcore reads), effective root (so
                # the interpreter under /root stays reachable)
                preexec_fn=lambda: os.setresuid(65534, 0, 0),
                capture_output=True,
                text=True,
                timeout=60,
                cwd="/",
                env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
            )
            results[mode] = (r.stdout.strip(), r.stderr.strip().splitlines()[-1:])
        assert results[0o600][0] == "True", results
        assert "chmod 600" in results[0o640][1][0], results
    finally:
        for p in sorted(home.iterdir()):
            p.unlink()
        home.rmdir()


async def test_console_header_says_roles_are_advisory_on_sqlite(engine, config) -> None:  # type: ignore[no-untyped-def]
    from authcore.core import AuthCore
    from tests.support.tui import make_app, settle, text_of

    viewer = AuthCore(engine, config, actor="vera", role="viewer")
    app = make_app(viewer)
    async with app.run_test(size=(120, 24)) as pilot:
        await settle(pilot)
        header = text_of(app, "#console-header")
    sqlite = engine.dialect.name == "sqlite"
    assert "(viewer)" in header and ("advisory" in header) == sqlite, header
