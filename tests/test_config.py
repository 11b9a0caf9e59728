"""Issue 12.3/12.4: the config file is read safely and its errors never echo values."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authcore.config import MAX_CONFIG_BYTES, Config, TokenSettings, load_config, resolve_listen_url
from authcore.errors import ConfigError
from console.cli import main
from tests.conftest import ROOT


def run(capsys, *argv: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("database_url = 7\n", "database_url must be a string"),
        ('database_url = "postgresql+psycopg://u@127.0.0.1:99999/x"\n', "port 99999 is out of range"),
        ('database_url = "postgresql+psycopg://u@127.0.0.1:port/x"\n', "not a database URL"),
        ("read_only = 'SECRETVALUE'\n", "read_only must be true or false"),
        ("[tokens]\nissuer = 12345678\n", "tokens.issuer must be a string"),
        ("[tokens]\naccess_ttl = 'SECRETVALUE'\n", "tokens.access_ttl is not a positive duration"),
        ("staleness = -7777777\n", "staleness is not a positive duration"),
        ('[operators]\nbob = "SECRETVALUE"\n', "has an unknown role"),
        ("[tokens]\nverify_keys = 'SECRETVALUE'\n", "verify_keys must be a list"),
        ("[[tokens.verify_keys]]\nfile = 31337\n", "verify_keys.file must be a string"),
        ('x = "SECRETVALUE\n', "not valid TOML"),
    ],
)
def test_bad_values_one_line_defined_code_never_echoed(body, fragment, capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    write_config(body)
    code, err = run(capsys, "users", "search", "a")
    assert code in (1, 3) and fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err and "internal" not in err
    for value in ("SECRETVALUE", "7777777", "31337", "12345678"):
        assert value not in err


def test_dev_zero_fifo_directory_and_huge_file_refused_fast(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as fh:
        fh.truncate(MAX_CONFIG_BYTES + 1)
    for path, fragment in (
        ("/dev/zero", "not a regular file"),
        (fifo, "not a regular file"),
        (tmp_path, "not a regular file"),
        (huge, "too large"),
    ):
        started = time.monotonic()
        code, err = run(capsys, "--config", str(path), "users", "search", "a")
        assert code == 3 and fragment in err and err.count("\n") == 1, err
        assert time.monotonic() - started < 10


def test_dev_zero_does_not_hang_the_real_command(tmp_path: Path) -> None:
    """The issue's reproduction, in a real process with a timeout."""
    r = subprocess.run(
        [sys.executable, "-m", "console", "--config", "/dev/zero", "users", "search", "a"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert r.returncode == 3 and "not a regular file" in r.stderr


def test_world_readable_config_with_database_password_refused(capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    for url in (
        "postgresql+psycopg://ops:PW-hunter2@127.0.0.1/app",
        "postgresql+psycopg://127.0.0.1/app?user=ops&password=PW-hunter2",
    ):
        path = write_config(f'database_url = "{url}"\n', mode=0o644)
        code, err = run(capsys, "users", "search", "a")
        assert code == 3 and "database password" in err and f"chmod 600 {path}" in err
        assert "hunter2" not in err
    write_config('database_url = "postgresql+psycopg://ops@127.0.0.1:1/app"\n', mode=0o644)
    assert load_config().database_url  # no password: readable is fine


def test_world_readable_private_key_file_refused(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "signing.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    write_config(f'[tokens]\nalgorithm = "ES256"\nprivate_key_file = "{pem}"\n')
    for mode in (0o644, 0o640, 0o604):
        pem.chmod(mode)
        with pytest.raises(ConfigError, match=f"chmod 600 {pem}"):
            load_config()
    pem.chmod(0o600)
    assert load_config().tokens.private_key_file == pem


@pytest.mark.parametrize("option", ["--key", "--jwks", "--detached-payload"])
def test_named_files_never_hang(option: str, tmp_path: Path) -> None:
    """Key, JWKS and payload files go through the same reader as the config (authcore.files):
    /dev/zero and a FIFO are refused at once (before, `--key /dev/zero` read forever)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        r = subprocess.run(
            [sys.executable, "-m", "console", "tokens", "decode", "--no-db", option, path, "x.y.z"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        assert r.returncode == 2 and "not a regular file" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1


def test_private_key_fifo_in_config_never_hangs(tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "key.pem"
    os.mkfifo(fifo, 0o600)
    write_config(f'[tokens]\nalgorithm = "ES256"\nprivate_key_file = "{fifo}"\n')
    from authcore.core import AuthCore
    from authcore.db import make_engine

    with pytest.raises(ConfigError, match="not a regular file"):
        AuthCore(make_engine("sqlite://"), load_config())


def test_listen_url_from_the_file_or_the_environment(capsys, monkeypatch, write_config) -> None:  # type: ignore[no-untyped-def]
    assert resolve_listen_url(load_config()) is None
    write_config('listen_url = "postgresql+psycopg://ops@db-direct:5432/app"\n', mode=0o644)
    assert resolve_listen_url(load_config()) == "postgresql+psycopg://ops@db-direct:5432/app"
    monkeypatch.setenv("AUTHCONSOLE_LISTEN_URL", "postgresql://ops@other:5432/app")
    assert resolve_listen_url(load_config()) == "postgresql://ops@other:5432/app"
    path = write_config('listen_url = "postgresql+psycopg://ops:PW-hunter2@db/app"\n', mode=0o644)
    code, err = run(capsys, "users", "search", "a")  # a password in it: the file must be private
    assert code == 3 and "database password" in err and f"chmod 600 {path}" in err
    assert "hunter2" not in err


def test_a_repr_of_the_settings_shows_no_secret_and_no_database_password() -> None:
    """A ``Config`` or ``TokenSettings`` printed, logged or shown in a traceback's locals leaves
    out the signing secret and the URLs (which may hold a password); the rest stays readable."""
    from authcore.config import KeySpec

    secret = "s3cret-" + "x" * 40
    pw = "pg-pass-Z9"
    cfg = Config(
        database_url=f"postgresql://app:{pw}@db/auth",
        listen_url=f"postgresql://app:{pw}@db:5432/auth",
        read_database_url=f"postgresql://app:{pw}@replica/auth",
        tokens=TokenSettings(secret=secret, verify_keys=[KeySpec(kid="old", secret=secret)]),
    )
    for text in (repr(cfg), str(cfg), repr(cfg.tokens), repr(cfg.tokens.verify_keys[0])):
        assert secret not in text and pw not in text, text
    assert "kid='old'" in repr(cfg) and "issuer='authconsole'" in repr(cfg)
