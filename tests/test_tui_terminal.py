"""Terminal concerns: 80x24 without clipping key information, NO_COLOR, ANSI themes, and
``run_tui`` wiring (flags, theme variable, the core built after the first frame). On SQLite and
PostgreSQL where a database is used."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import pytest

from authcore.config import Config
from authcore.core import AuthCore
from console import app as app_module
from console.app import create_app, run_tui
from tests.support.tui import footer_keys, make_app, seed, settle, text_of


@pytest.mark.parametrize("kind", ["users", "user", "sessions", "audit", "token"])
async def test_every_screen_fits_80x24(core: AuthCore, kind: str) -> None:
    seed(core, 0)
    app = make_app(core, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if kind == "user":
            app.open_user(core.users.find("alice").id)
        elif kind != "users":
            app.goto(kind)
        await settle(pilot)
        await pilot.press("escape") if kind == "users" else None
        header = text_of(app, "#console-header")
        assert "READ-ONLY" in header and "test-operator" in header, header
        assert len(header) <= 80
        for fk in app.screen.query("FooterKey"):
            assert fk.region.right <= 80, f"{kind}: footer key {fk.description!r} clipped"
        assert footer_keys(app), "the footer shows the screen's keys"


async def test_user_screen_footer_holds_every_action_at_80(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(core.users.find("alice").id)
        await settle(pilot)
        labels = set(footer_keys(app).values())
        assert {"Revoke", "Del session", "Del all", "Disable", "Back", "Help"} <= labels
        for fk in app.screen.query("FooterKey"):
            assert fk.region.right <= 80, f"footer key {fk.description!r} clipped"


async def test_long_url_is_cut_in_the_middle_and_badge_stays(engine, config) -> None:  # type: ignore[no-untyped-def]
    core = AuthCore(engine, config, actor="op", role="viewer")
    long_url = "postgresql+psycopg://ops:***@" + "db" * 40 + ".example.internal:5432/auth"
    core.__class__ = type("LongUrlCore", (AuthCore,), {"url_masked": long_url})
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        header = text_of(app, "#console-header")
        assert "READ-ONLY" in header and "(viewer)" in header and "…" in header
        assert header.rstrip().endswith("5432/auth")


async def test_no_color(core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(core)
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.is_running


async def test_ansi_themes(core: AuthCore) -> None:
    app = create_app(core, theme="textual-ansi")
    assert app.theme == "ansi-dark"
    assert {"ansi-dark", "ansi-light"} <= set(app.available_themes)
    app = create_app(core, theme="ansi-light")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "ansi-light" and app.is_running


def test_run_tui_wires_flags_and_theme(core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def drive(app: app_module.AuthConsoleApp) -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            seen.update(connecting_read_only=app.read_only)
            await settle(pilot)
            seen.update(theme=app.theme, read_only=app.read_only, core=app.core)

    def fake_run(self) -> None:  # type: ignore[no-untyped-def]
        asyncio.run(drive(self))
        self._return_code = 0

    monkeypatch.setattr(app_module.AuthConsoleApp, "run", fake_run)
    monkeypatch.setenv(app_module.THEME_ENV, "textual-ansi")

    class Ctx:
        args = argparse.Namespace(read_only=True, db=None)
        config = Config()

        def database_url(self) -> str:
            return "sqlite:///somewhere.db"

        def core(self, *, interactive: bool = False) -> AuthCore:
            seen["interactive"] = interactive  # the TUI's core gets the short bounds
            return core

    assert run_tui(Ctx()) == 0  # type: ignore[arg-type]
    assert seen == {
        "connecting_read_only": True,
        "theme": "ansi-dark",
        "read_only": True,
        "core": core,
        "interactive": True,
    }
    assert core.read_only, "--read-only makes authcore refuse too"


async def test_resizing_refits_columns_and_keeps_the_cursor(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(core.users.find("alice").id)
        await settle(pilot)
        table = app.screen.query_one("#sessions")
        await pilot.press("down")
        key = table.highlighted_key
        assert "ua" not in [c.value for c in table.columns], "no room for the UA at 80"
        await pilot.resize_terminal(130, 40)
        await settle(pilot)
        assert "ua" in [c.value for c in table.columns]
        assert table.highlighted_key == key
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert "ua" not in [c.value for c in table.columns]
        assert table.highlighted_key == key


def test_keys_typed_before_the_first_frame_reach_the_search(tmp_path: Any) -> None:
    """In a real terminal (tmux, 80x24): ``quinn`` typed the moment the command starts, as an
    operator does over ssh. Before the first screen focused its search box those keys reached
    the bare screen: lost, or ``q`` quit the console. They are held and replayed in order."""
    import shutil
    import subprocess
    import sys
    import time
    import uuid

    if shutil.which("tmux") is None:
        pytest.skip("needs tmux (.ci/run installs it)")
    db = f"sqlite:///{tmp_path / 'typeahead.db'}"
    env = {**__import__("os").environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    subprocess.run(
        [sys.executable, "-m", "console", "demo", "--db", db], env=env, check=True, capture_output=True
    )
    sock = f"typeahead-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", sock]
    cmd = f"{sys.executable} -m console --db '{db}'"
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", "80", "-y", "24", cmd], env=env, check=True)
    try:
        subprocess.run([*tmux, "send-keys", "-t", "t", "quinn"], check=True)  # before the first frame
        screen = ""
        end = time.monotonic() + 30
        while time.monotonic() < end:
            got = subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True)
            screen = got.stdout
            if got.returncode != 0 or "for 'quinn'" in screen:
                break
            time.sleep(0.2)
        assert got.returncode == 0, "the console ended: q reached the screen's quit key"
        assert "for 'quinn'" in screen, screen
        assert screen.splitlines()[1].startswith("quinn"), screen
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
