"""Errors never freeze the console or show a traceback; an outage shows a banner and ends by itself
when the database answers again. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import DatabaseUnavailable
from authcore.users import UserService
from console.screens.user import UserScreen
from console.widgets.header import OutageBanner
from console.widgets.search import SearchBox
from tests.support.tui import (
    column,
    make_app,
    notifications,
    rows,
    seed,
    settle,
    text_of,
    type_text,
)


def banner(app) -> OutageBanner:  # type: ignore[no-untyped-def]
    return app.screen.query_one(OutageBanner)


def bad_engine(core: AuthCore, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An engine that cannot connect: a directory as SQLite file, or a closed PostgreSQL port."""
    if core.engine.dialect.name == "sqlite":
        gone = tmp_path / "gone.db"
        gone.touch()  # make_engine accepts an existing file only...
        engine = make_engine(f"sqlite:///{gone}")
        gone.unlink()
        gone.mkdir()  # ...which then turns into a directory: every connect fails
        return engine
    return make_engine("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nowhere")


async def test_outage_banner_then_recovery_by_itself(core: AuthCore, tmp_path: Path) -> None:
    seed(core, 0)
    good = core.users
    app = make_app(core, retry_interval=0.3)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        core.users = UserService(bad_engine(core, tmp_path))  # the database goes away
        await type_text(pilot, "ali")
        await settle(pilot)
        assert app.outage is not None and app.is_running
        assert banner(app).display
        shown = text_of(app, "#outage")
        assert "DATABASE UNAVAILABLE" in shown and "retrying every 0.3s" in shown
        assert "s3cret" not in shown, "never a password"
        assert "Traceback" not in shown
        assert any("database unavailable" in m for m in notifications(app))
        core.users = good  # it comes back: the periodic retry notices
        await pilot.pause(0.5)
        await settle(pilot)
        assert app.outage is None and not banner(app).display
        assert "alice@example.com" in column(app, "#users", 0)
        assert "database is back" in notifications(app)


async def test_outage_raised_by_a_service_and_r_retries(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seed(core, 0)
    app = make_app(core, retry_interval=60)  # no automatic retry: r does it
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)

        def down(*a, **kw):  # type: ignore[no-untyped-def]
            raise DatabaseUnavailable("database unavailable (db): connection refused")

        with monkeypatch.context() as m:
            m.setattr(core.sessions, "for_user", down)
            app.open_user(core.users.find("alice").id)
            await settle(pilot)
            assert isinstance(app.screen, UserScreen)
            assert banner(app).display and "connection refused" in text_of(app, "#outage")
            assert rows(app, "#sessions") == []
        await pilot.press("r")
        await settle(pilot)
        assert not banner(app).display
        assert len(rows(app, "#sessions")) == 4
        await pilot.press("escape")
        await settle(pilot)
        assert not banner(app).display, "the users screen's banner follows the app state"


