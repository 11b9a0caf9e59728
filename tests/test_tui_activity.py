"""The live activity screen (``L``), with Pilot on both engines: rows appear as things happen,
enter opens the event's user and esc comes back, a burst reaches the table as a few coalesced
appends (never one per event, never more than ``ROWS`` rows) with its count said, the screen
under another one draws nothing until it is back, and untrusted text shows literally."""

from __future__ import annotations

from typing import Any

from authcore.core import AuthCore
from console.screens import activity as activity_screen
from console.screens.activity import ActivityScreen, FeedTable
from console.screens.sessions import SessionsScreen
from console.screens.user import UserScreen
from console.screens.users import UsersScreen
from tests.support.tui import make_app, open_activity, rows, settle, text_of, until


def status(app: Any) -> str:
    return text_of(app, "#status")


async def test_rows_appear_live_and_enter_opens_the_user(core: AuthCore) -> None:
    ann = core.users.create("ann@example.com", "ann")
    bob = core.users.create("bob@example.com", "bob")
    app = make_app(core)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_activity(pilot)
        assert rows(app, "#activity") == []
        core.login(ann.id, ip="10.0.0.7")
        await until(
            pilot, lambda: any(r[1] == "login" and r[2] == "ann@example.com" for r in rows(app, "#activity"))
        )
        core.admin.revoke_tokens(bob.id, "rotate keys")
        await until(pilot, lambda: any(r[1] == "version bumped" for r in rows(app, "#activity")))
        last = rows(app, "#activity")[-1]
        assert last[2] == "bob@example.com" and last[4] == "test-operator" and last[5] == "rotate keys"
        table = app.screen.query_one("#activity", FeedTable)
        assert table.cursor_row == table.row_count - 1  # following the newest
        assert "version bumped" in text_of(app, "#activity-detail")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, UserScreen) and app.screen.user_id == bob.id
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ActivityScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert app._exception is None


async def test_the_palette_offers_it(core: AuthCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.screen.palette_commands()]
        assert "Live activity" in titles
        await app.screen.palette_commands()[titles.index("Live activity")].run()
        await settle(pilot)
        assert isinstance(app.screen, ActivityScreen)


async def test_a_burst_is_coalesced(core: AuthCore, monkeypatch: Any) -> None:
    ann = core.users.create("ann@example.com", "ann")
    monkeypatch.setattr(activity_screen, "ROWS", 40)
    appends: list[int] = []
    real_sync = FeedTable.sync

    def counting(self: FeedTable, rows_: Any, **kw: Any) -> None:
        appends.append(len(rows_))
        real_sync(self, rows_, **kw)

    monkeypatch.setattr(FeedTable, "sync", counting)
    app = make_app(core)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_activity(pilot)
        n = 300
        last = None
        for _ in range(n):
            last = core.login(ann.id).session.public_id
        assert last is not None
        table = screen.query_one("#activity", FeedTable)
        await until(pilot, lambda: last[:12] in [r[3][:12] for r in rows(app, "#activity")])
        await settle(pilot)
        assert table.row_count <= 40
        assert table.cursor_row == table.row_count - 1  # following: the newest, and its detail
        assert last in text_of(app, "#activity-detail")
        assert len(appends) < n / 5, appends  # a few batched appends, not one per event
        assert max(appends) <= 40
        assert "shown" in status(app) or len(appends) > 1
        assert app._exception is None


async def test_under_another_screen_it_draws_nothing_until_back(core: AuthCore) -> None:
    ann = core.users.create("ann@example.com", "ann")
    app = make_app(core)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_activity(pilot)
        await pilot.press("s")  # the sessions screen on top (activity stays on the stack)
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen) and screen in app.screen_stack
        login = core.login(ann.id)
        await pilot.pause(1.0)  # several ticks
        table = screen.query_one("#activity", FeedTable)
        assert table.row_count == 0  # drained, kept aside, not drawn
        await pilot.press("L")
        await settle(pilot)
        assert app.screen is screen
        sid = login.session.public_id
        await until(
            pilot, lambda: any(r[3] and sid.startswith(r[3].rstrip("…")) for r in rows(app, "#activity"))
        )


async def test_untrusted_text_shows_literally(core: AuthCore) -> None:
    ann = core.users.create("ann@example.com", "ann")
    app = make_app(core)
    async with app.run_test(size=(140, 30)) as pilot:
        await open_activity(pilot)
        core.admin.revoke_tokens(ann.id, "[@click=app.quit]x[/] [bold]y")
        await until(pilot, lambda: any("[@click=app.quit]" in r[5] for r in rows(app, "#activity")))
        await pilot.press("end")
        await settle(pilot)
        assert app.is_running and app._exception is None


async def test_a_screen_closed_while_its_feed_starts_leaves_no_feed_running(
    core: AuthCore, monkeypatch: Any
) -> None:
    """``L`` then ``esc`` before the feed's first read ends: the started message reaches no
    screen, so the worker itself closes the feed. (A CI run printed such a feed's thread
    retrying against a test database dropped long before.)"""
    import threading

    from authcore.activityfeed import ActivityFeed

    real_prime = ActivityFeed._prime
    feeds: list[ActivityFeed] = []
    go = threading.Event()

    def slow_prime(self: ActivityFeed) -> None:
        feeds.append(self)
        go.wait(10)
        real_prime(self)

    monkeypatch.setattr(ActivityFeed, "_prime", slow_prime)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "L")
        await until(pilot, lambda: bool(feeds))
        await pilot.press("escape")  # closed while the first read is still running
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ActivityScreen)
        go.set()
        await until(pilot, lambda: not feeds[0].running, wait=5)
    assert not feeds[0].running


async def test_under_another_screen_the_feed_only_counts_and_back_shows_the_newest(
    core: AuthCore, monkeypatch: Any
) -> None:
    """Covered, the screen pauses its feed (which then counts and builds nothing in this
    process); back on top, the newest ``ROWS`` events come in one batch, the last login last, and
    the status line says how many came while away."""
    ann = core.users.create("ann@example.com", "ann")
    monkeypatch.setattr(activity_screen, "ROWS", 20)
    app = make_app(core)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await open_activity(pilot)
        feed = screen._feed
        assert not feed.paused
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen) and feed.paused
        logins = [core.login(ann.id) for _ in range(50)]
        await until(pilot, lambda: feed.away == 50)
        assert screen.query_one("#activity", FeedTable).row_count == 0
        await pilot.press("L")
        await settle(pilot)
        assert app.screen is screen and not feed.paused
        sid = logins[-1].session.public_id
        await until(pilot, lambda: "50 events (50 login) while away; newest 20 shown" in status(app))
        table = screen.query_one("#activity", FeedTable)
        shown = [r[3] for r in rows(app, "#activity")]
        assert table.row_count == 20 and sid.startswith(shown[-1].rstrip("…"))
        assert table.cursor_row == table.row_count - 1 and sid in text_of(app, "#activity-detail")
        assert app._exception is None
