"""The start screen: type to search users (debounced, keyset pages), a detail pane for the
highlighted one, ``enter`` opens them."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from console.messages import UsersPage
from console.navigation import bindings
from console.safe import safe, safe_join, safe_lines
from console.screens.base import ConsoleScreen, PaletteCommand
from console.widgets import cells
from console.widgets.search import SearchBox
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled

if TYPE_CHECKING:  # pragma: no cover
    from authcore.users import Cursor, UserRecord

COLUMNS = [
    Col("email", "email", 22, 4, floor=8),
    Col("username", "username", 10, 2, floor=6),
    Col("name", "name", 10, 2, floor=6),
    Col("tv", "ver", 3),
    Col("sessions", "sess", 4),
    Col("disabled", "off", 3),
]


def user_row(u: UserRecord) -> list[Text]:
    return [
        safe(u.email),
        safe(u.username),
        safe(u.display_name),
        cells.number(u.token_version),
        cells.number(u.active_sessions),
        cells.yes_no(u.disabled),
    ]


class UserSearchBox(SearchBox):
    """The user search: ``enter`` opens the highlighted result (the first by default)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Open")]


class UsersScreen(ConsoleScreen):
    TITLE = "Users"
    KIND = "users"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "Quit"),
        Binding("slash", "focus_filter", "Search"),
        *bindings("sessions", "audit", "token"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._query = ""
        self._next: Cursor | None = None
        self._loading_more = False
        self._records: dict[str, UserRecord] = {}
        self._open_after_search = False  # enter came before the debounce fired
        self._shown: str | None = None  # the query the table shows

    def compose_body(self) -> ComposeResult:
        yield UserSearchBox("search users: email, username, name or id", id="search")
        yield KeyedTable(COLUMNS, id="users")
        yield Static(id="detail", markup=False)

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one(SearchBox).focus()
        self.capp.typeahead_ready()  # keys typed before this focus go to the box now
        if not self.capp.connected:  # the first search waits for the core (console.connect)
            self.say(
                safe_join(
                    Text("connecting to ", style="dim"), (self.capp.db_url, "dim"), Text("…", style="dim")
                )
            )
        self.reload()

    # -- search ----------------------------------------------------------------------------
    def filter_widget(self) -> Input:
        return self.query_one(SearchBox)

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        self.debounce(self.capp.search_debounce, self._search_now)

    def _search_now(self) -> None:
        self._query = self.query_one(SearchBox).value
        self.say("searching…", "dim")
        self._search(self._query)

    def reload(self) -> None:
        self._query = self.query_one(SearchBox).value
        self._search(self._query)

    @work(thread=True, exclusive=True, group="users", exit_on_error=False)
    def _search(self, query: str) -> None:
        page = self.core.users.search(query, limit=self.capp.page_size)
        if not cancelled():
            self.post_message(UsersPage(query, page))

    @work(thread=True, exclusive=True, group="users-more", exit_on_error=False)
    def _more(self, query: str, after: Cursor) -> None:
        try:
            page = self.core.users.search(query, limit=self.capp.page_size, after=after)
            if not cancelled():
                self.post_message(UsersPage(query, page, append=True))
        finally:
            self._loading_more = False

    def on_users_page(self, message: UsersPage) -> None:
        if message.query != self._query:
            return  # an answer to an older question
        table = self.query_one(KeyedTable)
        rows = [(str(u.id), user_row(u)) for u in message.page.items]
        if message.append:
            self._records.update({str(u.id): u for u in message.page.items})
        else:
            self._records = {str(u.id): u for u in message.page.items}
        table.sync(rows, append=message.append, top=message.query != self._shown)
        self._shown = message.query
        self._next = message.page.next
        n = len(self._records)
        more = " (more below)" if self._next else ""
        what = f"for {message.query!r}" if message.query else "(newest first)"
        self.say(
            safe(f"{n} user{'s' if n != 1 else ''} {what}{more} · enter opens", max_len=300, style="dim")
        )
        self._show_detail(table.highlighted_key)
        if self._open_after_search and not message.append:
            self._open_after_search = False
            self._open_highlighted()

    @on(KeyedTable.NearEnd, "#users")
    def _near_end(self) -> None:
        if self._next is not None and not self._loading_more:
            self._loading_more = True
            self._more(self._query, self._next)

    # -- detail and opening ----------------------------------------------------------------
    @on(KeyedTable.RowHighlighted, "#users")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_detail(event_key(event))

    def _show_detail(self, key: str | None) -> None:
        pane = self.query_one("#detail", Static)
        u = self._records.get(key or "")
        if u is None:
            pane.update(Text("no user highlighted", style="dim"))
            return
        now = self.capp.clock()
        line1 = safe_join(
            Text(f"#{u.id} ", style="dim"),
            (u.email, "bold"),
            Text("  "),
            safe(u.username),
            Text("  "),
            safe(u.display_name, style="italic"),
        )
        line2 = Text(f"token_version {u.token_version} · {u.active_sessions} active · ")
        line2.append("DISABLED" if u.disabled else "enabled", style="bold red" if u.disabled else "green")
        line2.append(" · login ")
        line2.append_text(cells.rel(u.last_login_at, now))
        line2.append(" · created ")
        line2.append_text(cells.day(u.created_at))
        pane.update(safe_lines([line1, line2]))

    @on(Input.Submitted, "#search")
    def _submitted(self) -> None:
        """Enter in the box opens the first result of what is typed. While the table still
        shows an older answer (the debounce has not fired, or the search is on its way), the
        highlighted row is someone else: open once the answer is in (``on_users_page``)."""
        value = self.query_one(SearchBox).value
        pending = self.cancel_debounce()
        if self._shown == value and not pending:
            self._open_highlighted()
            return
        self._open_after_search = True
        if pending or self._query != value:  # not asked yet: ask now
            self._query = value
            self._search(value)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # no super() call: Textual dispatches the base screen's handler too (along the MRO)
        if event.worker.group == "users" and event.state == WorkerState.ERROR:
            self._open_after_search = False  # an open after an outage would come by itself

    def _open_highlighted(self) -> None:
        table = self.query_one(KeyedTable)
        key = table.highlighted_key
        if key is None:
            self.capp.notify_safe("no user to open", severity="warning")
            return
        table.focus()  # coming back lands on the results: q quits, / searches again
        self.capp.open_user(int(key))

    @on(KeyedTable.RowSelected, "#users")
    def _selected(self, event: KeyedTable.RowSelected) -> None:
        key = event_key(event)
        if key is not None:
            self.capp.open_user(int(key))

    def current_id(self) -> str | None:
        return self.query_one(KeyedTable).highlighted_key

    # -- bulk revoke (console/screens/bulk.py) ---------------------------------------------
    def action_goto(self, kind: str) -> None:
        """``b`` (and the palette's bulk entries) take the search typed here to the bulk screen."""
        if kind == "bulk":
            self.capp.goto("bulk", query=self.query_one(SearchBox).value)
        else:
            super().action_goto(kind)

    def palette_commands(self) -> list[PaletteCommand]:
        own = PaletteCommand(
            self,
            "Revoke everyone matching this search (bulk)",
            "goto",
            ("bulk",),
            "the bulk screen with this text as its query: count, first rows, typed confirmation (b)",
        )
        return [own, *super().palette_commands()]

    def reopen(self, **args: object) -> None:
        """``u`` from anywhere: back here, ready to type a new search."""
        self.filter_widget().focus()
