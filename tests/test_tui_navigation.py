"""The navigation model (``console.navigation``): opening a screen that is already on the stack
goes back to it (or replaces it), so the stack never holds two screens for the same thing. The
four key paths of issue 11 that crashed with ``DuplicateIds``, each on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import TextArea

from authcore.core import AuthCore
from console.app import AuthConsoleApp
from console.navigation import SCREENS, identity
from console.screens.activity import ActivityScreen
from console.screens.attention import AttentionScreen
from console.screens.audit import AuditScreen
from console.screens.sessions import SessionsScreen
from console.screens.token import TokenScreen
from console.screens.user import UserScreen
from console.screens.users import UsersScreen
from tests.support.tui import burst, find_row, make_app, seed, settle, type_text


def kinds(app: AuthConsoleApp) -> list[type]:
    return [type(s) for s in app.screen_stack]


def assert_no_duplicates(app: AuthConsoleApp) -> None:
    ids = [identity(s) for s in app.screen_stack]
    assert len(ids) == len(set(ids)), ids


async def paste(pilot: Pilot[Any], text: str) -> None:
    pilot.app.screen.query_one(TextArea).focus()
    pilot.app.post_message(events.Paste(text))
    await settle(pilot)


async def open_alice_from_search(pilot: Pilot[Any]) -> None:
    await type_text(pilot, "alice@")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, UserScreen)


async def test_alice_audit_enter_goes_back_to_alice(core: AuthCore) -> None:
    """alice -> enter -> a -> enter on an audit row (the footer says "enter opens the user")."""
    seed(core, 0)
    alice = core.users.find("alice").id
    core.admin.revoke_tokens(alice, "an event to open")
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice_from_search(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        await find_row(pilot, "#audit", lambda r: r[3] == f"#{alice}")
        await pilot.press("enter")
        await settle(pilot)
        assert app.is_running and app._exception is None
        assert kinds(app) == [UsersScreen, UserScreen], "back to alice, not a second alice"
        assert app.screen.user_id == alice
        assert_no_duplicates(app)


async def test_alice_token_ctrl_o_goes_back_to_alice(core: AuthCore) -> None:
    """alice -> enter -> t -> paste a token -> ctrl+o."""
    seed(core, 0)
    alice = core.users.find("alice").id
    token = core.tokens.issue_pair(alice).access_token
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice_from_search(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TokenScreen)
        await paste(pilot, token)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.is_running and app._exception is None
        assert kinds(app) == [UsersScreen, UserScreen]
        assert app.screen.user_id == alice
        assert_no_duplicates(app)


async def test_results_sessions_enter_sessions_goes_back_to_sessions(core: AuthCore) -> None:
    """results -> s -> enter -> s."""
    seed(core, 5)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "s")
        await settle(pilot)
        sessions = app.screen
        assert isinstance(sessions, SessionsScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        await pilot.press("s")
        await settle(pilot)
        assert app.is_running and app._exception is None
        assert app.screen is sessions, "the same sessions screen, not a second one"
        assert kinds(app) == [UsersScreen, SessionsScreen]
        assert_no_duplicates(app)


async def test_results_token_ctrl_o_token_goes_back_to_the_token(core: AuthCore) -> None:
    """results -> t -> paste -> ctrl+o -> t: back to the inspector, the token still there."""
    seed(core, 0)
    bob = core.users.find("bob").id
    token = core.tokens.issue_pair(bob).access_token
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "t")
        await settle(pilot)
        inspector = app.screen
        await paste(pilot, token)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == bob
        await pilot.press("t")
        await settle(pilot)
        assert app.is_running and app._exception is None
        assert app.screen is inspector
        assert token in inspector.query_one(TextArea).text
        assert kinds(app) == [UsersScreen, TokenScreen]
        assert_no_duplicates(app)


async def test_opening_another_user_replaces_the_user_on_the_stack(core: AuthCore) -> None:
    """alice -> a -> enter on bob's event: bob replaces alice (one user screen at a time)."""
    seed(core, 0)
    bob = core.users.find("bob").id
    core.admin.revoke_tokens(bob, "an event of bob")
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice_from_search(pilot)
        await pilot.press("a")
        await settle(pilot)
        app.screen.query_one("#user-filter").value = ""  # all events
        await settle(pilot)
        await find_row(pilot, "#audit", lambda r: r[3] == f"#{bob}")
        await pilot.press("enter")
        await settle(pilot)
        assert kinds(app) == [UsersScreen, UserScreen]
        assert app.screen.user_id == bob
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)


