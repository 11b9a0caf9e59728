"""Untrusted text is inert everywhere in the console: markup shows literally and never acts,
terminal control sequences never reach the terminal. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from rich.text import Text

from authcore.core import AuthCore
from console.safe import notify_safe, safe, safe_join
from console.screens.audit import AuditScreen
from console.screens.user import UserScreen
from console.widgets.search import SearchBox
from tests.support.hostile import HOSTILE, assert_inert, seed_hostile
from tests.support.tui import make_app, notifications, rows, settle, text_of, walk_texts

CLICK = "[@click=app.quit]x[/]"
OSC52 = "\x1b]52;c;AAAA\x07"
BIDI = "\u202e"


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_is_inert_text(value: str) -> None:
    out = safe(value, max_len=None)
    assert isinstance(out, Text) and not out.spans, "never parsed as markup"
    assert_inert(out.plain)


def test_safe_keeps_markup_literally_and_cuts() -> None:
    assert safe(CLICK).plain == CLICK
    assert safe("[b]bold[/b]").plain == "[b]bold[/b]"
    assert safe(OSC52 + "x").plain == "]52;c;AAAAx"
    assert safe(BIDI + "evil").plain == "evil"
    assert safe("a" * 50, max_len=10).plain == "a" * 9 + "…"
    assert safe(None).plain == ""
    joined = safe_join(CLICK, (OSC52, "bold"), Text(" ok"))
    assert joined.plain == CLICK + "]52;c;AAAA ok"
    assert all(s.style == "bold" for s in joined.spans)


async def hostile_core(core: AuthCore) -> tuple[AuthCore, list[int]]:
    from sqlalchemy import update

    from authcore.models import sessions, users

    ids = seed_hostile(core)
    # authcore now refuses control characters on create; rows written before that (or by
    # another writer) may still hold them, and the console must show those inert: store them.
    click = core.users.create("clicker@example.com", "clicker", "name")
    s, _ = core.sessions.create(click.id, ip="192.0.2.9", user_agent="ua")
    with core.engine.begin() as conn:
        conn.execute(
            update(users).where(users.c.id == click.id).values(display_name=CLICK + OSC52 + BIDI + "name")
        )
        conn.execute(
            update(sessions)
            .where(sessions.c.public_id == s.public_id)
            .values(user_agent=CLICK + "\x1b[2J" + BIDI)
        )
    ids.append(click.id)
    evil = AuthCore(core.engine, core.config, actor="[@click=app.quit]op[/]\x1b]52;c;QQ==\x07")
    # reasons: authcore refuses control characters in them now, so markup only
    evil.admin.delete_session(s.public_id, "[@click=app.quit]why[/]")
    evil.admin.revoke_tokens(click.id, "[red]reason[/red]")
    return evil, ids


async def test_hostile_users_sessions_events_render_inert(core: AuthCore) -> None:
    evil, ids = await hostile_core(core)
    app = make_app(evil)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        texts = list(walk_texts(app))
        header = text_of(app, "#console-header")
        assert "[@click=app.quit]op[/]" in header, "the actor shows literally"
        assert_inert(header)
        shown = rows(app, "#users")
        assert len(shown) >= len(HOSTILE)
        for t in texts:
            assert_inert(t)
        assert any(CLICK + "]52;c;AAAAname" in t for t in texts)
        for uid in ids:
            app.open_user(uid)
            await settle(pilot)
            assert isinstance(app.screen, UserScreen)
            for t in walk_texts(app):
                assert_inert(t)
            await pilot.click("#profile")  # a click on literal [@click=...] does nothing
            await pilot.click("#session-detail")
            await pilot.pause()
            assert app.is_running
            await pilot.press("escape")
            await settle(pilot)
        app.goto("audit")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        reasons = " ".join(r[5] for r in rows(app, "#audit"))
        actors = {r[4] for r in rows(app, "#audit")}
        assert "[@click=app.quit]why[/]" in reasons and "[red]reason[/red]" in reasons
        assert actors == {"[@click=app.quit]op[/]]52;c;QQ=="}
        for t in walk_texts(app):
            assert_inert(t)
        await pilot.click("#audit")
        assert app.is_running
        svg = app.export_screenshot()
        assert_inert(svg)
        assert "[@click=app.quit]op[/]" in svg


async def test_actions_on_hostile_user_notify_inert(core: AuthCore) -> None:
    evil, ids = await hostile_core(core)
    app = make_app(evil)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(ids[-1])
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        summary = text_of(app, "#confirm-summary")
        assert_inert(summary)
        assert summary.startswith("clicker@example.com: token_version 1 -> 2")
        await pilot.press("shift+tab")
        await pilot.press(*"ok")
        await pilot.press("enter")
        await settle(pilot)
        assert app.is_running
        for m in notifications(app):
            assert_inert(m)
        assert_inert(text_of(app, "#result"))


async def test_search_box_input_is_inert(core: AuthCore) -> None:
    seed_hostile(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.query_one(SearchBox).value = "[@click=app.quit]" + OSC52
        await settle(pilot)
        assert app.is_running
        for t in walk_texts(app):
            assert_inert(t)


async def test_notify_safe_turns_markup_off(core: AuthCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        notify_safe(app, "copied: ", CLICK + OSC52)
        await pilot.pause()
        note = list(app._notifications)[-1]
        assert note.markup is False and note.message == "copied: " + CLICK + "]52;c;AAAA"
        assert app.is_running
