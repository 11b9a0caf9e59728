"""One user: profile, token_version, sessions (refreshed in place every few seconds) and recent
audit events; the revocation actions, each behind a confirm dialog with a dry-run preview
(``console.screens.actionflow``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Label, Static

from authcore.audit import AuditRecord
from authcore.devices import SessionDevice
from authcore.sessions import SessionRecord
from authcore.userevents import UserEvent, row_key
from authcore.users import UserRecord
from console.actions import ACTIONS
from console.messages import DevicesParsed, UserLoaded
from console.safe import safe, safe_join, safe_lines
from console.screens.actionflow import ActionFlow
from console.screens.base import PaletteCommand
from console.widgets import cells
from console.widgets.device import detail, device_cell, where_cell, with_where
from console.widgets.header import ConsoleHeader
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled

SESSION_COLUMNS = [
    Col("state", "state", 7),
    Col("id", "public id", 20, floor=8),
    Col("ip", "ip", 7, whole=True),
    Col("seen", "seen", 7),
    Col("created", "created", 7, optional=True),
    Col("expires", "expires", 7, optional=True),
    Col("ua", "device", 10, 3, optional=True),
]
EVENT_COLUMNS = [
    Col("at", "at (UTC)", 16),
    Col("action", "action", 16, 1, floor=8),
    Col("actor", "actor", 10, 1, floor=6),
    Col("reason", "reason / session", 12, 3, floor=6),
]


def session_row(
    s: SessionRecord, now: datetime, dev: SessionDevice | None = None, located: bool = False
) -> list[Text]:
    return [
        cells.state(s.active(now)),
        cells.ident(s.public_id),
        safe(s.last_ip or s.first_ip),
        *([where_cell(dev)] if located else []),
        cells.rel(s.last_seen_at, now),
        cells.rel(s.created_at, now),
        cells.rel(s.expires_at, now),
        device_cell(dev, s.user_agent),
    ]


def event_row(e: AuditRecord | UserEvent) -> list[Text]:
    detail = safe(e.reason)
    if e.target_session:
        detail = safe_join(detail, Text(" · "), safe(e.target_session, style="dim"))
    return [cells.stamp(e.at), cells.action(e.action), safe(e.actor), detail]


class UserScreen(ActionFlow):
    TITLE = "User"
    KIND = "user"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(a.key, a.name, a.short, tooltip=a.title) for a in ACTIONS.values()),
        Binding("a", "goto('audit')", "Audit", show=False, tooltip="Audit log of this user"),
        Binding("tab", "app.focus_next", "Next table", show=False),
    ]

    def __init__(self, user_id: int) -> None:
        super().__init__()
        self.user_id = user_id
        self.user: UserRecord | None = None
        self._sessions: dict[str, SessionRecord] = {}
        self._devices: dict[str, SessionDevice] = {}
        self._located = False  # a GeoIP file is configured (decided in compose_body)
        self._refresh_timer: Timer | None = None

    def title_text(self) -> str:
        return f"User #{self.user_id}"

    def shows(self, user_id: int | None = None) -> bool:  # type: ignore[override]  # its own args (base.reopen)
        return user_id is None or user_id == self.user_id

    def reopen(self, user_id: int | None = None) -> None:  # type: ignore[override]  # its own args (base.reopen)
        """Gone back to (e.g. from its audit events): show it as it is now."""
        if not self.busy("user"):
            self.reload()

    def compose_body(self) -> ComposeResult:
        yield Static(Text("loading…", style="dim"), id="profile", markup=False)
        yield Static(id="result", markup=False)  # the last action's outcome, never a toast
        with Vertical(id="user-tables"):
            yield Label(Text("Sessions", style="bold"), id="sessions-label")
            self._located = self.capp.located
            yield KeyedTable(with_where(SESSION_COLUMNS, self._located), id="sessions")
            yield Static(id="session-detail", markup=False)
            yield Label(Text("Recent audit events", style="bold"), id="events-label")
            yield KeyedTable(EVENT_COLUMNS, id="events")

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one("#sessions", KeyedTable).focus()
        self.reload()
        self._refresh_timer = self.set_interval(self.capp.refresh_interval, self._periodic_refresh)

    def _periodic_refresh(self) -> None:
        # not under a dialog, not during an outage (the app retries), and never on top of a load
        # that is still running: on a slow database a refresh would cancel the one before it
        if self.capp.outage is None and self.app.screen is self and not self.busy("user"):
            self.reload()

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        self._load(self.user_id)

    @work(thread=True, exclusive=True, group="user", exit_on_error=False)
    def _load(self, user_id: int) -> None:
        core = self.core
        user = core.users.get(user_id)
        sessions = core.sessions.for_user(user_id)
        # parses are cached, so a refresh parses nothing; new user agents after the paint
        devices = core.devices.describe(sessions, cached_only=True)
        # audit events and the user's own (logout, refresh replay/reuse), newest first
        events = core.audit.activity(user_id, limit=self.capp.page_size)
        if cancelled():
            return
        self.post_message(UserLoaded(user, sessions, events, devices))
        rest = core.devices.unparsed(sessions)
        if rest:
            parsed = core.devices.describe(rest)
            if not cancelled():
                self.post_message(DevicesParsed(str(user_id), parsed))

    def on_user_loaded(self, message: UserLoaded) -> None:
        if message.user.id != self.user_id:
            return
        self.user = u = message.user
        now = self.capp.clock()
        self.query_one(ConsoleHeader).set_title(f"User {u.email}")  # header safe()s it
        self._paint_profile(u, now)
        self._sessions = {s.public_id: s for s in message.sessions}
        self._devices = message.devices
        sessions = self.query_one("#sessions", KeyedTable)
        sessions.sync(
            [
                (s.public_id, session_row(s, now, message.devices.get(s.public_id), self._located))
                for s in message.sessions
            ]
        )
        active = sum(1 for s in message.sessions if s.active(now))
        self.query_one("#sessions-label", Label).update(
            Text.assemble(
                ("Sessions", "bold"), f"  {active} active, {len(message.sessions) - active} expired"
            )
        )
        events = self.query_one("#events", KeyedTable)
        events.sync([(row_key(e), event_row(e)) for e in message.events])
        reuse = sum(1 for e in message.events if e.action == cells.REUSE)
        label = Text.assemble(("Recent audit events", "bold"), f"  {len(message.events)}")
        if reuse:
            label.append(f"  ⚠ {reuse} refresh token reuse", style="bold red")
        self.query_one("#events-label", Label).update(label)
        self._show_session(sessions.highlighted_key)
        self.say(
            Text(
                f"refreshed {cells.stamp(now).plain} UTC · every "
                f"{self.capp.refresh_interval:g}s · y copies the highlighted id",
                style="dim",
            )
        )
        self.refresh_bindings()  # disable/enable swap with the state

    def on_devices_parsed(self, message: DevicesParsed) -> None:
        if message.key != str(self.user_id):
            return
        self._devices = {**self._devices, **message.devices}
        now = self.capp.clock()
        table = self.query_one("#sessions", KeyedTable)
        table.sync(
            [(k, session_row(s, now, self._devices.get(k), self._located)) for k, s in self._sessions.items()]
        )
        self._show_session(table.highlighted_key)

    def _paint_profile(self, u: UserRecord, now: datetime) -> None:
        line1 = safe_join(
            Text(f"#{u.id} ", style="dim"),
            (u.email, "bold"),
            Text("  "),
            safe(u.username),
            Text("  "),
            safe(u.display_name, style="italic"),
        )
        line2 = Text("token_version ")
        line2.append(str(u.token_version), style="bold")
        line2.append("  ")
        line2.append(
            " DISABLED " if u.disabled else "enabled", style="bold reverse red" if u.disabled else "green"
        )
        if u.disabled and u.disabled_at:
            line2.append(" since ")
            line2.append_text(cells.stamp(u.disabled_at))
        line2.append("  last login ")
        line2.append_text(cells.rel(u.last_login_at, now))
        line2.append("  created ")
        line2.append_text(cells.stamp(u.created_at))
        self.query_one("#profile", Static).update(safe_lines([line1, line2]))

    @on(KeyedTable.RowHighlighted, "#sessions")
    def _session_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_session(event_key(event))

    def _show_session(self, key: str | None) -> None:
        s = self._sessions.get(key or "")
        pane = self.query_one("#session-detail", Static)
        if s is None:
            pane.update(Text("no sessions", style="dim"))
            return
        line1 = safe_join(
            cells.ident(s.public_id),
            Text(" · ip "),
            safe(s.first_ip),
            Text(" → "),
            safe(s.last_ip),
            Text(f" · {s.refresh_counter} refreshes · created "),
            cells.stamp(s.created_at),
            Text(" · expires "),
            cells.rel(s.expires_at, self.capp.clock()),
        )
        line2 = detail(self._devices.get(s.public_id), s.user_agent, self._located)
        pane.update(safe_lines([line1, line2]))

    @on(KeyedTable.RowSelected, "#events")
    def _event_selected(self) -> None:
        self.capp.goto("audit", user=str(self.user_id))

    def current_id(self) -> str | None:
        focused = self.focused
        if isinstance(focused, KeyedTable) and focused.highlighted_key:
            return focused.highlighted_key
        return str(self.user_id)

    # -- actions ---------------------------------------------------------------------------
    def palette_commands(self) -> list[PaletteCommand]:
        own = [
            PaletteCommand(self, f"{a.title} ({a.key})", a.name, (), f"{a.help}: user #{self.user_id}")
            for a in ACTIONS.values()
        ]
        return own + super().palette_commands()

    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool:
        if action == "disable_user" and self.user is not None and self.user.disabled:
            return False
        if action == "enable_user" and (self.user is None or not self.user.disabled):
            return False
        return super().allowed(action, parameters)

    def action_goto(self, kind: str) -> None:
        if kind == "audit":
            self.capp.goto("audit", user=str(self.user_id))
        else:
            super().action_goto(kind)

    def act(self, kind: str) -> None:
        """An action key (``action_<kind>``, one per registry entry, made below the class): the
        highlighted session when the kind acts on one, then its dry run for the dialog."""
        session_id = None
        if ACTIONS[kind].needs_session:
            session_id = self.query_one("#sessions", KeyedTable).highlighted_key
            if session_id is None:
                self.capp.notify_safe("no session highlighted", severity="warning")
                return
        self.start_action(kind, self.user_id, session_id)

    def report(self, text: Text | str, style: str = "") -> None:
        """Results go to the result line under the profile: a toast would cover the audit rows
        and the next dialog's buttons."""
        line = text if isinstance(text, Text) else safe(text, max_len=400, style=style)
        result = self.query_one("#result", Static)
        result.update(Text(line.plain, style=style or line.style, spans=line.spans))
        result.display = True
        self.say(line if not style else safe(line.plain, max_len=400, style=style))


def _action_method(kind: str) -> Callable[[UserScreen], None]:
    def action(self: UserScreen) -> None:
        self.act(kind)

    action.__name__ = f"action_{kind}"
    action.__doc__ = ACTIONS[kind].help
    return action


# Textual runs a binding's action as ``action_<name>``: one method per registry entry, so a new
# operator action is its ``ActionSpec`` (console/actions.py) and nothing on this screen.
for _kind in ACTIONS:
    setattr(UserScreen, f"action_{_kind}", _action_method(_kind))
