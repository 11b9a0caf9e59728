"""Needs attention: the users an operator should look at now (``core.attention``), newest first.

Each row says why; ``enter`` opens the user; the one operator action that fits the finding
(``authcore.attention.ACTIONS``: revoke tokens after a refresh reuse, delete the session from a
new place, delete the sessions of a burst or of a disabled user) is offered under its registry
key and runs through the same dry run, dialog and commit as on the user screen
(``console.screens.actionflow``). ``w`` changes the window. Signals that could not run (no
GeoIP database) or had more findings than shown say so under the table. Authcore decides;
this screen only renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from authcore.attention import ACTIONS as FITS
from authcore.attention import TITLES, Finding, Signal
from authcore.timeutil import humanize_delta
from console.actions import ACTIONS
from console.navigation import bindings
from console.safe import safe, safe_join, safe_lines
from console.screens.actionflow import ActionFlow
from console.screens.base import PaletteCommand
from console.widgets import cells
from console.widgets.header import ConsoleHeader
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from authcore.attention import AttentionReport

COLUMNS = [
    Col("signal", "signal", 14),
    Col("user", "user", 16, 2, floor=8),
    Col("when", "last", 8),
    Col("n", "n", 3),
    Col("why", "why", 10, 3, optional=True),
]
#: ``w`` cycles through these windows.
WINDOWS = (timedelta(hours=1), timedelta(hours=24), timedelta(days=7), timedelta(days=30))
LABELS = {
    Signal.REFRESH_REUSE: Text("⚠ token reuse", style="bold red"),
    Signal.NEW_PLACE: Text("new place", style="bold yellow"),
    Signal.SESSION_BURST: Text("session burst", style="bold yellow"),
    Signal.DISABLED_SESSIONS: Text("disabled+live", style="bold"),
}
#: The registry entries a finding can offer, in key order.
OFFERED = tuple(dict.fromkeys(FITS.values()))


@dataclass
class AttentionLoaded(Message):
    """The report for window ``since``."""

    since: timedelta
    report: AttentionReport


def row(f: Finding, now: datetime) -> list[Text]:
    return [
        LABELS[f.signal].copy(),
        safe(f.email),
        cells.rel(f.at, now),
        cells.number(f.count),
        safe(f.why),
    ]


class AttentionScreen(ActionFlow):
    TITLE = "Needs attention"
    KIND = "attention"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(ACTIONS[k].key, k, ACTIONS[k].short, tooltip=ACTIONS[k].title) for k in OFFERED),
        Binding("w", "window", "Window"),
        *bindings("users", "sessions"),
    ]

    def __init__(self, since: timedelta | None = None) -> None:
        super().__init__()
        self.since = since or WINDOWS[1]
        self._findings: dict[str, Finding] = {}

    def title_text(self) -> str:
        return f"Needs attention · last {humanize_delta(self.since)}"

    def compose_body(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="attention")
        yield Static(id="finding", markup=False)
        yield Static(id="result", markup=False)
        yield Static(id="signals", markup=False)

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one(KeyedTable).focus()
        self.reload()

    def reload(self) -> None:
        self._load(self.since)

    @work(thread=True, exclusive=True, group="attention", exit_on_error=False)
    def _load(self, since: timedelta) -> None:
        report = self.core.attention(since)
        if not cancelled():
            self.post_message(AttentionLoaded(since, report))

    def on_attention_loaded(self, message: AttentionLoaded) -> None:
        if message.since != self.since:
            return
        report, now = message.report, self.capp.clock()
        self._findings = {f.key: f for f in report.findings}
        table = self.query_one(KeyedTable)
        table.sync([(f.key, row(f, now)) for f in report.findings])
        notes = [
            safe(f"{TITLES[s.signal]}: not checked: {s.note}", max_len=300, style="dim")
            if not s.available
            else safe(f"{TITLES[s.signal]}: more than shown (narrow the window, w)", style="dim")
            for s in report.signals
            if not s.available or s.truncated
        ]
        self.query_one("#signals", Static).update(safe_lines(notes))
        self._show(table.highlighted_key)
        n = len(report.findings)
        self.say(
            Text(
                f"{n} finding{'s' if n != 1 else ''} in the last {humanize_delta(self.since)}"
                + (" · enter opens the user · the fitting action's key runs it" if n else ""),
                style="dim",
            )
        )

    @on(KeyedTable.RowHighlighted, "#attention")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show(event_key(event))

    def highlighted(self) -> Finding | None:
        return self._findings.get(self.query_one(KeyedTable).highlighted_key or "")

    def _show(self, key: str | None) -> None:
        f = self._findings.get(key or "")
        pane = self.query_one("#finding", Static)
        self.refresh_bindings()  # the offered action follows the highlighted finding
        if f is None:
            pane.update(Text("nothing needs attention" if not self._findings else "", style="dim"))
            return
        spec = ACTIONS[f.action]
        line1 = safe_join(
            Text(f"{TITLES[f.signal]}: ", style="bold"),
            safe(f.email, style="bold"),
            Text(f" (#{f.user_id})"),
            *((Text(" · "), cells.ident(f.session_id)) if f.session_id else ()),
            Text(" · last "),
            cells.stamp(f.at),
            Text(" UTC"),
        )
        offer = "" if self.capp.read_only else f"{spec.key}: {spec.title} · "
        line2 = safe(f.why, max_len=400, style="italic")
        line3 = Text(f"{offer}enter: open the user", style="dim")
        pane.update(safe_lines([line1, line2, line3]))

    @on(KeyedTable.RowSelected, "#attention")
    def _selected(self, event: KeyedTable.RowSelected) -> None:
        f = self._findings.get(event_key(event) or "")
        if f is not None:
            self.capp.open_user(f.user_id)

    def current_id(self) -> str | None:
        f = self.highlighted()
        return None if f is None else str(f.user_id)

    # -- the window ----------------------------------------------------------------------------
    def action_window(self) -> None:
        i = WINDOWS.index(self.since) if self.since in WINDOWS else 0
        self.reopen(since=WINDOWS[(i + 1) % len(WINDOWS)])

    def reopen(self, since: timedelta | None = None) -> None:  # type: ignore[override]  # its own args (base.reopen)
        if since is not None and since != self.since:
            self.since = since
            self.query_one(ConsoleHeader).set_title(self.title_text())
            self.say(f"loading the last {humanize_delta(since)}…", "dim")
        self.reload()
        self.query_one(KeyedTable).focus()

    # -- the action that fits the highlighted finding -----------------------------------------
    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool:
        if action in OFFERED:
            f = self.highlighted()
            if f is None or f.action != action:
                return False
        return super().allowed(action, parameters)

    def act(self, kind: str) -> None:
        f = self.highlighted()
        if f is None or f.action != kind:
            return
        self.start_action(kind, f.user_id, f.session_id)

    def report(self, text: Text | str, style: str = "") -> None:
        """Results go to the line under the finding (a toast would cover the next dialog)."""
        line = text if isinstance(text, Text) else safe(text, max_len=400, style=style)
        result = self.query_one("#result", Static)
        result.update(Text(line.plain, style=style or line.style, spans=line.spans))
        result.display = True
        self.say(line if not style else safe(line.plain, max_len=400, style=style))

    def palette_commands(self) -> list[PaletteCommand]:
        own = [
            PaletteCommand(self, f"{ACTIONS[k].title} ({ACTIONS[k].key})", k, (), ACTIONS[k].help)
            for k in OFFERED
        ]
        own.append(
            PaletteCommand(self, "Attention: change the window (w)", "window", (), "1 h, 24 h, 7 d, 30 d")
        )
        return own + super().palette_commands()


def _action_method(kind: str) -> Callable[[AttentionScreen], None]:
    def action(self: AttentionScreen) -> None:
        self.act(kind)

    action.__name__ = f"action_{kind}"
    action.__doc__ = ACTIONS[kind].help
    return action


for _kind in OFFERED:  # Textual runs a binding's action as ``action_<name>``
    setattr(AttentionScreen, f"action_{_kind}", _action_method(_kind))
