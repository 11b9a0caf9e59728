"""``ConsoleScreen``: header, outage banner, body and footer, plus the keys every screen shares.

Printable keys are never ``priority``: a focused text box always gets them first, so typing
``q``, ``y``, ``/`` or ``?`` in a search box types. ``esc`` in a text box moves to the screen's
results (``results_widget``), elsewhere it goes back; it never quits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, TextArea
from textual.worker import Worker, WorkerState

from console.actions import MUTATING
from console.navigation import SCREENS, bindings
from console.widgets.header import ConsoleHeader, OutageBanner, StatusLine
from console.widgets.search import SearchBox
from console.widgets.table import KeyedTable

if TYPE_CHECKING:  # pragma: no cover
    from textual.worker import WorkType

    from authcore.core import AuthCore
    from console.app import AuthConsoleApp


#: Longer descriptions for the help screen (the footer keeps the short ones).
KEY_HELP = {
    **{s.action: s.help for s in SCREENS.values()},
    "copy_id": "Copy the highlighted id (also shown on screen)",
    "reload": "Refresh (and retry after an error)",
    "focus_filter": "Search / filter box",
    "results": "From a text box: to the results (what is typed stays)",
}


#: The worker group of ``ConsoleScreen.debounce`` (no database work: never a read group).
DEBOUNCE_GROUP = "debounce"


async def _after(screen: ConsoleScreen, delay: float, callback: Callable[[], object]) -> None:
    await asyncio.sleep(delay)
    if not screen.gone:  # closed while waiting: its widgets may be removed already
        callback()


@dataclass(frozen=True)
class PaletteCommand:
    """One command palette entry: runs ``action(*params)`` on ``screen`` (check_action applies)."""

    screen: ConsoleScreen
    title: str
    action: str
    params: tuple[Any, ...] = ()
    help: str = ""

    async def run(self) -> None:
        args = ", ".join(repr(p) for p in self.params)
        await self.screen.run_action(f"{self.action}({args})" if self.params else self.action)


def done() -> AwaitComplete:
    """An already completed ``AwaitComplete``: a dismiss that closes nothing."""
    return AwaitComplete.nothing()  # type: ignore[no-untyped-call,no-any-return]  # Textual 8.2: unannotated


class ClosesOnce:
    """A screen whose ``dismiss`` only ever closes itself. Textual's ``dismiss`` pops whatever is
    on top, so a second ``enter`` already queued when the first one closed a screen (a burst over
    SSH) would close the screen under it too, or pop the last one (``ScreenStackError``)."""

    def dismiss(self, result: Any = None) -> AwaitComplete:
        # a mixin for Screen subclasses: mypy sees neither self.app nor Screen.dismiss from here
        if self.app.screen is not self:  # type: ignore[attr-defined]
            return done()
        return super().dismiss(result)  # type: ignore[misc,no-any-return]


class ConsoleScreen(ClosesOnce, Screen[None]):
    """Base of the console's full screens."""

    TITLE: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        # one key, two bindings: the first one enabled (check_action) runs and is the footer's
        Binding("escape", "results", "Results"),  # typing in a box of this screen
        Binding("escape", "back", "Back"),
        Binding("q", "close", "Back", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "focus_filter", "Search", show=False),
        Binding("r", "reload", "Refresh", show=False),
        Binding("y", "copy_id", "Copy id", show=False),
        *bindings(),  # u, s, a, t: one per registered screen (console.navigation)
    ]

    @property
    def capp(self) -> AuthConsoleApp:
        return cast("AuthConsoleApp", self.app)

    @property
    def core(self) -> AuthCore:
        return self.capp.core

    @property
    def gone(self) -> bool:
        """Closed already: a burst can pop a screen before it has mounted, and its children are
        removed while its Mount is still queued (found by the random walk)."""
        return self.app._exit or self not in self.app.screen_stack  # noqa: SLF001 - quitting; pinned (pyproject)

    @property
    def is_top(self) -> bool:
        return self.app.screen_stack[0] is self

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        app = self.capp
        yield ConsoleHeader(
            self.title_text(),
            url=app.db_url,
            actor=app.actor,
            role=app.role,
            read_only=app.read_only,
            replica=app.replica,
        )
        yield OutageBanner()
        yield from self.compose_body()
        yield StatusLine(id="status")
        yield Footer()

    def compose_body(self) -> ComposeResult:  # pragma: no cover - overridden
        yield from ()

    def title_text(self) -> str:
        return self.TITLE

    def on_screen_resume(self) -> None:
        self.sync_outage()

    def sync_outage(self) -> None:
        outage = self.capp.outage
        for banner in self.query(OutageBanner):
            banner.show(outage, self.capp.retry_interval)
        if outage is None:  # the banner went: so does a status line that spoke of the outage
            for line in self.query("#status").results(StatusLine):
                if line.about_outage:
                    line.say("database is back", "dim")

    def sync_identity(self) -> None:
        """The core is built: the header shows authcore's own view (URL, role, read-only), and
        the footer the keys that view allows."""
        app = self.capp
        for header in self.query(ConsoleHeader):
            header.set_identity(url=app.db_url, actor=app.actor, role=app.role, read_only=app.read_only)
        self.refresh_bindings()

    def sync_replica(self) -> None:
        """The read replica was polled: the header shows its state and lag."""
        for header in self.query(ConsoleHeader):
            header.set_replica(self.capp.replica)

    def say(self, text: Any, style: str = "", *, outage: bool = False) -> None:
        for line in self.query("#status").results(StatusLine):
            line.say(text, style, outage=outage)

    def report(self, text: Any, style: str = "") -> None:
        """The outcome of an action (done, refused, not done): where this screen shows it."""
        self.say(text, style)

    # -- data ------------------------------------------------------------------------------
    def reload(self) -> None:
        """Fetch everything this screen shows again (the retry after an error)."""

    def busy(self, group: str | None = None) -> bool:
        """A worker of this screen (in ``group``) is still waiting for the database (a pending
        debounce is not: it waits for the operator)."""
        return any(
            w.node is self
            and (w.group == group if group is not None else w.group != DEBOUNCE_GROUP)
            and not w.is_finished
            for w in self.app.workers
        )

    def debounce(self, delay: float, callback: Callable[[], object]) -> None:
        """Call ``callback`` once ``delay`` s pass without a newer call (typing paused).

        An exclusive async worker that sleeps, not ``set_timer``: Textual's one-shot timer reads
        its clock twice before sleeping and never fires when the reads are more than ``delay``
        apart (the main thread descheduled, a worker thread holding the GIL), which lost a
        typed search. ``asyncio.sleep`` always wakes, late at worst. The newer call cancels the
        older wait, so only the last keystroke calls; database work stays in the callback's own
        read worker (its group ends an outage, latest query wins)."""

        async def wait() -> None:
            await _after(self, delay, callback)

        self.run_worker(
            # a coroutine function, not a coroutine: a wait replaced before it started is then
            # never created (a coroutine object left unawaited warns at exit); the cast picks
            # the first form of Textual's WorkType union, which mypy cannot infer
            cast("WorkType[None]", wait),
            name="debounce",
            group=DEBOUNCE_GROUP,
            exclusive=True,
            exit_on_error=False,
        )

    def cancel_debounce(self) -> bool:
        """Drop the pending ``debounce`` call; True if one was pending."""
        pending = self.busy(DEBOUNCE_GROUP)
        self.workers.cancel_group(self, DEBOUNCE_GROUP)
        return pending

    def current_id(self) -> str | None:
        """The id under the cursor, for ``y``."""
        return None

    def filter_widget(self) -> Input | None:
        return None

    def results_widget(self) -> Widget | None:
        """Where ``esc`` and ``down`` from this screen's text box go: what the box searches or
        fills. By default the first table of a screen with a filter box; None: no such box, esc
        goes back."""
        if self.filter_widget() is None:
            return None
        return next(iter(self.query(KeyedTable)), None)

    def to_results(self) -> None:
        """Leave the text box for the results (``esc``, ``down``, ``enter`` in a filter)."""
        widget = self.results_widget()
        if widget is not None:
            self.set_focus(widget)

    @on(SearchBox.ToResults)
    def _box_to_results(self) -> None:
        self.to_results()

    # -- navigation (console.navigation decides; these apply its decision) -------------------
    # Subclasses name the arguments their registry entry (console.navigation) passes: their
    # narrower signatures are why they carry `type: ignore[override]`.
    def reopen(self, **args: Any) -> None:
        """Opened again while on the stack: show ``args`` (a filter, a token) if given."""

    def shows(self, **args: Any) -> bool:
        """Whether this screen already shows what ``args`` ask for (``replace`` screens)."""
        return True

    def palette_commands(self) -> list[PaletteCommand]:
        """Everything this screen can do, for ``ctrl+p`` (filtered by ``check_action``)."""
        c = partial(PaletteCommand, self)
        return [
            *(
                c(s.title, "goto", (s.kind,), f"{s.help} ({self.app.get_key_display(Binding(s.key, ''))})")
                for s in SCREENS.values()
                if s.key
            ),
            c("Refresh", "reload", (), "fetch this screen again; retries after an error (r)"),
            c("Copy highlighted id", "copy_id", (), "to the clipboard (OSC 52) and on screen (y)"),
            c("Back", "back", (), "to the previous screen (esc)"),
            c("Help: keys of this screen", "help", (), "(?)"),
        ]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The ONE place worker outcomes go: errors and outage recovery are the app's job."""
        if event.state == WorkerState.ERROR:
            self.capp.worker_failed(event.worker, self)
        elif event.state == WorkerState.SUCCESS:
            self.capp.worker_succeeded(event.worker)

    # -- keys ------------------------------------------------------------------------------
    def typing(self) -> bool:
        return isinstance(self.focused, Input | TextArea)

    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool:
        """Whether this screen offers ``action`` at all right now (focus aside): read-only mode
        removes the mutating actions from footer, help and palette alike."""
        if action in MUTATING and self.capp.read_only:
            return False  # authcore refuses them anyway
        if action == "back" and self.is_top:
            return False
        if action == "results" and self.results_widget() is None:
            return False
        if action == "focus_filter" and self.filter_widget() is None:
            return False
        return not (action == "goto" and parameters and parameters[0] == self.KIND)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.allowed(action, parameters):
            return False
        if action == "results":
            return self.typing()
        return not (action == "focus_filter" and self.typing())  # already there

    def action_results(self) -> None:
        self.to_results()

    def action_back(self) -> None:
        if not self.is_top:
            self.dismiss()

    def action_close(self) -> None:
        """``q``: back on a pushed screen, quit on the first one."""
        if self.is_top:
            self.app.exit(0)
        else:
            self.dismiss()

    def action_help(self) -> None:
        self.capp.show_help(self)

    def action_reload(self) -> None:
        self.say("refreshing…", "dim")
        self.reload()

    def action_copy_id(self) -> None:
        value = self.current_id()
        if value is None:
            self.capp.notify_safe("nothing to copy here", severity="warning")
            return
        self.capp.copy_value(value)

    def action_focus_filter(self) -> None:
        """``/``: focus the filter now, not after the keys already queued (``Widget.focus`` waits
        for them): a paste or a fast typist's ``/ali`` arrives in one read. Its letters, sent to
        the table before the focus moved, then come back to the app unhandled and type into the
        box (``AuthConsoleApp.on_event``), instead of running as keys (``a``: the audit log)."""
        widget = self.filter_widget()
        if widget is not None:
            self.set_focus(widget)

    def action_goto(self, kind: str) -> None:
        self.capp.goto(kind)
