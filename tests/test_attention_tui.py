"""The Needs attention screen with Pilot, on SQLite and PostgreSQL: ``!`` opens it from any screen,
its rows say why, ``enter`` opens the user, the action that fits the highlighted finding (and only
that one) is offered, confirmed in the dialog with a reason, and committed through authcore;
read-only mode offers none; ``w`` changes the window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from authcore import audit
from authcore.core import AuthCore
from authcore.timeutil import utcnow
from console.screens.attention import AttentionScreen
from console.screens.confirm import ConfirmScreen
from console.screens.user import UserScreen
from tests.support.attention import add_reuse, add_session
from tests.support.tui import find_row, footer_keys, make_app, rows, settle, text_of, type_text


@pytest.fixture
def flagged(core: AuthCore) -> dict[str, int]:
    now = utcnow()
    thief = core.users.create("thief@example.com", "thief")
    gone = core.users.create("gone@example.com", "gone")
    core.users.create("calm@example.com", "calm")
    add_reuse(core, thief.id, now - timedelta(hours=1))
    core.admin.set_disabled(gone.id, True, "left the company")
    add_session(core, gone.id, now - timedelta(minutes=5))  # written around the disable
    return {"thief": thief.id, "gone": gone.id}


async def open_attention(pilot: Pilot[Any]) -> AttentionScreen:
    await settle(pilot)
    await pilot.press("escape", "exclamation_mark")  # esc: from the search box to the results
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AttentionScreen)
    return screen


async def test_rows_say_why_and_enter_opens_the_user(core: AuthCore, flagged: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_attention(pilot)
        got = rows(app, "#attention")
        assert [(r[0], r[1]) for r in got] == [
            ("disabled+live", "gone@example.com"),  # disabled just now: newest first
            ("⚠ token reuse", "thief@example.com"),
        ]
        assert "calm@example.com" not in str(got)
        assert "holds 1 unexpired session" in text_of(app, "#finding")
        assert "not checked: no GeoIP database" in text_of(app, "#signals")
        assert "2 findings in the last 1 d" in text_of(app, "#status")
        await find_row(pilot, "#attention", lambda r: r[1] == "thief@example.com")
        assert "presented again" in text_of(app, "#finding")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == flagged["thief"]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AttentionScreen)


async def test_the_fitting_action_is_offered_confirmed_and_committed(
    core: AuthCore, flagged: dict[str, int]
) -> None:
    before = core.users.get(flagged["thief"]).token_version
    app = make_app(core)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_attention(pilot)
        await find_row(pilot, "#attention", lambda r: r[1] == "gone@example.com")
        keys = footer_keys(app)
        assert keys.get("D") == "Del all" and "R" not in keys  # the disabled user's fit
        await find_row(pilot, "#attention", lambda r: r[1] == "thief@example.com")
        keys = footer_keys(app)
        assert keys.get("R") == "Revoke" and "D" not in keys and "d" not in keys
        assert "R: Revoke all tokens" in text_of(app, "#finding")
        await pilot.press("D")  # not the fitting action here: nothing opens
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.focus_state() == "cancel"
        assert "thief@example.com" in text_of(app, "#confirm-summary")
        await pilot.press("tab", "tab")  # to the reason box
        await type_text(pilot, "stolen token SEC-1")
        assert dialog.query_one("#reason", Input).value == "stolen token SEC-1"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert "Revoke all tokens: " in text_of(app, "#result")
    assert core.users.get(flagged["thief"]).token_version == before + 1
    (event,) = audit.list_events(core.engine, user_id=flagged["thief"], limit=1)
    assert (event.action, event.reason, event.actor) == (
        "revoke_tokens",
        "stolen token SEC-1",
        "test-operator",
    )


async def test_read_only_offers_no_action(core: AuthCore, flagged: dict[str, int]) -> None:
    before = core.users.get(flagged["thief"]).token_version
    app = make_app(core, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_attention(pilot)
        await find_row(pilot, "#attention", lambda r: r[1] == "thief@example.com")
        assert "R" not in footer_keys(app)
        assert "Revoke" not in text_of(app, "#finding")
        await pilot.press("R")
        await settle(pilot)
        assert app.screen is screen
    assert core.users.get(flagged["thief"]).token_version == before


async def test_w_changes_the_window(core: AuthCore, flagged: dict[str, int]) -> None:
    add_reuse(core, flagged["thief"], utcnow() - timedelta(days=3))
    app = make_app(core)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_attention(pilot)
        assert screen.since == timedelta(hours=24)
        await pilot.press("w")
        await settle(pilot)
        assert screen.since == timedelta(days=7) and "last 7 d" in screen.title_text()
        thief = next(r for r in rows(app, "#attention") if r[1] == "thief@example.com")
        assert thief[3] == "2"  # the event of 3 days ago counts now
        await pilot.press("w", "w")
        await settle(pilot)
        assert screen.since == timedelta(hours=1)
        assert [r[1] for r in rows(app, "#attention")] == ["gone@example.com"]
