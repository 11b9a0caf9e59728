"""The audit log, newest first, filtered by user and action, with the hash chain's verdict
(``verify_chain`` walks the whole chain, so it runs in its own worker).

Live: a watcher thread waits on ``core.audit.waiter`` (NOTIFY on PostgreSQL, a poll timer on
SQLite) and, once a burst has settled, posts a wake-up; the screen then reads what is newer than
its newest event in an ``audit-live`` worker (so a failure is an outage like any read's, and the
app's retry reloads the page) and puts it on top, the highlighted event and the view staying
where they were. The watcher is a plain daemon thread, not a worker: it never ends by itself,
and waiting for every worker to finish must stay possible."""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label, Static

from authcore.audit import AuditRecord, ChainReport
from authcore.auditstream import Bound, Waiter
from authcore.errors import NotFound
from console.messages import AuditLive, AuditPage, ChainChecked
from console.navigation import bindings
from console.safe import safe, safe_join, safe_lines
from console.screens.base import ConsoleScreen
from console.widgets import cells
from console.widgets.search import SearchBox
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled

COLUMNS = [
    Col("seq", "seq", 4),
    Col("at", "at (UTC)", 16),
    Col("action", "action", 15, 1, floor=8),
    Col("user", "user", 6),
    Col("actor", "actor", 10, 1, floor=6),
    Col("reason", "reason", 8, 3, floor=6),
]


def row(e: AuditRecord) -> list[Text]:
    user = Text("-" if e.target_user_id is None else f"#{e.target_user_id}")
    reason = safe(e.reason)
    if e.target_session:
        reason = safe_join(reason, Text(" · "), safe(e.target_session, style="dim"))
    return [
        Text(str(e.seq), justify="right"),
        cells.stamp(e.at),
        cells.action(e.action),
        user,
        safe(e.actor),
        reason,
    ]


def event_detail(e: AuditRecord) -> Text:
    """Two lines for the highlighted event: who/what/when, then the reason and details."""
    line1 = safe_join(
        Text(f"seq {e.seq} · "),
        cells.stamp(e.at),
        Text(" UTC · "),
        safe(e.action, style="bold"),
        Text(" by "),
        safe(e.actor, style="bold"),
    )
    if e.target_user_id is not None:
        line1.append(f" · user #{e.target_user_id}")
    if e.target_session:
        line1.append_text(safe_join(Text(" · "), safe(e.target_session)))
    line2 = safe_join(Text("reason: ", style="dim"), safe(e.reason or "-"))
    if e.details:
        details = json.dumps(e.details, ensure_ascii=True, sort_keys=True, default=str)
        line2.append_text(safe_join(Text("  details: ", style="dim"), safe(details, max_len=300)))
    return safe_lines([line1, line2])


COALESCE_S = 0.2  # after a wake-up: commits this close together are one re-read
WATCH_BACKOFF_MAX_S = 10.0  # the watcher's longest wait between attempts while the database is away


class _Wake(Message):
    """The watcher thread: new events may have committed."""


def chain_text(report: ChainReport, seals: Any = None) -> Text:
    if seals is not None and not seals.ok and report.ok:  # a seal file or signature problem
        return Text.assemble(
            (" SEALS FAILED ", "bold reverse red"), " ", safe(seals.problem, max_len=300, style="bold red")
        )
    if report.ok:
        sealed = (
            f" · sealed: seq {seals.newest.seq} at {seals.newest.time}"
            if seals is not None and seals.newest is not None
            else ""
        )
        return Text.assemble(
            ("hash chain intact", "bold green"),
            f" · {report.checked} events verified · head seq {report.head_seq}{sealed}",
        )
    return Text.assemble(
        (" HASH CHAIN BROKEN ", "bold reverse red"), " ", safe(report.problem, max_len=300, style="bold red")
    )


