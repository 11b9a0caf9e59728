"""The confirm dialog does what its hint says, in every focus state: every (key, effect) of
``console.screens.confirm.KEYS`` is played from the state it belongs to, and the hint shown in that
state is the one built from the same table. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from authcore import audit
from authcore.core import AuthCore
from console.screens.confirm import KEYS, ConfirmScreen, hint
from console.screens.user import UserScreen
from tests.support.tui import make_app, seed, settle, text_of, type_text

PREFILLED = "ticket SEC-9"
CASES = [(state, key, effect) for state, keys in KEYS.items() for key, effect in keys]


async def open_dialog(pilot: Pilot[Any]) -> ConfirmScreen:
    app = pilot.app
    app.open_user(app.core.users.find("alice").id)
    await settle(pilot)
    await pilot.press("R")
    await settle(pilot)
    assert isinstance(app.screen, ConfirmScreen)
    return app.screen


def reason(dialog: ConfirmScreen) -> str:
    return dialog.query_one("#reason", Input).value


async def reach(pilot: Pilot[Any], dialog: ConfirmScreen, state: str) -> None:
    """From the dialog as it opens (Cancel focused), by keys, to ``state``."""
    if state == "confirm":
        await pilot.press("tab")
    elif state == "reason":
        await pilot.press("shift+tab")
    await pilot.pause()
    assert dialog.focus_state() == state
    assert text_of(pilot.app, "#confirm-hint") == hint(state)


def last_event(core: AuthCore, uid: int) -> audit.AuditRecord | None:
    events_ = audit.list_events(core.engine, user_id=uid, limit=1)
    return events_[0] if events_ else None


@pytest.mark.parametrize(("state", "key", "effect"), CASES, ids=[f"{s}-{k}" for s, k, _e in CASES])
async def test_every_key_does_what_the_hint_says(core: AuthCore, state: str, key: str, effect: str) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    before = last_event(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        dialog.query_one("#reason", Input).value = PREFILLED  # so a confirm can go through
        await reach(pilot, dialog, state)
        press = {"esc": "escape", "letters": "k"}.get(key, key)
        await pilot.press(press)
        await settle(pilot)
        if effect == "confirm":
            assert isinstance(app.screen, UserScreen)
        elif effect == "cancel":
            assert isinstance(app.screen, UserScreen)
            assert "cancelled, nothing changed" in text_of(app, "#status")
        else:  # "reason" / "type": the letter is in the reason box, the dialog still open
            assert app.screen is dialog
            assert reason(dialog) == PREFILLED + press
            assert dialog.focus_state() == "reason"
            assert text_of(app, "#confirm-hint") == hint("reason")
    after = last_event(core, alice)
    if effect == "confirm":
        assert after is not None and after.action == "revoke_tokens"
        assert after.reason == PREFILLED
    else:
        assert after == before, "nothing changed"


async def test_after_typing_a_reason_y_on_cancel_confirms(core: AuthCore) -> None:
    """Issue 11: a reason typed, tab to Cancel, ``y`` was typed into the reason ("lost phoney")
    instead of confirming. On a button ``y`` answers, as the hint there says."""
    seed(core, 0)
    alice = core.users.find("alice").id
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await type_text(pilot, "lost phone")  # from Cancel: the letters go to the reason box
        await settle(pilot)
        assert reason(dialog) == "lost phone" and dialog.focus_state() == "reason"
        await pilot.press("tab")  # the reason box -> Cancel
        await pilot.pause()
        assert dialog.focus_state() == "cancel"
        assert text_of(app, "#confirm-hint") == hint("cancel")
        assert "y confirm" in hint("cancel")
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
    ev = last_event(core, alice)
    assert ev is not None and (ev.action, ev.reason) == ("revoke_tokens", "lost phone")


async def test_after_the_empty_reason_error_letters_type_and_the_hint_says_so(core: AuthCore) -> None:
    """Issue 11: after ``y`` with an empty reason, ``n`` typed an ``n`` while the hint said
    ``n, esc cancel``. The focus is in the reason box then, where letters are text (a burst over
    SSH is never an answer): the hint now says that, and ``esc`` cancels."""
    seed(core, 0)
    alice = core.users.find("alice").id
    before = last_event(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert "reason is required" in text_of(app, "#confirm-problem")
        assert dialog.focus_state() == "reason"
        shown = text_of(app, "#confirm-hint")
        assert shown == hint("reason")
        assert "esc cancel" in shown and "(y/n too) type" in shown and "n cancel" not in shown
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is dialog and reason(dialog) == "n"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
    assert last_event(core, alice) == before


async def test_a_burst_starting_on_cancel_is_never_an_answer(core: AuthCore) -> None:
    """Over SSH a word arrives at once, before the focus has moved: every letter after the first
    goes into the reason box (y and n included), and the dialog stays open."""
    seed(core, 0)
    alice = core.users.find("alice").id
    before = last_event(core, alice)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await open_dialog(pilot)
        for ch in "stolen, yes no":
            dialog.post_message(events.Key("space" if ch == " " else ch, ch))
        await settle(pilot)
        assert app.screen is dialog and reason(dialog) == "stolen, yes no"
        assert text_of(app, "#confirm-hint") == hint("reason")
        await pilot.press("escape")
        await settle(pilot)
    assert last_event(core, alice) == before


def toasts(app: Any) -> list[str]:
    """Toasts drawn on the current screen (a dialog included)."""
    return [str(t.render()) for t in app.screen.query("Toast")]


async def test_a_result_never_covers_the_next_dialog(core: AuthCore) -> None:
    """Issue 11: the 8-line result toast covered the audit rows and the next dialog's buttons
    and hint. The outcome goes to the user screen's result line; a dialog shows no toast."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        dialog = await open_dialog(pilot)
        await type_text(pilot, "rotate")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        result = text_of(app, "#result")
        # the measured figure first: the result line is three lines at 80 columns
        assert result.startswith("Revoke all tokens: Refused by strict verifiers within ~")
        assert "alice@example.com: token_version 0 -> 1" in result
        assert app.screen.query_one("#result").region.height >= 1, "shown on the screen"
        assert not toasts(app), "no toast over the audit rows"
        await pilot.press("R")  # the next dialog at once
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and app.screen is not dialog
        assert not toasts(app)
        app.notify_safe("copied: ", "ses_123")  # anything said while the dialog is open...
        await pilot.pause()
        assert not toasts(app), "...is not a toast over it"
        under = app.screen_stack[-2]
        assert "copied: ses_123" in under.query_one("#status").content.plain
