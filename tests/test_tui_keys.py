"""Keys, help, command palette and read-only mode (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, TextArea

from authcore.config import Config
from authcore.core import AuthCore
from authcore.errors import ReadOnlyError
from console.app import help_rows
from console.screens.audit import AuditScreen
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.screens.sessions import SessionsScreen
from console.screens.token import TokenScreen
from console.screens.user import UserScreen
from console.screens.users import UsersScreen
from tests.support.tui import KEY_NAMES, burst, footer_keys, make_app, seed, settle, text_of, type_text

MUTATING_LABELS = {"Revoke", "Del session", "Del all", "Disable", "Enable"}


async def palette_titles(pilot, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    app = pilot.app
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(app.screen, CommandPalette)
    await type_text(pilot, query)
    await pilot.pause(0.6)
    options = app.screen.query_one(CommandList).options
    return [str(o.prompt) for o in options]


async def open_alice(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    app.open_user(app.core.users.find("alice").id)
    await settle(pilot)
    assert isinstance(app.screen, UserScreen)


async def test_help_lists_every_key_of_the_screen(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = text_of(app, "#help-keys")
        for key, what in [
            ("R", "Revoke all tokens"),
            ("d", "Delete session"),
            ("D", "Delete all sessions"),
            ("x", "Disable user"),
            ("esc", "Back"),
            ("y", "Copy the highlighted id"),
            ("r", "Refresh"),
            ("a", "Audit log of this user"),
            ("t", "Token inspector"),
            ("s", "Sessions"),
            ("u", "Users"),
            ("?", "Help"),
            ("q", "Back"),
            ("ctrl+q", "quit"),
            ("ctrl+p", "palette"),
            ("enter", "open"),
        ]:
            assert any(
                line.split()[0] == key and what.lower() in line.lower() for line in shown.splitlines()
            ), (key, shown)
        await pilot.press("escape")
        assert isinstance(app.screen, UserScreen)


async def test_f1_help_from_the_search_box_and_question_mark_types(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, UsersScreen)  # typed into the box
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        shown = text_of(app, "#help-keys")
        for what in ("Search", "Sessions", "Audit", "Token", "Quit"):
            assert what in shown, "every key of the screen, whatever has focus"


async def test_navigation_keys_and_esc_goes_back(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # leave the search box
        # the inspector opens in its paste box: one esc to the report, one back
        for key, screen, escs in [("s", SessionsScreen, 1), ("a", AuditScreen, 1), ("t", TokenScreen, 2)]:
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen)
            await pilot.press(*["escape"] * escs)
            await settle(pilot)
            assert isinstance(app.screen, UsersScreen)
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("u")  # back to the start screen, whatever the depth
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen) and len(app.screen_stack) == 1


# A screen's text box and where esc from it goes (its results), by the key that opens the screen.
TEXT_BOXES = {
    "sessions": ("s", "#filter", "#sessions-all"),
    "audit-user": ("a", "#user-filter", "#audit"),
    "audit-action": ("a", "#action-filter", "#audit"),
    "bulk": ("b", "#bulk-query", "#bulk-rows"),
    "token": ("t", "#paste", "#report"),
}


@pytest.mark.parametrize("which", list(TEXT_BOXES))
async def test_esc_in_a_text_box_goes_to_the_results_then_back(core: AuthCore, which: str) -> None:
    """README and docs/console.md: ``esc`` in a search box moves to the results (the footer says
    ``esc Results``), keeping what is typed; from the results it goes back (``esc Back``)."""
    key, box_id, results_id = TEXT_BOXES[which]
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", key)
        await settle(pilot)
        screen = app.screen
        box = screen.query_one(box_id)
        box.focus()
        await pilot.pause()
        await type_text(pilot, "10.")
        await settle(pilot)
        assert footer_keys(app).get("esc") == "Results", footer_keys(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen, "esc in a text box stays on its screen"
        assert app.focused is screen.query_one(results_id)
        assert (box.text if isinstance(box, TextArea) else box.value) == "10."
        assert footer_keys(app).get("esc") == "Back", footer_keys(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)


@pytest.mark.parametrize(
    ("kind", "keys", "box_id"),
    [
        ("users", "/ali", "#search"),  # the a was the audit key
        ("sessions", "/10.7", "#filter"),  # the digits were lost
        ("audit", "/bob", "#user-filter"),  # the b was the bulk key
    ],
)
async def test_keys_in_the_same_read_as_slash_land_in_the_box(
    core: AuthCore, kind: str, keys: str, box_id: str
) -> None:
    """A paste, or typing over a slow link: the keys after ``/`` come in one read, all queued
    for the results table before ``/`` has moved the focus. They type into the box."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # the results have focus
        if kind != "users":
            app.goto(kind)
            await settle(pilot)
        screen = app.screen
        assert not isinstance(app.focused, Input)
        await burst(pilot, *(KEY_NAMES.get(ch, ch) for ch in keys))
        await settle(pilot)
        assert app.screen is screen
        box = screen.query_one(box_id, Input)
        assert app.focused is box and box.value == keys[1:]