class AuditScreen(ConsoleScreen):
    TITLE = "Audit log"
    KIND = "audit"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        *bindings("users", "sessions"),
        Binding("r", "reload", "Refresh + verify"),
    ]

    def __init__(self, user: str = "", action: str = "") -> None:
        super().__init__()
        self._filters = (user, action)
        self._records: dict[str, AuditRecord] = {}
        self._exhausted = False
        self._loading_more = False
        self._oldest: int | None = None
        self._resolved: int | None = None
        self._shown: tuple[str, str] | None = None
        self._newest: int | None = None  # seq the live read starts after (None: nothing to follow)
        self._new = 0  # events that arrived live since the page loaded
        self._watch_stop = threading.Event()
        self._waiter: Waiter | None = None
        self._label = ""

    def compose_body(self) -> ComposeResult:
        user, action = self._filters
        with Horizontal(id="audit-filters"):
            yield Label(Text("user ", style="bold"))
            yield SearchBox("email, username or id", id="user-filter", value=user)
            yield Label(Text(" action ", style="bold"))
            yield SearchBox("e.g. revoke_tokens", id="action-filter", value=action)
        yield Static(Text("verifying the hash chain…", style="dim"), id="chain", markup=False)
        yield KeyedTable(COLUMNS, id="audit")
        yield Static(id="event-detail", markup=False)

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one(KeyedTable).focus()
        self.reload()
        threading.Thread(target=self._watch, name="audit-watch", daemon=True).start()

    def on_unmount(self) -> None:
        self._watch_stop.set()
        if self._waiter is not None:
            self._waiter.halt()  # ends its wait now (thread-safe); the watcher closes it

    # -- live ------------------------------------------------------------------------------
    def _watch(self) -> None:
        """The watcher thread: wait, let a burst settle, post one wake-up; again until the
        screen goes. Its own connection failures only slow it down (backoff): the reads it
        triggers report the outage."""
        stop = self._watch_stop
        try:
            waiter = self.core.audit.waiter(
                poll_s=self.capp.live_interval, notify_interval=max(self.capp.live_interval, 5.0)
            )
        except Exception:  # noqa: BLE001 - no core: the screen's own reads say why
            return
        self._waiter = waiter
        if stop.is_set():  # gone while it was made: on_unmount found no waiter to halt
            waiter.close()
            return
        delay = 0.5
        try:
            while not stop.is_set():
                try:
                    woke = waiter.wait()
                    delay = 0.5
                except Exception:  # noqa: BLE001 - the database is away; the reads report it
                    stop.wait(delay)
                    delay = min(delay * 2, WATCH_BACKOFF_MAX_S)
                    continue
                if woke:
                    stop.wait(COALESCE_S)
                if not stop.is_set():
                    self.post_message(_Wake())
        finally:
            waiter.close()

    def on__wake(self, _message: _Wake) -> None:
        if self.gone or self._newest is None or self.capp.outage is not None or self.busy("audit"):
            return  # nothing shown yet, a page is loading, or the app's retry is at work
        self._live(self._filters, self._resolved, self._newest)

    @work(thread=True, exclusive=True, group="audit-live", exit_on_error=False)
    def _live(self, filters: tuple[str, str], user_id: int | None, after: int) -> None:
        size = self.capp.page_size
        events = self.core.audit.list(
            user_id=user_id, action=filters[1] or None, since=Bound(seq=after + 1), limit=size
        )
        if events and not cancelled():
            self.post_message(AuditLive(filters, after, events, full=len(events) >= size))

    def on_audit_live(self, message: AuditLive) -> None:
        if message.filters != self._filters or self._newest is None or message.after > self._newest:
            return  # asked for another filter, or older than what is shown now
        if message.full:  # more arrived than a page: show the page again, from the top
            self._load(self._filters)
            return
        new = [e for e in message.events if e.seq > self._newest]
        if not new:
            return
        table = self.query_one(KeyedTable)
        y = table.scroll_y
        self._records.update({str(e.seq): e for e in new})
        self._newest = new[0].seq
        self._new += len(new)
        shown = [(str(e.seq), row(e)) for e in new]
        shown += [(k, row(self._records[k])) for k in table.keys if k in self._records]
        table.sync(shown)  # the cursor stays on its event
        if y > 0:  # scrolled down: keep the same rows in view, the new ones arrive above it
            table.scroll_to(y=y + len(new), animate=False, immediate=True)
        self._summary(self._label)

    def filter_widget(self) -> Input:
        return self.query_one("#user-filter", SearchBox)

    def _current_filters(self) -> tuple[str, str]:
        return (
            self.query_one("#user-filter", SearchBox).value.strip(),
            self.query_one("#action-filter", SearchBox).value.strip(),
        )

    @on(Input.Changed, "#user-filter")
    @on(Input.Changed, "#action-filter")
    def _typed(self) -> None:
        self.debounce(self.capp.search_debounce, self._load_events)

    @on(Input.Submitted, "#user-filter")
    @on(Input.Submitted, "#action-filter")
    def _to_table(self) -> None:
        self.to_results()

    def reload(self) -> None:
        self._load_events()
        self.query_one("#chain", Static).update(Text("verifying the hash chain…", style="dim"))
        self._verify()

    def _load_events(self) -> None:
        self._filters = self._current_filters()
        self._load(self._filters)

    @work(thread=True, exclusive=True, group="audit", exit_on_error=False)
    def _load(self, filters: tuple[str, str]) -> None:
        user, action = filters
        label = ""
        user_id: int | None = None
        if user:
            try:
                u = self.core.users.find(user)
            except NotFound:
                self._resolved = None  # nothing to follow (on_audit_page)
                if not cancelled():
                    self.post_message(AuditPage(filters, [], user_label=f"no user matches {user!r}"))
                return
            user_id, label = u.id, f"#{u.id} {u.email}"
        events = self.core.audit.list(user_id=user_id, action=action or None, limit=self.capp.page_size)
        self._resolved = user_id
        if not cancelled():
            self.post_message(AuditPage(filters, events, user_label=label))

    @work(thread=True, exclusive=True, group="audit-more", exit_on_error=False)
    def _more(self, filters: tuple[str, str], user_id: int | None, before: int) -> None:
        try:
            events = self.core.audit.list(
                user_id=user_id,
                action=filters[1] or None,
                limit=self.capp.page_size,
                before_seq=before,
            )
            if not cancelled():
                self.post_message(AuditPage(filters, events, append=True))
        finally:
            self._loading_more = False

    @work(thread=True, exclusive=True, group="chain", exit_on_error=False)
    def _verify(self) -> None:
        report, seals = self.core.audit.check_configured()
        if not cancelled():
            self.post_message(ChainChecked(report, seals))

    def on_chain_checked(self, message: ChainChecked) -> None:
        self.query_one("#chain", Static).update(chain_text(message.report, message.seals))

    def on_audit_page(self, message: AuditPage) -> None:
        if message.filters != self._filters:
            return
        if not message.append:
            self._records = {}
        self._records.update({str(e.seq): e for e in message.events})
        self._exhausted = len(message.events) < self.capp.page_size
        if message.events:
            self._oldest = message.events[-1].seq
        self.query_one(KeyedTable).sync(
            [(str(e.seq), row(e)) for e in message.events],
            append=message.append,
            top=message.filters != self._shown,
        )
        self._shown = message.filters
        self._show_event(self.query_one(KeyedTable).highlighted_key)
        if message.append:
            return
        no_user = bool(self._filters[0]) and self._resolved is None
        self._newest = None if no_user else (message.events[0].seq if message.events else 0)
        self._new = 0
        self._summary(message.user_label)

    def _summary(self, user_label: str) -> None:
        self._label = user_label
        n = len(self._records)
        parts = [f"{n} event{'s' if n != 1 else ''}"]
        if user_label:
            parts.append(f"user {user_label}")
        if self._filters[1]:
            parts.append(f"action {self._filters[1]}")
        parts.append("newest first" + ("" if self._exhausted else " (more below)"))
        parts.append(f"live: {self._new} new" if self._new else "live")
        self.say(safe(" · ".join(parts) + " · enter opens the user", max_len=300, style="dim"))

    @on(KeyedTable.RowHighlighted, "#audit")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_event(event_key(event))

    def _show_event(self, key: str | None) -> None:
        pane = self.query_one("#event-detail", Static)
        e = self._records.get(key or "")
        if e is None:
            pane.update(Text("no event highlighted", style="dim"))
            return
        pane.update(event_detail(e))

    @on(KeyedTable.NearEnd, "#audit")
    def _near_end(self) -> None:
        if not self._exhausted and self._oldest and not self._loading_more:
            self._loading_more = True
            self._more(self._filters, self._resolved, self._oldest)

    @on(KeyedTable.RowSelected, "#audit")
    def _selected(self, event: KeyedTable.RowSelected) -> None:
        e = self._records.get(event_key(event) or "")
        if e is not None and e.target_user_id is not None:
            self.capp.open_user(e.target_user_id)
        else:
            self.capp.notify_safe("this event names no user", severity="warning")

    def current_id(self) -> str | None:
        return self.query_one(KeyedTable).highlighted_key

    def reopen(self, user: str | None = None, action: str | None = None) -> None:  # type: ignore[override]  # its own args (base.reopen)
        """Opened again (``a`` on a user): show the filters asked for, if any."""
        changed = False
        for value, box in ((user, "#user-filter"), (action, "#action-filter")):
            if value is not None and value != self.query_one(box, SearchBox).value:
                self.query_one(box, SearchBox).value = value
                changed = True
        if changed:
            self.cancel_debounce()
            self._load_events()
        self.query_one(KeyedTable).focus()
