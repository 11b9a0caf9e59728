"""``KeyedTable``: results update in place (keys, cell objects and cursor kept), and every new
result set leaves exactly its rows in its order (drawing is stock DataTable's). Widget-level tests
need no database; the last ones drive the users screen on SQLite and PostgreSQL."""

from __future__ import annotations

import random

from rich.text import Text
from textual.app import App, ComposeResult

from authcore.core import AuthCore
from console.safe import safe
from console.screens.users import COLUMNS, user_row
from console.widgets import cells
from console.widgets.search import SearchBox
from console.widgets.table import Col, KeyedTable
from tests.support.tui import make_app, rows, seed, settle, table

COLS = [Col("name", "name", 10, 2), Col("n", "n", 4), Col("flag", "flag", 4)]


def row(key: str, name: str, n: int = 0, flag: bool = False) -> tuple[str, list[Text]]:
    return key, [safe(name), cells.number(n), cells.yes_no(flag)]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(COLS, id="t")


def shown(t: KeyedTable) -> list[tuple[str, list[str]]]:
    """(row key, plain cells) in display order, read back from the DataTable itself."""
    out = []
    for i in range(t.row_count):
        key = t.coordinate_to_cell_key((i, 0)).row_key.value  # type: ignore[arg-type]
        out.append((str(key), [c.plain for c in t.get_row_at(i)]))
    return out


async def test_in_place_update_keeps_keys_cells_and_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        t = app.query_one(KeyedTable)
        t.sync([row(k, f"user {k}", i) for i, k in enumerate("abcde")])
        await pilot.pause()
        t.move_cursor(row=2)  # on "c"
        before = {k: t.get_row(k) for k in "abcde"}
        # a refresh of the same question: b went, c changed, f is new, d moved up
        t.sync(
            [
                row("a", "user a", 0),
                row("d", "user d", 3),
                row("c", "user c", 99),
                row("e", "user e", 4),
                row("f", "user f", 5),
            ]
        )
        await pilot.pause()
        assert shown(t) == [
            ("a", ["user a", "0", "no"]),
            ("d", ["user d", "3", "no"]),
            ("c", ["user c", "99", "no"]),
            ("e", ["user e", "4", "no"]),
            ("f", ["user f", "5", "no"]),
        ]
        assert t.keys == ["a", "d", "c", "e", "f"]
        assert t.highlighted_key == "c", "the cursor stays on its row"
        for k in "ade":  # unchanged rows were not re-added: the very same cell objects
            assert all(x is y for x, y in zip(t.get_row(k), before[k], strict=True)), k
        new_c = t.get_row("c")
        assert new_c[0] is before["c"][0] and new_c[1] is not before["c"][1]


async def test_every_new_result_set_is_exactly_its_rows_in_order() -> None:
    rng = random.Random(5)
    universe = [str(i) for i in range(300)]
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        t = app.query_one(KeyedTable)
        for step in range(60):
            kind = step % 4
            if kind == 0:  # a new, unrelated set
                keys = rng.sample(universe, rng.randint(0, 50))
            elif kind == 1:  # mostly the same set, reordered, a few in and out
                keys = t.keys[:]
                rng.shuffle(keys)
                keys = keys[: max(0, len(keys) - 3)] + rng.sample([k for k in universe if k not in keys], 3)
            elif kind == 2:  # a page appended (paging), then a new question
                extra = [k for k in rng.sample(universe, 60) if k not in t.keys][:40]
                had = t.keys
                t.sync([row(k, f"user {k}", int(k)) for k in extra], append=True)
                await pilot.pause()
                assert t.keys == had + extra
                keys = rng.sample(universe, 20)
            else:  # the same keys with some values changed
                keys = t.keys[:]
            values = {k: (f"user {k}", int(k) + (step if kind == 3 else 0)) for k in keys}
            top = kind != 3
            t.sync([row(k, *values[k]) for k in keys], top=top)
            await pilot.pause()
            expected = [(k, [values[k][0], str(values[k][1]), "no"]) for k in keys]
            assert shown(t) == expected, f"step {step}"
            assert t.keys == keys
            if top and keys:
                assert t.cursor_row == 0 and t.highlighted_key == keys[0]


async def test_users_refresh_updates_in_place_and_keeps_the_cursor(core: AuthCore) -> None:
    seed(core, 30)
    app = make_app(core)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        t = table(app, "#users")
        await pilot.press("down", "down", "down", "down")  # into the table, 3 rows down
        key = t.highlighted_key
        before = {k: t.get_row(k) for k in t.keys}
        first = rows(app, "#users")
        core.admin.revoke_tokens(int(key or 0), "test")  # its "ver" cell changes
        await pilot.press("r")
        await settle(pilot)
        assert t.highlighted_key == key, "a refresh never moves the cursor"
        after = rows(app, "#users")
        assert len(after) == len(first) and after != first
        changed = [k for k in t.keys if any(a is not b for a, b in zip(t.get_row(k), before[k], strict=True))]
        assert changed == [key], "only the changed row's cells were replaced"


