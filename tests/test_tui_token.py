"""The token inspector screen over ``authcore.inspect``: live decoding of a pasted token, panels,
opening the user the token names; hostile claims stay inert. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json

from textual import events
from textual.widgets import Static, TextArea

from authcore.core import AuthCore
from console.screens.token import TokenScreen, render_panels
from console.screens.user import UserScreen
from tests.support.hostile import assert_inert
from tests.support.tui import make_app, notifications, seed, settle, text_of


def b64(data: dict) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def paste(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """As a terminal does: the app gets a bracketed paste and hands it to the focused widget."""
    pilot.app.screen.query_one(TextArea).focus()
    pilot.app.post_message(events.Paste(text))
    await settle(pilot)


async def open_token_screen(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("escape", "t")  # from the table: t opens the inspector
    await settle(pilot)
    assert isinstance(pilot.app.screen, TokenScreen)
    assert isinstance(pilot.app.focused, TextArea)


async def test_valid_token_decodes_live_and_opens_its_user(core: AuthCore) -> None:
    seed(core, 0)
    alice = core.users.find("alice")
    s, _ = core.sessions.create(alice.id, ip="10.0.0.1")
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_token_screen(pilot)
        assert "paste a token" in text_of(app, "#panel-verdict")
        await paste(pilot, "Bearer " + pair.access_token)
        verdict = text_of(app, "#panel-verdict")
        assert verdict.startswith(" VALID ") and "ctrl+o opens it" in verdict
        assert "✓ verified" in text_of(app, "#panel-signature")
        claims = text_of(app, "#panel-claims")
        assert any(line.split() == ["sub", str(alice.id)] for line in claims.splitlines())
        assert " UTC" in claims or "Z" in claims  # humanized times next to exp/iat
        live = text_of(app, "#panel-live")
        assert "checked" in live and "alice@example.com" in live
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == alice.id
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, TokenScreen)


async def test_revoked_token_after_revoke(core: AuthCore) -> None:
    seed(core, 0)
    alice = core.users.find("alice")
    pair = core.tokens.issue_pair(alice.id)
    core.admin.revoke_tokens(alice.id, "test")
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_token_screen(pilot)
        await paste(pilot, pair.refresh_token)
        verdict = text_of(app, "#panel-verdict")
        assert verdict.startswith(" REVOKED ") and "refresh will be refused" in verdict


async def test_garbage_and_clear(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_token_screen(pilot)
        await paste(pilot, "not a token at all")
        assert text_of(app, "#panel-verdict").startswith(" MALFORMED ")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert "paste a token" in text_of(app, "#panel-verdict")
        assert app.screen.query_one(TextArea).text == ""
        assert isinstance(app.focused, TextArea)
        await pilot.press("escape")  # from the paste box to the report, as from a search box
        await settle(pilot)
        assert isinstance(app.screen, TokenScreen) and app.focused is app.screen.query_one("#report")
        await pilot.press("escape")  # then back
        await settle(pilot)
        assert not isinstance(app.screen, TokenScreen) and app.is_running


async def test_hostile_claims_render_inert_and_controls_are_removed(core: AuthCore) -> None:
    seed(core, 0)
    header = {"alg": "HS256", "typ": "JWT", "kid": "[@click=app.quit]k[/]\x1b]52;c;QQ==\x07"}
    payload = {"sub": "1", "name": "[@click=app.quit]x[/]", "evil": "\x1b[2J\u202eabc", "exp": 4102444800}
    token = f"{b64(header)}.{b64(payload)}.c2ln"
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_token_screen(pilot)
        await paste(pilot, token + "\x1b[31m")  # a control sequence stuck to the paste
        assert "\x1b" not in app.screen.query_one(TextArea).text
        assert any("removed terminal control characters" in m for m in notifications(app))
        for panel in app.screen.query(".panel").results(Static):
            content = panel.content
            assert_inert(content.plain if hasattr(content, "plain") else str(content))
        claims = text_of(app, "#panel-claims")
        assert "[@click=app.quit]x[/]" in claims
        assert "\\u001b[2J\\u202eabc" in claims, "escapes stay visible for the operator"
        assert "[@click=app.quit]k[/]" in text_of(app, "#panel-header")
        await pilot.click("#panel-claims")
        assert app.is_running


def test_render_panels_on_a_minimal_report() -> None:
    panels = render_panels({"status": "malformed", "reason": "[b]no[/b]"})
    assert panels["verdict"].plain.startswith(" MALFORMED ")
    assert "[b]no[/b]" in panels["verdict"].plain
    assert set(panels) == {"verdict", "header", "claims", "signature", "warnings", "live"}


async def test_scrolls_at_80x24(core: AuthCore) -> None:
    seed(core, 0)
    pair = core.tokens.issue_pair(core.users.find("alice").id)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_token_screen(pilot)
        await paste(pilot, pair.access_token)
        report = app.screen.query_one("#report")
        assert report.max_scroll_y > 0, "the panels do not fit 80x24: they scroll"
        await pilot.press("tab")
        assert app.focused is report
        await pilot.press("pagedown")
        await pilot.pause()
        assert report.scroll_y > 0
