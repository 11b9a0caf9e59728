"""The sessions and audit screens on SQLite and PostgreSQL: filters, opening the owner, paging,
the hash-chain verdict (intact and tampered)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from authcore.core import AuthCore
from authcore.models import audit_events
from console.screens.audit import AuditScreen
from console.screens.sessions import SessionsScreen
from console.screens.user import UserScreen
from console.widgets.search import SearchBox
from tests.conftest import bypass_audit_trigger
from tests.support.tui import (
    column,
    find_row,
    late_timer_clock,
    make_app,
    rows,
    seed,
    settle,
    table,
    text_of,
    type_text,
)


async def to_table(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("escape")  # from the search box to the results
    await pilot.pause()


async def test_sessions_newest_first_filter_and_open_owner(core: AuthCore) -> None:
    seed(core, 20)
    alice = core.users.find("alice").id
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await to_table(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        keys = table(app, "#sessions-all").keys
        expected = [s.public_id for s in core.sessions.recent(limit=app.page_size)]
        assert keys == expected, "newest first, as authcore orders them"
        await pilot.press("slash")
        assert isinstance(app.focused, SearchBox)
        await type_text(pilot, "203.0.113.")  # IP prefix
        await settle(pilot)
        assert set(column(app, "#sessions-all", 2)) == {"203.0.113.10", "203.0.113.99"}
        assert set(column(app, "#sessions-all", 1)) == {"alice@example.com"}
        await pilot.press("enter")  # to the table
        await pilot.press("enter")  # opens the owner
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == alice
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)


async def test_sessions_filter_by_user_agent_text(core: AuthCore) -> None:
    seed(core, 40)
    app = make_app(core, page_size=500)
    async with app.run_test(size=(120, 40)) as pilot:
        app.goto("sessions")
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "curl")
        await settle(pilot)
        uas = column(app, "#sessions-all", 5)
        assert uas and all("curl" in ua for ua in uas)
        assert len(uas) == len(core.sessions.recent(text="curl", limit=500))


async def test_filters_survive_a_late_main_thread(core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions and audit filters' debounce fires even when the main thread is late by more
    than the delay (see test_tui_users: a ``set_timer`` debounce never loaded these)."""
    seed(core, 0)
    _, bob = await _two_events(core)
    late_timer_clock(monkeypatch, stall=0.03)
    app = make_app(core, search_debounce=0.01)
    async with app.run_test(size=(120, 40)) as pilot:
        app.goto("sessions")
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "203.0.113.")
        await settle(pilot)
        assert set(column(app, "#sessions-all", 2)) == {"203.0.113.10", "203.0.113.99"}
        app.goto("audit")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert len(rows(app, "#audit")) == 3
        await pilot.press("slash")
        await type_text(pilot, "bob")
        await settle(pilot)
        assert column(app, "#audit", 3) == [f"#{bob}", f"#{bob}"]


async def test_sessions_paging_at_the_end(core: AuthCore) -> None:
    seed(core, 40)
    app = make_app(core, page_size=10)
    async with app.run_test(size=(80, 24)) as pilot:
        app.goto("sessions")
        await settle(pilot)
        assert len(rows(app, "#sessions-all")) == 10
        await pilot.press("end")
        await settle(pilot)
        keys = table(app, "#sessions-all").keys
        assert keys == [s.public_id for s in core.sessions.recent(limit=20)]


async def _two_events(core: AuthCore) -> tuple[int, int]:
    alice, bob = core.users.find("alice").id, core.users.find("bob").id
    core.admin.revoke_tokens(alice, "rotate alice")
    core.admin.set_disabled(bob, True, "bob left")
    core.admin.revoke_tokens(bob, "rotate bob")
    return alice, bob


async def test_audit_newest_first_filters_and_chain(core: AuthCore) -> None:
    seed(core, 0)
    alice, bob = await _two_events(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await to_table(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert column(app, "#audit", 2) == ["revoke_tokens", "disable_user", "revoke_tokens"]
        assert column(app, "#audit", 4) == ["test-operator"] * 3
        chain = text_of(app, "#chain")
        assert "hash chain intact" in chain and "3 events verified" in chain
        await pilot.press("slash")
        await type_text(pilot, "bob")
        await settle(pilot)
        assert column(app, "#audit", 3) == [f"#{bob}", f"#{bob}"]
        assert f"user #{bob} bob@example.com" in text_of(app, "#status")
        await pilot.press("tab")  # to the action filter
        await type_text(pilot, "disable_user")
        await settle(pilot)
        assert column(app, "#audit", 2) == ["disable_user"]
        assert "bob left" in rows(app, "#audit")[0][5]
        await pilot.press("enter")  # to the table
        await pilot.press("enter")  # opens the event's user
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == bob


async def test_audit_unknown_user_filter_is_a_result_not_an_error(core: AuthCore) -> None:
    seed(core, 0)
    await _two_events(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        app.goto("audit", user="nobody@example.com")
        await settle(pilot)
        assert rows(app, "#audit") == []
        assert "no user matches 'nobody@example.com'" in text_of(app, "#status")
        assert app.outage is None and not app._notifications


async def test_audit_shows_a_broken_chain(core: AuthCore) -> None:
    seed(core, 0)
    await _two_events(core)
    with core.engine.begin() as conn:  # tamper with the log behind authcore's back
        bypass_audit_trigger(conn)
        conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(reason="nothing to see"))
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        app.goto("audit")
        await settle(pilot)
        chain = text_of(app, "#chain")
        assert "HASH CHAIN BROKEN" in chain and "seq 2" in chain and "altered" in chain


async def test_audit_from_user_screen_is_filtered_to_that_user(core: AuthCore) -> None:
    seed(core, 0)
    alice, _bob = await _two_events(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(alice)
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        assert column(app, "#audit", 3) == [f"#{alice}"]
        await find_row(pilot, "#audit", lambda r: r[2] == "revoke_tokens")
        await pilot.press("y")
        assert app.clipboard == "1"  # the event's seq
