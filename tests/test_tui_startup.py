"""Start-up paints first: the console shows its screen (header, "connecting…") before the
database stack is imported, builds the core in a worker, then shows results; a core that cannot
be built ends the console with the same one-line error as before. On SQLite and PostgreSQL where
a database is used."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from authcore.core import AuthCore
from authcore.urls import mask_password
from console import app as app_module
from console.cli import main
from console.connect import Connect
from console.widgets.search import SearchBox
from tests.conftest import modules_loaded
from tests.support.tui import column, make_app, rows, seed, settle, text_of, type_text


def test_the_app_imports_no_database_stack_before_its_first_frame() -> None:
    """What ``run_tui`` imports to paint: no SQLAlchemy, no PyJWT/cryptography, no psycopg."""
    code = (
        "from console.app import create_app\n"
        "from console.connect import Connect\n"
        "create_app(Connect(build=lambda: None, url='sqlite:///x', actor='a', role='admin',"
        " read_only=False))\n"
    )
    heavy = (
        "sqlalchemy",
        "jwt",
        "cryptography",
        "psycopg",
        "authcore.db",
        "authcore.users",
        "authcore.models",
    )
    assert modules_loaded(code, heavy) == []


def test_mask_password() -> None:
    assert (
        mask_password("postgresql+psycopg://ops:s3cret@db:5432/auth")
        == "postgresql+psycopg://ops:***@db:5432/auth"
    )
    assert mask_password("sqlite:////var/lib/a.db") == "sqlite:////var/lib/a.db"
    for url in (
        "postgresql://u:p@ss/w@rd@host/db",
        "postgresql://u:a/b@h/db",
        "postgresql://u:pw@host/db?opt=a@b",
    ):
        masked = mask_password(url)
        assert masked.startswith("postgresql://u:***@")
        assert not any(part in masked for part in ("p@ss", "w@rd", "a/b", ":pw@"))


async def test_connecting_then_results(core: AuthCore) -> None:
    seed(core, 10)
    release = threading.Event()

    def build() -> AuthCore:
        release.wait(30)
        return core

    connect = Connect(
        build=build, url="postgresql+psycopg://ops:***@db/auth", actor="ops", role="viewer", read_only=True
    )
    app = make_app(connect, read_only=True)  # run_tui passes --read-only both ways
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause(0.1)
        assert not app.connected
        assert isinstance(app.focused, SearchBox), "typing works while connecting"
        assert "connecting to postgresql+psycopg://ops:***@db/auth" in text_of(app, "#status")
        header = text_of(app, "#console-header")
        assert "READ-ONLY" in header and "ops" in header and "(viewer)" in header
        assert "db/auth" in header
        assert rows(app, "#users") == []
        await type_text(pilot, "ali")  # typed before the core exists: searched once it does
        await pilot.pause(0.1)
        release.set()
        await settle(pilot)
        assert app.connected and app.core is core
        assert core.read_only, "--read-only reaches authcore once it is built"
        assert "alice@example.com" in column(app, "#users", 0)
        assert "for 'ali'" in text_of(app, "#status")
        header = text_of(app, "#console-header")
        assert core.url_masked[-12:] in header and "test-operator" in header, header


async def test_a_core_that_cannot_be_built_ends_the_app_with_its_error() -> None:
    from authcore.errors import ValidationError

    def build() -> AuthCore:
        raise ValidationError("not a database URL: 'bogus'")

    app = make_app(Connect(build=build, url="bogus", actor="ops", role="admin", read_only=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.pause(0.2)
    assert app.return_code == 1
    assert isinstance(app.startup_error, ValidationError)
    assert not app._notifications, "no toast or outage banner for it: the error is printed"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("bogus", "error: not a database URL: 'bogus'"),
        ("mysql://u:pw@h/db", "error: unsupported database 'mysql'"),
    ],
)
def test_bad_url_is_one_line_after_the_tui(
    url: str, message: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    real_run = app_module.AuthConsoleApp.run

    def headless(self) -> Any:  # type: ignore[no-untyped-def]
        return real_run(self, headless=True, size=(80, 24))

    monkeypatch.setattr(app_module.AuthConsoleApp, "run", headless)
    code = main(["--db", url])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("authconsole: " + message), err
    assert err.count("\n") == 1 and "Traceback" not in err and "pw" not in err
