"""The user screen and its actions, on SQLite and PostgreSQL: every action confirmed and cancelled
(the database checked through ``core`` after), the reason rule, in-place refresh, reuse events."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Button, Input

from authcore import audit
from authcore.core import AuthCore
from authcore.errors import RefreshReuse
from console.screens.confirm import ConfirmScreen
from console.screens.user import UserScreen
from tests.support.tui import (
    find_row,
    footer_keys,
    make_app,
    notifications,
    rows,
    seed,
    settle,
    table,
    text_of,
    type_text,
)


def state(core: AuthCore, uid: int) -> tuple[int, bool, int, int]:
    """(token_version, disabled, sessions, audit events) of a user."""
    u = core.users.get(uid)
    return (
        u.token_version,
        u.disabled,
        len(core.sessions.for_user(uid)),
        len(audit.list_events(core.engine, user_id=uid)),
    )


async def open_user(pilot, ref: str) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    app.open_user(app.core.users.find(ref).id)
    await settle(pilot)
    assert isinstance(app.screen, UserScreen)


async def test_user_screen_shows_profile_sessions_and_events(core: AuthCore) -> None:
    seed(core, 5)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        profile = text_of(app, "#profile")
        assert "alice@example.com" in profile and "Alice Liddell" in profile
        assert "token_version 0" in profile and "enabled" in profile
        sess = rows(app, "#sessions")
        assert len(sess) == 4
        assert [r[0] for r in sess].count("active") == 3 and [r[0] for r in sess][-1] == "expired"
        ips = {r[2] for r in sess}
        assert {"203.0.113.10", "198.51.100.23", "192.0.2.77", "203.0.113.99"} == ips
        assert "3 active, 1 expired" in text_of(app, "#sessions-label")
        detail = text_of(app, "#session-detail")
        assert "Firefox/132.0" in detail  # the UA of the first (newest) session
    app = make_app(core)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_user(pilot, "alice")
        assert any("Firefox" in r[-1] for r in rows(app, "#sessions")), "UA column at 120 cols"


ACTIONS = [  # key, action, expected change
    ("R", "revoke_tokens"),
    ("d", "delete_session"),
    ("D", "delete_sessions"),
    ("x", "disable_user"),
]


@pytest.mark.parametrize(("key", "action"), ACTIONS)
@pytest.mark.parametrize("cancel", ["n", "escape", "button"])
async def test_action_cancelled_changes_nothing(core: AuthCore, key: str, action: str, cancel: str) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    before = state(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel", "Cancel focused"
        if cancel == "button":
            await pilot.press("enter")
        else:
            await pilot.press(cancel)
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "cancelled, nothing changed" in text_of(app, "#status")
    assert state(core, alice) == before


@pytest.mark.parametrize(("key", "action"), ACTIONS)
async def test_action_confirmed_with_reason(core: AuthCore, key: str, action: str) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    tv, disabled, n_sessions, n_events = state(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        highlighted = table(app, "#sessions").highlighted_key
        await pilot.press(key)
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        summary = text_of(app, "#confirm-summary")
        assert summary.startswith("alice@example.com: ")
        if action == "revoke_tokens":
            assert "token_version 0 -> 1, 3 sessions stay" in summary
            assert "strict verifiers refuse the user's earlier access tokens within" in summary
        # y without a reason is refused, with a message; nothing happens
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is dialog
        assert "reason is required" in text_of(app, "#confirm-problem")
        assert isinstance(app.focused, Input) and app.focused.id == "reason"
        assert state(core, alice) == (tv, disabled, n_sessions, n_events)
        await type_text(pilot, "ticket SEC-1 y n")  # y and n type into the reason box
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        done = text_of(app, "#result")  # the result line, not a toast (issue 11)
        assert "alice@example.com: " in done, done
        # measured by the console's own verifier (LISTEN on PostgreSQL, polling on SQLite)
        assert re.search(r"Refused by strict verifiers within ~\d+ ms", done), done
        profile = text_of(app, "#profile")
        events = rows(app, "#events")
        assert events[0][1] == action, "the view refreshed with the new event"
    ev = audit.list_events(core.engine, user_id=alice, limit=1)[0]
    assert (ev.action, ev.actor, ev.reason) == (action, core.actor, "ticket SEC-1 y n")
    after = state(core, alice)
    if action == "revoke_tokens":
        assert after == (tv + 1, False, n_sessions, n_events + 1)
        assert f"token_version {tv + 1}" in profile
    elif action == "delete_session":
        assert after == (tv, False, n_sessions - 1, n_events + 1)
        assert ev.target_session == highlighted
        assert core.sessions.get(highlighted) is None
    elif action == "delete_sessions":
        assert after == (tv, False, 0, n_events + 1)
    else:  # disabling bumps token_version and ends the sessions (issue 18.10)
        assert after == (tv + 1, True, 0, n_events + 1)
        assert "DISABLED" in profile


async def test_enable_after_disable_swaps_the_key(core: AuthCore) -> None:
    seed(core, 0)
    carol = core.users.find("carol").id
    assert core.users.get(carol).disabled
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "carol")
        assert "Enable" in footer_keys(app).values() and "Disable" not in footer_keys(app).values()
        await pilot.press("x")
        await settle(pilot)
        assert "enabled; the user can log in again" in text_of(app, "#confirm-summary")
        await pilot.press("shift+tab")  # Cancel -> the reason box
        await type_text(pilot, "cleared by security")
        await pilot.press("enter")
        await settle(pilot)
        assert "Disable" in footer_keys(app).values()
    assert not core.users.get(carol).disabled
    assert audit.list_events(core.engine, user_id=carol)[0].action == "enable_user"


async def test_database_refusal_changes_nothing_and_says_why(core: AuthCore) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    before = state(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        await pilot.press("R")
        await settle(pilot)
        core.read_only = True  # authcore now refuses, whatever the UI believed
        await pilot.press("shift+tab")
        await type_text(pilot, "rotate")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.is_running
        assert "refused" in text_of(app, "#result") and "nothing was changed" in text_of(app, "#result")
        assert "refused" in text_of(app, "#status")
    assert state(core, alice) == before


async def test_delete_session_with_none_left(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "carol")
        assert rows(app, "#sessions") == []
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "no session highlighted" in notifications(app)


async def test_sessions_refresh_in_place_keeping_the_cursor(core: AuthCore) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    app = make_app(core, refresh_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        t = table(app, "#sessions")
        await find_row(pilot, "#sessions", lambda r: r[2] == "192.0.2.77")
        key = t.highlighted_key
        core.sessions.touch(key, ip="10.9.9.9")  # an update: cells change in place
        await pilot.pause(0.35)
        await settle(pilot)
        assert t.highlighted_key == key
        assert rows(app, "#sessions")[t.cursor_row][2] == "10.9.9.9"
        core.sessions.create(alice, ip="10.1.1.1", user_agent="New/1.0")  # a new row
        await pilot.pause(0.35)
        await settle(pilot)
        assert len(rows(app, "#sessions")) == 5
        assert t.highlighted_key == key, "the cursor stays on the same session"


async def test_reuse_events_are_shown_distinctly(core: AuthCore) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    s, _raw = core.sessions.create(alice, ip="10.0.0.1", user_agent="T/1")
    first = core.tokens.issue_pair(alice, sid=s.public_id)
    second = core.tokens.refresh(first.refresh_token)
    core.tokens.refresh(second.refresh_token)
    with pytest.raises(RefreshReuse):
        core.tokens.refresh(first.refresh_token)  # two rotations old: reuse
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        events = table(app, "#events")
        cell = events.get_row_at(0)[1]
        assert cell.plain == "⚠ refresh_reuse_detected"
        assert "red" in str(cell.style) and "reverse" in str(cell.style)
        assert "refresh token reuse" in text_of(app, "#events-label")


async def test_slow_database_refresh_is_not_starved(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A load slower than the refresh interval is not cancelled by the next refresh."""
    import time

    seed(core, 0)
    real = core.sessions.for_user

    def slow(*a, **kw):  # type: ignore[no-untyped-def]
        time.sleep(0.4)
        return real(*a, **kw)

    monkeypatch.setattr(core.sessions, "for_user", slow)
    app = make_app(core, refresh_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(core.users.find("alice").id)
        await pilot.pause(1.2)
        await settle(pilot)
        assert len(rows(app, "#sessions")) == 4


async def test_typing_a_reason_straight_away_goes_into_the_reason_box(core: AuthCore) -> None:
    """Cancel has focus, yet an operator who just types the reason and presses enter gets what
    they meant (the first letter moves focus into the reason box; later y/n are just letters)."""
    seed(core, 0)
    alice = core.users.find("alice").id
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await type_text(pilot, "stolen laptop, yes")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
    ev = audit.list_events(core.engine, user_id=alice, limit=1)[0]
    assert (ev.action, ev.reason) == ("revoke_tokens", "stolen laptop, yes")


async def test_reason_typed_in_a_burst_keeps_every_letter_and_esc_still_cancels(core: AuthCore) -> None:
    """Over SSH a whole word arrives at once: no letter is lost or reordered while the focus
    moves into the reason box, y/n inside it are letters, and esc still cancels."""
    from textual import events

    seed(core, 0)
    alice = core.users.find("alice").id
    before = state(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "alice")
        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        for ch in "lost phone, yes":
            dialog.post_message(events.Key("space" if ch == " " else ch, ch))
        await settle(pilot)
        assert app.screen is dialog
        assert dialog.query_one("#reason", Input).value == "lost phone, yes"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
    assert state(core, alice) == before


async def test_keys_on_an_empty_sessions_table_do_not_crash(core: AuthCore) -> None:
    """Found by the random walk: ``up`` on the empty sessions table of a user without sessions
    posts a highlight with no row key (DataTable's cursor at row -1)."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_user(pilot, "carol")
        assert rows(app, "#sessions") == []
        await pilot.press("up", "down", "enter", "end", "home")
        await settle(pilot)
        assert app._exception is None and app.is_running
        assert text_of(app, "#session-detail") == "no sessions"