async def test_a_failed_action_changes_nothing(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seed(core, 0)
    alice = core.users.find("alice")
    real = core.admin.revoke_tokens

    def refuse(user_id, reason, *, dry_run=False):  # type: ignore[no-untyped-def]
        if dry_run:
            return real(user_id, reason, dry_run=True)
        raise DatabaseUnavailable("database unavailable (db): server closed the connection")

    monkeypatch.setattr(core.admin, "revoke_tokens", refuse)
    app = make_app(core, retry_interval=60)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(alice.id)
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("shift+tab")
        await type_text(pilot, "rotate")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.is_running
        result = text_of(app, "#result")
        assert result.startswith("not done: ") and "nothing was changed" in result
    assert core.users.get(alice.id).token_version == alice.token_version


async def test_validation_error_is_a_message_not_an_outage(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.query_one(SearchBox).value = "x" * 400
        await settle(pilot)
        assert app.outage is None and app.is_running
        assert "search term too long" in text_of(app, "#status")
        assert "r retries" in text_of(app, "#status")


async def test_unexpected_exception_is_one_line(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seed(core, 0)

    def boom(*a, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(core.users, "search", boom)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.is_running
        status = text_of(app, "#status")
        assert "unexpected RuntimeError: boom" in status and "second line" not in status
        assert not any("Traceback" in m for m in notifications(app))


def blocking_preview(core: AuthCore, monkeypatch, gate):  # type: ignore[no-untyped-def]
    """Revoke's dry run hangs until ``gate`` opens, like a connect to a database that is away
    and comes back; the real call after that."""
    real = core.admin.revoke_tokens

    def revoke(user_id, reason, *, dry_run=False):  # type: ignore[no-untyped-def]
        if dry_run:
            gate.wait(10)
        return real(user_id, reason, dry_run=dry_run)

    monkeypatch.setattr(core.admin, "revoke_tokens", revoke)


def down(*a, **kw):  # type: ignore[no-untyped-def]
    raise DatabaseUnavailable("database unavailable (db): connection refused")


async def test_an_action_during_an_outage_says_so_at_once_and_never_fires_later(
    core: AuthCore, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: during an outage R showed nothing, and when the database came back a Revoke
    dialog popped up by itself."""
    import threading

    from console.screens.confirm import ConfirmScreen

    seed(core, 0)
    alice = core.users.find("alice")
    gate = threading.Event()
    blocking_preview(core, monkeypatch, gate)
    app = make_app(core, retry_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(alice.id)
        await settle(pilot)
        with monkeypatch.context() as m:
            m.setattr(core.sessions, "for_user", down)
            await pilot.press("r")
            await settle(pilot)
            assert app.outage is not None and banner(app).display
            await pilot.press("R")
            await pilot.pause()
            result = text_of(app, "#result")
            assert "Revoke all tokens: cannot run" in result and "nothing was sent" in result
            assert not app.screen.busy("preview"), "nothing queued"
        gate.set()  # the database is back
        await pilot.pause(0.5)
        await settle(pilot)
        assert app.outage is None and not banner(app).display
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
    assert core.users.get(alice.id).token_version == alice.token_version


async def test_a_dry_run_that_outlives_an_outage_opens_no_dialog(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """R pressed before anyone knew the database was away: its dry run hangs, the outage is
    seen, then the database is back and the dry run answers. The dialog does not open by itself
    then."""
    import threading

    from console.screens.confirm import ConfirmScreen

    seed(core, 0)
    alice = core.users.find("alice")
    gate = threading.Event()
    blocking_preview(core, monkeypatch, gate)
    app = make_app(core, retry_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(alice.id)
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        assert "preparing" in text_of(app, "#status")
        with monkeypatch.context() as m:
            m.setattr(core.sessions, "for_user", down)
            app.screen.reload()
            await pilot.pause(0.3)
            assert app.outage is not None
        gate.set()  # the database is back: the dry run answers (and ends the outage)
        await settle(pilot)
        assert app.outage is None
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
        result = text_of(app, "#result")
        assert "not opened (the database was unavailable meanwhile)" in result
        assert "press R again" in result
    assert core.users.get(alice.id).token_version == alice.token_version


async def test_a_dry_run_slower_than_the_patience_opens_no_dialog(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading

    from console.screens.confirm import ConfirmScreen

    seed(core, 0)
    gate = threading.Event()
    blocking_preview(core, monkeypatch, gate)
    app = make_app(core, action_patience=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(core.users.find("alice").id)
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause(0.5)
        gate.set()
        await settle(pilot)
        assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
        assert "not opened (the database took" in text_of(app, "#result")
        await pilot.press("R")  # answered in time now: the dialog opens
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)


async def test_the_status_line_clears_when_the_banner_does(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: the status line kept saying "database unavailable · r retries now" after the
    banner was gone (the outage ended through another screen's read)."""
    seed(core, 0)
    app = make_app(core, retry_interval=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        with monkeypatch.context() as m:
            m.setattr(core.users, "search", down)
            app.screen.reload()
            await settle(pilot)
            assert "database unavailable · r retries now" in text_of(app, "#status")
        await pilot.press("escape", "s")  # the sessions screen reads fine: the outage ends
        await settle(pilot)
        assert app.outage is None
        await pilot.press("escape")
        await settle(pilot)
        assert not banner(app).display
        assert "database unavailable" not in text_of(app, "#status")
        assert text_of(app, "#status") == "database is back"
