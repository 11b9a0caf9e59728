"""The audit screen updates live (NOTIFY on PostgreSQL, polling on SQLite): new events arrive on
top without a key, the highlighted event and the view stay put, filters hold, a burst bigger than
a page reloads the page, an outage of the live read is the usual banner and ends by itself, and
the watcher thread ends with the screen."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from textual.pilot import Pilot

from authcore import audit
from authcore.audit import EventIn
from authcore.auditlog import AuditLog
from authcore.core import AuthCore
from authcore.db import make_engine, write_tx
from console.screens.audit import AuditScreen
from tests.support.tui import column, make_app, seed, settle, table, text_of


def _write(core: AuthCore, n: int, action: str = "live_test", user: int | None = None) -> None:
    with write_tx(core.engine) as conn:
        audit.append(conn, [EventIn(action, "writer", f"r{i}", user) for i in range(n)], datetime.now(UTC))


async def _until(pilot: Pilot[Any], cond: Any, limit: float = 15.0) -> None:
    """Wait without pressing a key (the live path must bring it)."""
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, "the screen did not update by itself"
        await pilot.pause(0.05)


def _seqs(app: Any) -> list[int]:
    return [int(s) for s in column(app, "#audit", 0)]


async def test_new_events_arrive_on_top_and_the_highlight_stays(core: AuthCore) -> None:
    seed(core, 0)
    _write(core, 5)
    app = make_app(core, live_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        app.goto("audit")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        before = _seqs(app)
        assert before == sorted(before, reverse=True) and len(before) == 5
        await pilot.press("down", "down")
        held = table(app, "#audit").highlighted_key
        assert held == str(before[2])
        _write(core, 3)  # another operator, another process: one transaction of three
        await _until(pilot, lambda: len(_seqs(app)) == 8)
        assert _seqs(app) == list(range(before[0] + 3, before[0], -1)) + before
        assert table(app, "#audit").highlighted_key == held  # the same event, not the same row
        assert "live: 3 new" in text_of(app, "#status") and "8 events" in text_of(app, "#status")
        assert held in text_of(app, "#event-detail") or f"seq {held}" in text_of(app, "#event-detail")


async def test_a_scrolled_view_stays_on_its_rows(core: AuthCore) -> None:
    seed(core, 0)
    _write(core, 40)
    app = make_app(core, live_interval=0.1)
    async with app.run_test(size=(100, 24)) as pilot:
        app.goto("audit")
        await settle(pilot)
        t = table(app, "#audit")
        for _ in range(30):
            await pilot.press("down")
        await settle(pilot)
        held, y = t.highlighted_key, t.scroll_y
        assert y > 0
        _write(core, 2)
        await _until(pilot, lambda: len(_seqs(app)) == 42)
        await pilot.pause()
        assert t.highlighted_key == held
        assert t.scroll_y == y + 2  # the rows in view are the same rows


async def test_filters_hold_and_a_big_burst_reloads_the_page(core: AuthCore) -> None:
    seed(core, 0)
    bob = core.users.find("bob").id
    _write(core, 2, action="wanted", user=bob)
    app = make_app(core, live_interval=0.1, page_size=20)
    async with app.run_test(size=(100, 30)) as pilot:
        app.goto("audit", action="wanted")
        await settle(pilot)
        assert column(app, "#audit", 2) == ["wanted", "wanted"]
        _write(core, 4, action="other")
        _write(core, 1, action="wanted", user=bob)
        await _until(pilot, lambda: len(_seqs(app)) == 3)
        await pilot.pause(0.5)  # and nothing else follows
        assert column(app, "#audit", 2) == ["wanted"] * 3
        app.goto("audit", action="")
        await settle(pilot)
        newest = _seqs(app)[0]
        _write(core, 45)  # more than a page: the page loads again
        await _until(pilot, lambda: _seqs(app)[:1] == [newest + 45])
        assert _seqs(app) == list(range(newest + 45, newest + 25, -1))


async def test_an_outage_of_the_live_read_is_the_banner_and_ends_by_itself(
    core: AuthCore, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    seed(core, 0)
    _write(core, 2)
    bad = AuditLog(make_engine("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nowhere"), core.config)
    app = make_app(core, live_interval=0.1, retry_interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        app.goto("audit")
        await settle(pilot)
        newest = _seqs(app)[0]
        with monkeypatch.context() as m:
            m.setattr(AuthCore, "audit", property(lambda _self: bad))  # the database goes away
            await _until(pilot, lambda: app.outage is not None)
            assert "s3cret" not in text_of(app, "#outage")
            _write(core, 2)  # committed while the console could not read
        # it comes back: the app's retry reloads the page
        await _until(pilot, lambda: app.outage is None and _seqs(app)[:1] == [newest + 2])
        assert _seqs(app)[:3] == [newest + 2, newest + 1, newest]


async def test_the_watcher_ends_with_the_screen(core: AuthCore) -> None:
    seed(core, 0)
    app = make_app(core, live_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        app.goto("audit")
        await settle(pilot)
        await _until(pilot, lambda: any(t.name == "audit-watch" for t in threading.enumerate()))
        await pilot.press("escape")
        await settle(pilot)
        await _until(pilot, lambda: not any(t.name == "audit-watch" for t in threading.enumerate()), 10)


async def test_postgresql_brings_them_by_notify_not_by_the_timer(core: AuthCore) -> None:
    """With the re-read timer at 60 s, only the NOTIFY of migration 0010's trigger can bring the
    events within the wait; SQLite (no NOTIFY) shows them only on its timer."""
    seed(core, 0)
    _write(core, 1)
    app = make_app(core, live_interval=60.0)
    async with app.run_test(size=(100, 30)) as pilot:
        app.goto("audit")
        await settle(pilot)
        await pilot.pause(0.5)  # the watcher LISTENs
        _write(core, 2)
        if core.engine.dialect.name == "postgresql":
            started = time.monotonic()
            await _until(pilot, lambda: len(_seqs(app)) == 3, 10)
            assert time.monotonic() - started < 10
        else:
            await pilot.pause(1.0)
            assert len(_seqs(app)) == 1