async def test_audit_from_another_user_refilters_the_open_audit(core: AuthCore) -> None:
    """results -> a (all events) -> a user -> a: the audit log on the stack is gone back to,
    with the user filter the user screen asks for."""
    seed(core, 0)
    alice = core.users.find("alice").id
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "a")
        await settle(pilot)
        audit_screen = app.screen
        assert isinstance(audit_screen, AuditScreen)
        app.open_user(alice)
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is audit_screen
        assert audit_screen.query_one("#user-filter").value == str(alice)
        assert kinds(app) == [UsersScreen, AuditScreen]


def test_every_screen_is_registered_once() -> None:
    """One registry entry per full screen: its key, help line and worker groups."""
    from console.screens.base import ConsoleScreen
    from console.screens.bulk import BulkScreen

    keys = [s.key for s in SCREENS.values() if s.key]
    assert len(keys) == len(set(keys))
    classes = {s.load() for s in SCREENS.values()}
    assert {
        UsersScreen,
        UserScreen,
        SessionsScreen,
        AuditScreen,
        TokenScreen,
        AttentionScreen,
        BulkScreen,
        ActivityScreen,
    } == classes
    for cls in classes:
        assert issubclass(cls, ConsoleScreen) and SCREENS[cls.KIND].load() is cls


def test_every_worker_group_of_a_screen_is_registered() -> None:
    """A screen reading with a group its spec does not name would never end an outage banner."""
    import ast
    import inspect

    from console.workers import READ_GROUPS, WRITE_GROUPS

    for spec in SCREENS.values():
        tree = ast.parse(inspect.getsource(inspect.getmodule(spec.load())))
        groups = {
            kw.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for kw in node.keywords
            if kw.arg == "group" and isinstance(kw.value, ast.Constant)
        }
        assert groups, spec.kind
        assert groups <= spec.read_groups | WRITE_GROUPS, (spec.kind, groups)
        assert spec.read_groups <= READ_GROUPS


async def test_a_burst_of_enters_in_the_palette_closes_it_once(core: AuthCore) -> None:
    """Found by the random walk: ctrl+p then enter x4 at once. The palette's queued second enter
    dismissed again, popping the start screen itself (ScreenStackError)."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "ctrl+p")
        await pilot.pause(0.3)
        await burst(pilot, "enter", "enter", "enter", "enter")
        await settle(pilot)
        assert app._exception is None and app.is_running
        assert_no_duplicates(app)
        assert isinstance(app.screen_stack[0], UsersScreen)


async def test_a_burst_of_enters_on_a_dialog_closes_only_the_dialog(core: AuthCore) -> None:
    """enter x3 at once on the dialog's Cancel: the dialog closes, the user screen stays."""
    seed(core, 0)
    alice = core.users.find("alice").id
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_user(alice)
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        await burst(pilot, "enter", "enter", "enter")
        await settle(pilot)
        assert app._exception is None
        assert kinds(app) == [UsersScreen, UserScreen]
    assert core.users.get(alice).token_version == 0


async def test_paging_the_palette_before_its_list_is_drawn(core: AuthCore) -> None:
    """Found by the random walk at 60x15: ctrl+p and a few keys then pgup at once; Textual 8.2's
    command list paged before it was laid out (KeyError in OptionList._move_page)."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(60, 15)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "a")
        await settle(pilot)
        await burst(pilot, "ctrl+p", "r", "E", "7", "x", "pageup")
        await settle(pilot)
        await burst(pilot, "pagedown", "pageup", "escape")
        await settle(pilot)
        assert app._exception is None and app.is_running


async def test_help_asked_again_over_an_open_help_is_not_stacked(core: AuthCore) -> None:
    """Found by the long random walk: help open, then ctrl+p -> "Help" pushed a second one."""
    from console.screens.help import HelpScreen

    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        app.show_help(app.console_screen())  # what the palette's "Help" command runs
        await settle(pilot)
        assert [type(s) for s in app.screen_stack] == [UsersScreen, HelpScreen]


async def test_a_screen_closed_before_it_mounted_does_not_crash(core: AuthCore) -> None:
    """Found by the long random walk (PostgreSQL, 80x24): a burst opened the audit log and
    closed it again before it had mounted; its Mount ran with its children already removed."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for kind in ("audit", "sessions", "token"):
            app.goto(kind)
            app.pop_screen()
            await settle(pilot)
        app.open_user(core.users.find("alice").id)
        app.pop_screen()
        await settle(pilot)
        assert app._exception is None and app.is_running
        assert kinds(app) == [UsersScreen]


async def test_keys_after_q_in_the_same_burst_open_nothing(core: AuthCore) -> None:
    """Found over ssh in tmux: "q" then more letters at once ("question_mark" typed as text):
    s/t/u opened screens while the app was quitting, and their Mount met removed children (a
    traceback on exit)."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await burst(pilot, *"question_mark".replace("_", ""))
        await pilot.pause(0.3)
        assert app._exception is None
    assert app.return_code == 0