async def test_q_closes_views_then_quits_and_ctrl_q_quits_anywhere(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert len(app.screen_stack) == 3
        await pilot.press("q")
        assert isinstance(app.screen, UserScreen)
        await pilot.press("q")
        assert isinstance(app.screen, UsersScreen) and app.is_running
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0
    assert core.users.find("alice").token_version == 0


async def test_palette_lists_actions_and_runs_them(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice(pilot)
        titles = await palette_titles(pilot, "revoke")
        assert any("Revoke all tokens (R)" in t for t in titles), titles
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        titles = await palette_titles(pilot, "audit")
        assert any("Audit log" in t for t in titles)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)


async def test_palette_has_every_screen_action(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_alice(pilot)
        screen = app.screen
        titles = {c.title for c in screen.palette_commands() if screen.check_action(c.action, c.params)}
        for want in (
            "Revoke all tokens (R)",
            "Delete session (d)",
            "Delete all sessions (D)",
            "Disable user (x)",
            "Token inspector",
            "Audit log",
            "Refresh",
            "Copy highlighted id",
            "Back",
        ):
            assert want in titles


async def test_palette_names_each_screen_key_as_typed(core: AuthCore) -> None:
    """The palette's help names a screen's key the way the help and footer do: `!`, not the
    binding name `exclamation_mark`."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        helps = {c.title: c.help for c in app.screen.palette_commands()}
        assert helps["Needs attention: users to look at now"].endswith("(!)")
        assert helps["Live activity"].endswith("(L)")
        assert not any("_" in h.rsplit("(", 1)[-1] for h in helps.values())


async def test_read_only_hides_and_refuses_actions(core: AuthCore) -> None:
    seed(core, 0)
    alice = core.users.find("alice").id
    app = make_app(core, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "READ-ONLY" in text_of(app, "#console-header")
        await open_alice(pilot)
        assert "READ-ONLY" in text_of(app, "#console-header")
        assert not MUTATING_LABELS & set(footer_keys(app).values())
        help_text = " ".join(d for _k, d in help_rows(app.screen))
        for label in ("Revoke", "Delete", "Disable", "Enable"):
            assert label not in help_text
        for key in ("R", "d", "D", "x"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, UserScreen), f"{key} must do nothing"
        titles = await palette_titles(pilot, "revoke")
        assert not any("Revoke" in t for t in titles)
        await pilot.press("escape")
    assert core.read_only
    try:
        core.admin.revoke_tokens(alice, "sneaky")
    except ReadOnlyError:
        pass
    else:  # pragma: no cover
        raise AssertionError("authcore must refuse in read-only mode")
    assert core.users.get(alice).token_version == 0


async def test_viewer_role_and_config_read_only(engine, config: Config) -> None:  # type: ignore[no-untyped-def]
    viewer = AuthCore(engine, config, actor="vera", role="viewer")
    seed(viewer, 0)
    app = make_app(viewer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        header = text_of(app, "#console-header")
        assert "READ-ONLY" in header and "vera" in header and "(viewer)" in header
        await open_alice(pilot)
        assert not MUTATING_LABELS & set(footer_keys(app).values())
    config.read_only = True
    core = AuthCore(engine, config, actor="ops", role="admin")
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        header = text_of(app, "#console-header")
        assert "READ-ONLY" in header and "(admin)" in header
