"""The issue's "done when", on SQLite and PostgreSQL: find alice by typing ``ali``, open her,
delete one session, revoke all her tokens with a reason, see both events in the audit screen,
leave with ``q``. Keyboard only, at 80x24."""

from __future__ import annotations

from textual.widgets import Input

from authcore import audit
from authcore.core import AuthCore
from console.screens.audit import AuditScreen
from console.screens.confirm import ConfirmScreen
from console.screens.user import UserScreen
from tests.support.tui import column, make_app, rows, seed, settle, table, type_text


async def confirm_with_reason(pilot, key: str, reason: str) -> str:  # type: ignore[no-untyped-def]
    app = pilot.app
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(app.screen, ConfirmScreen)
    summary = app.screen.summary
    await pilot.press("y")  # no reason yet: refused, focus moves to the reason box
    assert isinstance(app.focused, Input)
    await type_text(pilot, reason)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(app.screen, UserScreen)
    return summary


async def test_done_when(core: AuthCore) -> None:
    seed(core, 200)
    alice = core.users.find("alice@example.com")
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "ali")
        await settle(pilot)
        emails = column(app, "#users", 0)
        assert "alice@example.com" in emails
        await pilot.press("down")  # into the results
        for _ in range(emails.index("alice@example.com")):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == alice.id
        sessions = table(app, "#sessions")
        assert len(rows(app, "#sessions")) == 4
        await pilot.press("down")  # the second session
        victim = sessions.highlighted_key
        summary = await confirm_with_reason(pilot, "d", "lost phone")
        assert f"session {victim} deleted, 2 sessions stay" in summary
        assert victim not in sessions.keys and len(rows(app, "#sessions")) == 3
        summary = await confirm_with_reason(pilot, "R", "suspected token theft")
        assert "token_version 0 -> 1, 2 sessions stay" in summary
        assert "token_version 1" in str(app.screen.query_one("#profile").content)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        events = rows(app, "#audit")
        assert [r[2] for r in events[:2]] == ["revoke_tokens", "delete_session"]
        assert all(r[4] == core.actor for r in events[:2])
        assert "suspected token theft" in events[0][5] and "lost phone" in events[1][5]
        for _ in range(3):  # audit -> user -> users -> quit
            await pilot.press("q")
            await pilot.pause()
    assert app.return_code == 0
    after = core.users.get(alice.id)
    assert after.token_version == 1
    assert core.sessions.get(victim) is None
    evs = audit.list_events(core.engine, user_id=alice.id)
    assert [(e.action, e.actor, e.reason) for e in evs] == [
        ("revoke_tokens", core.actor, "suspected token theft"),
        ("delete_session", core.actor, "lost phone"),
    ]
    assert audit.verify_chain(core.engine).ok
