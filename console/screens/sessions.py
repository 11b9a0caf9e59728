"""Recent sessions across users, newest first, filtered (``authcore.sessions.filter_kind``) by
IP prefix, or by user-agent text or session id;
``enter`` opens the session's owner. Each row shows its device (the parsed user agent) and, when
a GeoIP file is configured, where its address is (``core.devices``, in the page's worker)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from authcore.devices import SessionDevice
from authcore.sessions import SessionRecord
from console.messages import DevicesParsed, SessionsPage
from console.navigation import bindings
from console.safe import safe, safe_join, safe_lines
from console.screens.base import ConsoleScreen
from console.widgets import cells
from console.widgets.device import detail, device_cell, where_cell, with_where
from console.widgets.search import SearchBox
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled

COLUMNS = [
    Col("state", "state", 7),
    Col("email", "user", 16, 2, floor=8),
    Col("ip", "ip", 7, whole=True),
    Col("created", "created", 7, optional=True),
    Col("seen", "seen", 7),
    Col("ua", "device", 8, 3, optional=True),
]


def row(
    s: SessionRecord, now: datetime, dev: SessionDevice | None = None, located: bool = False
) -> list[Text]:
    return [
        cells.state(s.active(now)),
        safe(s.email),
        safe(s.last_ip or s.first_ip),
        *([where_cell(dev)] if located else []),
        cells.rel(s.created_at, now),
        cells.rel(s.last_seen_at, now),
        device_cell(dev, s.user_agent),
    ]


class SessionsScreen(ConsoleScreen):
    TITLE = "Sessions"
    KIND = "sessions"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        *bindings("users", "audit"),
    ]

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._text = text
        self._records: dict[str, SessionRecord] = {}
        self._devices: dict[str, SessionDevice] = {}
        self._located = False  # a GeoIP file is configured (decided in compose_body)
        self._last: tuple[datetime, str] | None = None
        self._exhausted = False
        self._loading_more = False
        self._shown: str | None = None

    def compose_body(self) -> ComposeResult:
        yield SearchBox(
            "filter: IP prefix, user-agent text or session id (/ to type)", id="filter", value=self._text
        )
        self._located = self.capp.located
        yield KeyedTable(with_where(COLUMNS, self._located), id="sessions-all")
        yield Static(id="session-detail", markup=False)

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one(KeyedTable).focus()
        self.reload()

    def filter_widget(self) -> Input:
        return self.query_one(SearchBox)

    @on(Input.Changed, "#filter")
    def _typed(self) -> None:
        self.debounce(self.capp.search_debounce, self.reload)

    @on(Input.Submitted, "#filter")
    def _to_table(self) -> None:
        self.to_results()

    def reload(self) -> None:
        self._text = self.query_one(SearchBox).value.strip()
        self._load(self._text)

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def _load(self, text: str) -> None:
        core = self.core
        items = core.sessions.recent(limit=self.capp.page_size, text=text)
        if not cancelled():  # painted with what is parsed already; new user agents right after
            self.post_message(
                SessionsPage(text, items, devices=core.devices.describe(items, cached_only=True))
            )
            self._parse_rest(text, items)

    @work(thread=True, exclusive=True, group="sessions-more", exit_on_error=False)
    def _more(self, text: str, before: tuple[datetime, str]) -> None:
        try:
            core = self.core
            items = core.sessions.recent(limit=self.capp.page_size, text=text, before=before)
            if not cancelled():
                devices = core.devices.describe(items, cached_only=True)
                self.post_message(SessionsPage(text, items, append=True, devices=devices))
                self._parse_rest(text, items)
        finally:
            self._loading_more = False

    def _parse_rest(self, text: str, items: list[SessionRecord]) -> None:
        """In the page's worker, after the page: the user agents not parsed before."""
        devices = self.core.devices
        rest = devices.unparsed(items)
        if rest and not cancelled():
            parsed = devices.describe(rest)
            if not cancelled():
                self.post_message(DevicesParsed(text, parsed))

    def on_devices_parsed(self, message: DevicesParsed) -> None:
        if message.key != self._text or not self._records:
            return
        self._devices.update(message.devices)
        now = self.capp.clock()
        table = self.query_one(KeyedTable)
        table.sync([(k, row(s, now, self._devices.get(k), self._located)) for k, s in self._records.items()])
        self._show(table.highlighted_key)

    def on_sessions_page(self, message: SessionsPage) -> None:
        if message.text != self._text:
            return
        now = self.capp.clock()
        if not message.append:
            self._records = {}
            self._devices = {}
        self._records.update({s.public_id: s for s in message.items})
        self._devices.update(message.devices)
        self._exhausted = len(message.items) < self.capp.page_size
        if message.items:
            last = message.items[-1]
            self._last = (last.created_at, last.public_id)
        table = self.query_one(KeyedTable)
        table.sync(
            [
                (s.public_id, row(s, now, message.devices.get(s.public_id), self._located))
                for s in message.items
            ],
            append=message.append,
            top=message.text != self._shown,
        )
        self._shown = message.text
        self._show(table.highlighted_key)
        n = len(self._records)
        what = f" matching {message.text!r}" if message.text else ""
        more = "" if self._exhausted else " (more below)"
        self.say(
            safe(
                f"{n} session{'s' if n != 1 else ''}{what}, newest first{more} · enter opens the user",
                max_len=300,
                style="dim",
            )
        )

    @on(KeyedTable.RowHighlighted, "#sessions-all")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show(event_key(event))

    def _show(self, key: str | None) -> None:
        s = self._records.get(key or "")
        pane = self.query_one("#session-detail", Static)
        if s is None:
            pane.update(Text("no session highlighted", style="dim"))
            return
        now = self.capp.clock()
        line1 = safe_join(
            safe(s.email, style="bold"),
            Text(f" (#{s.user_id}) · "),
            cells.ident(s.public_id),
            Text(" · ip "),
            safe(s.first_ip),
            Text(" → "),
            safe(s.last_ip),
            Text(" · created "),
            cells.rel(s.created_at, now),
            Text(" · expires "),
            cells.rel(s.expires_at, now),
        )
        dev = self._devices.get(s.public_id)
        pane.update(safe_lines([line1, detail(dev, s.user_agent, self._located)]))

    @on(KeyedTable.NearEnd, "#sessions-all")
    def _near_end(self) -> None:
        if not self._exhausted and self._last and not self._loading_more:
            self._loading_more = True
            self._more(self._text, self._last)

    @on(KeyedTable.RowSelected, "#sessions-all")
    def _selected(self, event: KeyedTable.RowSelected) -> None:
        s = self._records.get(event_key(event) or "")
        if s is not None:
            self.capp.open_user(s.user_id)

    def current_id(self) -> str | None:
        return self.query_one(KeyedTable).highlighted_key

    def reopen(self, text: str | None = None) -> None:  # type: ignore[override]  # its own args (base.reopen)
        """Opened again: the filter asked for, if any, else as it was left."""
        if text is not None and text != self.query_one(SearchBox).value:
            self.query_one(SearchBox).value = text
            self.reload()
        self.query_one(KeyedTable).focus()
