"""The start screen on SQLite and PostgreSQL: search as you type, open, paging, keys, copy."""

from __future__ import annotations

import pytest

from authcore.core import AuthCore
from console.screens.user import UserScreen
from console.screens.users import UsersScreen
from console.widgets.search import SearchBox
from tests.support.tui import (
    column,
    footer_keys,
    late_timer_clock,
    make_app,
    notifications,
    rows,
    seed,
    settle,
    table,
    text_of,
    type_text,
    workers_done,
)


async def test_search_as_you_type_debounced(core: AuthCore) -> None:
    seed(core)
    calls: list[str] = []
    real = core.users.search

    def counting(query, *a, **kw):  # type: ignore[no-untyped-def]
        calls.append(query)
        return real(query, *a, **kw)

    core.users.search = counting  # type: ignore[method-assign]
    app = make_app(core, search_debounce=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(pilot.app)
        await pilot.pause()
        assert isinstance(app.screen, UsersScreen)
        assert isinstance(app.focused, SearchBox), "the search box has focus at start"
        assert len(rows(app, "#users")) == 33  # newest first, no query
        await type_text(pilot, "ali")  # faster than the debounce: one search, not three
        await pilot.pause(0.6)
        await workers_done(app)
        await pilot.pause()
        assert calls == ["", "ali"]
        emails = column(app, "#users", 0)
        assert "alice@example.com" in emails
        for r in rows(app, "#users"):  # prefixes first; authcore may add substring matches
            assert any("ali" in c.lower() for c in r[:3]), r
        assert "for 'ali'" in text_of(app, "#status")


async def test_typed_search_survives_a_late_main_thread(
    core: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keystroke's search runs even when the main thread is descheduled for longer than the
    debounce (a worker thread holding the GIL, a loaded machine). Textual's one-shot timer reads
    its clock twice before it sleeps and skips, never firing, when the two reads are more than
    its delay apart: here every read of that clock stalls 3x the debounce, so a debounce built
    on ``set_timer`` loses every keystroke (the table benchmark lost ~1 in 5,000 at 1 ms)."""
    seed(core)
    late_timer_clock(monkeypatch, stall=0.03)
    app = make_app(core, search_debounce=0.01)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert len(rows(app, "#users")) == 33
        await type_text(pilot, "bob@")
        await settle(pilot)
        assert column(app, "#users", 0) == ["bob@example.com"]
        assert "for 'bob@'" in text_of(app, "#status")


async def test_enter_in_search_opens_first_result(core: AuthCore) -> None:
    seed(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "alice@")
        await settle(pilot)
        assert column(app, "#users", 0) == ["alice@example.com"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "alice@example.com" in text_of(app, "#profile")


async def test_enter_before_debounce_searches_then_opens(core: AuthCore) -> None:
    seed(core)
    app = make_app(core, search_debounce=5.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        await type_text(pilot, "bob@")
        await pilot.press("enter")  # long before the debounce fires
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "bob@example.com" in text_of(app, "#profile")


async def test_enter_while_the_search_is_on_its_way_opens_its_answer(core: AuthCore) -> None:
    """Found in tmux: "alice@" typed, the debounce fired, enter pressed before the answer came:
    the table still showed the newest users, and enter opened its highlighted row (user 1003,
    not alice). Enter now waits for the answer to what is typed."""
    import threading

    seed(core)
    gate = threading.Event()
    real = core.users.search

    def slow(query, *a, **kw):  # type: ignore[no-untyped-def]
        if query:
            gate.wait(10)  # the database answers late
        return real(query, *a, **kw)

    core.users.search = slow  # type: ignore[method-assign]
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await workers_done(app)
        stale = table(app, "#users").highlighted_key
        await type_text(pilot, "bob@")
        await pilot.pause(0.3)  # the debounce fired: the search is on its way
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, UserScreen), "nothing opened before the answer"
        gate.set()
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "bob@example.com" in text_of(app, "#profile"), stale


async def test_down_moves_into_table_and_enter_opens_highlighted(core: AuthCore) -> None:
    seed(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "ali")
        await settle(pilot)
        await pilot.press("down")
        assert app.focused is table(app, "#users")
        idx = column(app, "#users", 0).index("alice@example.com")
        for _ in range(idx):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "alice@example.com" in text_of(app, "#profile")


async def test_detail_pane_follows_highlight(core: AuthCore) -> None:
    seed(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "carol")
        await settle(pilot)
        detail = text_of(app, "#detail")
        assert "carol@example.com" in detail and "DISABLED" in detail


async def test_paging_fetches_next_page_at_the_end_only(core: AuthCore) -> None:
    seed(core, 120)
    app = make_app(core, page_size=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert len(rows(app, "#users")) == 20, "one page, never all users"
        await pilot.press("down")  # into the table
        await pilot.press("end")  # last row: the next page is fetched
        await settle(pilot)
        assert len(rows(app, "#users")) == 40
        ids = list(table(app, "#users").keys)
        assert len(ids) == len(set(ids)), "no duplicates across pages"
        await pilot.press("end")
        await settle(pilot)
        assert len(rows(app, "#users")) == 60


async def test_paging_with_query_keyset(core: AuthCore) -> None:
    seed(core, 150)
    app = make_app(core, page_size=6)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "a")
        await settle(pilot)
        first = column(app, "#users", 0)
        assert len(first) == 6
        await pilot.press("down", "end")
        await settle(pilot)
        both = column(app, "#users", 0)
        assert both[:6] == first and len(both) == 12
        expected = [u.email for u in core.users.search("a", limit=12).items]
        assert both == expected


@pytest.mark.parametrize("ch", ["q", "y", "/", "?"])
async def test_printable_keys_type_into_the_search_box(core: AuthCore, ch: str) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, ch + ch)
        await settle(pilot)
        assert app.is_running
        assert isinstance(app.screen, UsersScreen), "no key bound with priority stole it"
        assert app.query_one(SearchBox).value == ch + ch


async def test_esc_never_quits_and_q_quits_from_the_table(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")  # leaves the search box
        assert app.focused is table(app, "#users")
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, UsersScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_slash_focuses_search_from_the_table(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        assert app.focused is table(app, "#users")
        await pilot.press("slash")
        assert isinstance(app.focused, SearchBox)
        assert app.query_one(SearchBox).value == ""


async def test_y_copies_the_highlighted_id_and_shows_it(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "bob@")
        await settle(pilot)
        await pilot.press("down", "y")
        await pilot.pause()
        bob = core.users.find("bob")
        assert app.clipboard == str(bob.id)
        assert any(f"copied: {bob.id}" in m for m in notifications(app))


async def test_footer_and_header_at_80x24(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        header = text_of(app, "#console-header")
        assert "test-operator" in header and "(admin)" in header
        assert "READ-ONLY" not in header
        keys = footer_keys(app)
        assert "Results" in keys.values() and "Open" in keys.values()  # typing: the box's keys
        await pilot.press("escape")
        keys = footer_keys(app)
        for want in ("Search", "Sessions", "Audit", "Token", "Help", "Quit"):
            assert want in keys.values(), keys
        for fk in app.screen.query("FooterKey"):
            assert fk.region.right <= 80, f"footer key {fk.description!r} clipped"


async def test_new_query_puts_the_cursor_on_the_first_result(core: AuthCore) -> None:
    seed(core, 60)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "a")
        await settle(pilot)
        await pilot.press("down", "down", "down", "down")  # into the table, 3 rows down
        assert table(app, "#users").cursor_row == 3
        await pilot.press("slash")
        await type_text(pilot, "l")
        await settle(pilot)
        assert table(app, "#users").cursor_row == 0
        first = column(app, "#users", 0)[0]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert first in text_of(app, "#profile")


async def test_scrolling_to_the_end_fetches_the_next_page(core: AuthCore) -> None:
    seed(core, 80)
    app = make_app(core, page_size=30)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app, "#users")
        assert len(t.keys) == 30 and t.cursor_row == 0
        t.scroll_to(y=t.max_scroll_y, animate=False)  # a mouse wheel would do the same
        await settle(pilot)
        assert len(t.keys) == 60 and t.cursor_row == 0


async def test_back_from_a_user_lands_on_the_results_so_q_leaves(core: AuthCore) -> None:
    seed(core)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "alice@")
        await settle(pilot)
        await pilot.press("enter")  # straight from the search box
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert app.focused is table(app, "#users")
        assert app.query_one(SearchBox).value == "alice@", "the search stays"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_footer_says_esc_leaves_the_search_box_and_one_esc_does(core: AuthCore) -> None:
    """Issue 11: focus starts in the search box, so q/s/a/t type. The footer says that one
    ``esc`` goes to the results, and from there q/s/a/t are keys again (q quits)."""
    from console.screens.sessions import SessionsScreen

    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, SearchBox)
        assert footer_keys(app).get("esc") == "Results", footer_keys(app)
        await type_text(pilot, "qsat")
        assert app.query_one(SearchBox).value == "qsat" and isinstance(app.screen, UsersScreen)
        await pilot.press("escape")  # one key
        assert app.focused is table(app, "#users")
        assert "esc" not in footer_keys(app), "nothing to leave any more"
        assert {"Quit", "Sessions", "Audit", "Token"} <= set(footer_keys(app).values())
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
