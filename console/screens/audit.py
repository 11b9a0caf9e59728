"""The audit log, newest first, filtered by user and action, with the hash chain's verdict
(``verify_chain`` walks the whole chain, so it runs in its own worker)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from authcore.audit import AuditRecord, ChainReport
from authcore.errors import NotFound
from console.messages import AuditPage, ChainChecked
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
    @on(SearchBox.ToResults)
    def _to_table(self) -> None:
        self.query_one(KeyedTable).focus()

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
        n = len(self._records)
        parts = [f"{n} event{'s' if n != 1 else ''}"]
        if message.user_label:
            parts.append(f"user {message.user_label}")
        if self._filters[1]:
            parts.append(f"action {self._filters[1]}")
        parts.append("newest first" + ("" if self._exhausted else " (more below)"))
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