async def test_typing_keeps_rows_that_stay_and_shows_exactly_the_new_results(core: AuthCore) -> None:
    seed(core, 30)
    app = make_app(core)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        t = table(app, "#users")
        for query in ("a", "al", "ali", "al", "bob", "", "carol", "example"):
            app.screen.query_one(SearchBox).value = query
            await settle(pilot)
            page = core.users.search(query, limit=app.page_size)
            shown_cols = [i for i, c in enumerate(COLUMNS) if c.key in t.columns]
            expected = [[user_row(u)[i].plain for i in shown_cols] for u in page.items]
            assert rows(app, "#users") == expected, query
            assert t.keys == [str(u.id) for u in page.items]
            assert t.cursor_row == 0


# -- fitting columns to narrow terminals (issue 11) ----------------------------------------------
def fitted(cols: list[Col], width: int, content: dict[int, int] | None = None) -> dict[str, int]:
    from console.widgets.table import fit

    return {cols[i].key: w for i, w in fit(cols, width, content=content)}


def test_users_table_keeps_off_at_60_columns_by_shrinking_the_widest_text_column() -> None:
    at80, at60 = fitted(COLUMNS, 80), fitted(COLUMNS, 58)
    assert list(at60) == [c.key for c in COLUMNS], "every column stays, off included"
    assert at60["disabled"] == at80["disabled"] == 3
    assert at60["tv"] == 3 and at60["sessions"] == 4, "numbers are never cut"
    assert at60["email"] < at80["email"], "the widest text column gave way"
    assert sum(w + 2 for w in at60.values()) + 2 <= 58


def test_an_ip_is_never_cut_the_user_agent_is() -> None:
    from console.screens.sessions import COLUMNS as ALL_SESSIONS
    from console.screens.user import SESSION_COLUMNS

    for cols in (SESSION_COLUMNS, ALL_SESSIONS):
        ip = next(i for i, c in enumerate(cols) if c.key == "ip")
        for longest in (len("203.185.199.123"), len("2001:db8:85a3::8a2e:370:7334")):
            for width in (120, 80, 60):
                got = fitted(cols, width, {ip: longest})
                assert got["ip"] >= longest, (width, longest, got)
                assert "state" in got
        assert "ua" in fitted(cols, 140, {ip: 15}), "wide terminals show the user agent"
    at80 = fitted(ALL_SESSIONS, 78, {2: 15})
    assert at80["ip"] == 15 and at80["ua"] > 0, "at 80 columns: the whole IP, a cut user agent"


async def test_narrow_tables_fit_without_sideways_scrolling(core: AuthCore) -> None:
    seed(core, 10)
    alice = core.users.find("alice").id
    core.sessions.create(alice, ip="203.185.199.123", user_agent="Mozilla/5.0 " * 10)
    core.sessions.create(alice, ip="2001:db8:85a3::8a2e:370:7334", user_agent="curl/8.5")
    for size in ((80, 24), (60, 15)):
        app = make_app(core)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("escape")
            users = table(app, "#users")
            assert "disabled" in [k.value for k in users.columns], f"off column at {size}"
            assert users.max_scroll_x == 0, f"users table scrolls sideways at {size}"
            app.open_user(alice)
            await settle(pilot)
            sessions = table(app, "#sessions")
            ip = sessions.columns[next(k for k in sessions.columns if k.value == "ip")]
            assert ip.width >= len("2001:db8:85a3::8a2e:370:7334"), f"IP cut at {size}"
            assert sessions.max_scroll_x == 0, f"sessions table scrolls sideways at {size}"
            ips = [r[2] for r in rows(app, "#sessions")]
            assert "203.185.199.123" in ips and "2001:db8:85a3::8a2e:370:7334" in ips


async def test_a_scrollbar_that_appears_shows_where_the_table_is() -> None:
    """The activity tail's snapshot failed in 1 run of 3: its rows came, the table scrolled to
    the newest, and only then did the vertical scrollbar get its first layout. Textual moves
    the thumb only while the bar is shown, so the thumb sat at the top under the newest rows
    (scroll_y 171, thumb 0, read off the failing run). The same order, forced here."""
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        t = app.query_one(KeyedTable)
        t.sync([row(str(i), f"user {i}", i) for i in range(50)])
        await pilot.pause()
        t.show_vertical_scrollbar = False  # not laid out yet
        t.scroll_y = t.max_scroll_y  # scrolled to the newest
        assert t.scroll_y == t.max_scroll_y > 0
        t.show_vertical_scrollbar = True  # the bar's first layout
        assert t.vertical_scrollbar.position == t.scroll_y
