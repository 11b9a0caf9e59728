"""Live activity: logins, refreshes, refresh reuse, ended sessions, bumps and disables as they
happen (``core.activity``, ``authcore.activityfeed``); ``enter`` opens the event's user.

A tail: the newest event at the bottom, the cursor follows it while it is on the last row (move
it up to stop following; ``end`` follows again). Bursts are coalesced twice: the feed hands over
at most the newest ``ROWS`` events per drain with the totals, and this screen drains on a timer
(``TICK_S``), so the table takes at most one batch of appended rows per tick whatever the event
rate, and only while it is the screen on top. Under another screen it pauses the feed
(``on_screen_suspend``): the feed's thread, which shares this process, then only counts what comes
and keeps the newest ``ROWS`` raw, so typing elsewhere does not pay for events nobody sees; back on
top it resumes the feed (``on_screen_resume``), which builds those and hands them over with every
count of the pause. The status line says how many came since the last tick (or while away), per
kind, and how many a burst folded away.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from authcore.activity import ActivityEvent, Kind
from console.messages import ActivityStarted
from console.navigation import bindings
from console.safe import safe, safe_join, safe_lines
from console.screens.base import ConsoleScreen
from console.widgets import cells
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled

ROWS = 200  # rows kept in the table (the newest)
TICK_S = 0.25  # how often the screen takes what the feed gathered
START_WAIT_S = 15.0  # the feed's first read (the backlog), at most
SAID_S = 3.0  # how long the status line keeps a tick's count

COLUMNS = [
    Col("at", "at (UTC)", 14),
    Col("what", "what", 14, floor=8),
    Col("user", "user", 12, 2, floor=6),
    Col("session", "session", 9, 1, optional=True, floor=6),
    Col("by", "by", 6, 1, floor=4),
    Col("detail", "detail", 8, 3, optional=True, floor=6),
]

STYLE = {
    Kind.LOGIN: "green",
    Kind.REFRESH: "dim",
    Kind.REUSE: "bold red",
    Kind.ENDED: "yellow",
    Kind.BUMPED: "yellow",
    Kind.DISABLED: "bold red",
    Kind.ENABLED: "green",
    Kind.GAP: "reverse yellow",
}


class FeedTable(KeyedTable):
    """The tail's table: rows leave from the top as new ones come at the bottom."""

    def forget(self, key: str) -> None:
        if self._data_rows.pop(key, None) is not None and self.columns:
            self.remove_row(key)


def who(e: ActivityEvent) -> Text:
    if e.user_id is None:
        return Text("-", style="dim")
    return safe(e.email) if e.email else Text(f"#{e.user_id}")


def row(e: ActivityEvent) -> list[Text]:
    return [
        Text(e.at.strftime("%m-%d %H:%M:%S")),
        Text(e.what, style=STYLE.get(e.kind, "")),
        who(e),
        cells.ident(e.session_id) if e.session_id else Text("-", style="dim"),
        safe(e.actor),
        safe(e.detail),
    ]


def summary(total: int, by_kind: dict[Kind, int], shown: int, dropped: int, away: int = 0) -> str:
    """``1,204 events (1,180 login, 24 refresh); newest 200 shown`` for a tick's batch (``while
    away`` for what came under another screen)."""
    kinds = ", ".join(f"{n:,} {k.value}" for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1]))
    text = f"{total:,} event{'s' if total != 1 else ''} ({kinds})"
    if away:
        text += " while away" if away >= total else f", {away:,} of them while away"
    if shown < total:
        text += f"; newest {shown:,} shown"
    if dropped:
        text += f", {dropped:,} dropped by the feed"
    return text


class ActivityScreen(ConsoleScreen):
    TITLE = "Live activity"
    KIND = "activity"
    DEFAULT_CSS = """
    #activity-detail {
        height: 2;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end", "follow", "Follow", show=False),
        *bindings("users", "sessions", "audit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._feed: Any = None
        self._starting: Any = None  # the feed _start made, until it is handed over or closed
        self._events: dict[str, ActivityEvent] = {}
        self._follow = True
        self._state = "starting"
        self._said: tuple[str, float] | None = None

    def compose_body(self) -> ComposeResult:
        yield FeedTable(COLUMNS, id="activity")
        yield Static(id="activity-detail", markup=False)

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one(KeyedTable).focus()
        self.say(safe("starting the live feed…", style="dim"))
        self._start()
        self.set_interval(TICK_S, self._tick)

    def on_unmount(self) -> None:
        feed, self._feed = self._feed, None
        for f in (feed, self._starting):
            if f is not None:
                f.close(timeout=0)  # its daemon thread ends at its next wait

    @work(thread=True, exclusive=True, group="activity", exit_on_error=False)
    def _start(self) -> None:
        """Start the feed (its thread reads; this worker only waits for the first read, so a
        database that is down shows as this group's failure)."""
        feed = self._starting = self.core.activity.follow(backlog=ROWS, hold=ROWS)
        if not feed.primed.wait(START_WAIT_S) or not feed.running:
            feed.close(timeout=0)
            from authcore.errors import DatabaseUnavailable

            raise DatabaseUnavailable(f"the live feed did not start: {feed.state}")
        if cancelled() or self.gone:
            # closed while the feed started: no message would reach a handler, and the feed's
            # thread would poll on (seen retrying against a dropped test database)
            feed.close(timeout=0)
            return
        self.post_message(ActivityStarted(feed))

    def on_activity_started(self, message: ActivityStarted) -> None:
        if self.gone or self._feed is not None:
            message.feed.close(timeout=0)
            return
        self._feed = message.feed
        if self.app.screen is not self:
            self._feed.pause()  # covered while it started
        self._tick()
        self._said = None  # the recent past is not a burst
        self._status(None)

    def reload(self) -> None:
        """``r``: after a failed start, start again (a running feed reconnects by itself)."""
        if self._feed is None and not self.busy("activity"):
            self._start()

    # -- the tick: drain, coalesce, append -------------------------------------------------
    def _tick(self) -> None:
        feed = self._feed
        if feed is None or self.gone or self.app.screen is not self:
            return  # under another screen: the feed is paused, counting; nothing drained
        batch = feed.drain(ROWS)
        self._state = batch.state
        if not batch.total:
            self._status(None)
            return
        events, total, kinds, dropped = batch.events, batch.total, batch.by_kind, batch.dropped
        table = self.query_one(FeedTable)
        following = self._follow and (not table.row_count or table.cursor_row >= table.row_count - 1)
        new = [(e.key, row(e)) for e in events if e.key not in self._events]
        for e in events:
            self._events[e.key] = e
        table.sync(new, append=True)
        excess = len(self._events) - ROWS
        if excess > 0:
            old = list(self._events)[:excess]
            with self.app.batch_update():
                for key in old:
                    del self._events[key]
                    table.forget(key)
        if following and table.row_count:
            self._to_newest(table)
        self._show(table.highlighted_key)  # rows left from the top: the cursor's row may differ
        self._status(summary(total, kinds, len(events), dropped, batch.away))

    def on_screen_suspend(self) -> None:
        if self._feed is not None:
            self._feed.pause()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._feed is not None:
            self._feed.resume()  # its thread builds what it kept; the next ticks show it
        self._tick()

    def _status(self, burst: str | None) -> None:
        """The feed's state, the last tick's events (kept for ``SAID_S``), the keys."""
        now = time.monotonic()
        if burst is not None:
            self._said = (burst, now)
        elif self._said is not None and now - self._said[1] > SAID_S:
            self._said = None
        parts = [safe(self._state, style="dim")]
        if self._said is not None:
            parts.append(safe("last: " + self._said[0], max_len=300))
        parts.append(Text("enter opens the user · end follows the newest", style="dim"))
        self.say(safe_join(*parts, sep=" · "))

    # -- keys and the detail pane ------------------------------------------------------------
    def _to_newest(self, table: FeedTable) -> None:
        """The cursor on the newest row, scrolled into view once the new rows are laid out."""
        table.move_cursor(row=table.row_count - 1, animate=False)
        self.call_after_refresh(table.scroll_end, animate=False, immediate=True)

    def action_follow(self) -> None:
        self._follow = True
        table = self.query_one(FeedTable)
        if table.row_count:
            self._to_newest(table)

    @on(KeyedTable.RowHighlighted, "#activity")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        table = self.query_one(KeyedTable)
        self._follow = event.cursor_row >= table.row_count - 1
        self._show(event_key(event))

    def _show(self, key: str | None) -> None:
        e = self._events.get(key or "")
        pane = self.query_one("#activity-detail", Static)
        if e is None:
            pane.update(Text("no event highlighted", style="dim"))
            return
        line1 = safe_join(
            Text(e.what, style=STYLE.get(e.kind, "bold")),
            Text(" · "),
            cells.stamp(e.at),
            Text(e.at.strftime(":%S UTC · ")),
            who(e),
            Text("" if e.user_id is None else f" (#{e.user_id})"),
            Text(" · by "),
            safe(e.actor),
        )
        line2 = safe_join(
            Text("session "), cells.ident(e.session_id or "-"), Text(" · "), safe(e.detail or "-")
        )
        pane.update(safe_lines([line1, line2]))

    @on(KeyedTable.RowSelected, "#activity")
    def _selected(self, event: KeyedTable.RowSelected) -> None:
        e = self._events.get(event_key(event) or "")
        if e is None:
            return
        if e.user_id is None:
            self.capp.notify_safe("this event names no single user", severity="warning")
            return
        self.capp.open_user(e.user_id)

    def current_id(self) -> str | None:
        e = self._events.get(self.query_one(KeyedTable).highlighted_key or "")
        if e is None:
            return None
        return e.session_id or (str(e.user_id) if e.user_id is not None else None)

    def reopen(self) -> None:  # type: ignore[override]  # no arguments (base.reopen)
        self.query_one(KeyedTable).focus()
