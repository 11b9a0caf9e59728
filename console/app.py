"""The operator TUI. ``create_app(core, ...)`` builds it for ``run_tui`` and for tests alike.

The app owns what is shared: the ``AuthCore``, the clock used for relative times, the outage state
(banner on every screen plus a periodic retry that ends it by itself) and the one handler every
failed worker reaches (``worker_failed``). Screens own their data and their workers.

Start-up paints first: ``run_tui`` passes a ``Connect`` rather than a core, nothing here imports
SQLAlchemy, and the core is built in a thread worker after the first frame. Until it is there the
screens' database workers wait for it (``core``), and the start screen says "connecting".
"""

from __future__ import annotations

import gc
import os
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState, get_current_worker

from authcore.timeutil import utcnow
from console.connect import Connect
from console.messages import CoreReady, ReplicaChecked
from console.navigation import SCREENS, plan
from console.palette import ConsoleCommands, ConsolePalette
from console.propagation import PropagationProbe
from console.safe import notify_safe, safe_join
from console.screens.base import KEY_HELP, ConsoleScreen
from console.screens.help import HelpScreen
from console.screens.users import UsersScreen
from console.workers import READ_GROUPS, WRITE_GROUPS, describe

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore
    from authcore.reads import ReplicaStatus
    from console.cli import Ctx

THEME_ENV = "AUTHCONSOLE_THEME"
THEME_ALIASES = {"textual-ansi": "ansi-dark", "ansi": "ansi-dark"}
Clock = Callable[[], datetime]


class AuthConsoleApp(App[int]):
    """Users, sessions, revocation and audit, keyboard only, from 80x24 up."""

    CSS_PATH = "console.tcss"
    TITLE = "authconsole"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", show=False),
    ]

    def __init__(
        self,
        core: AuthCore | Connect,
        *,
        read_only: bool | None = None,
        clock: Clock = utcnow,
        search_debounce: float = 0.25,
        refresh_interval: float = 5.0,
        retry_interval: float = 5.0,
        page_size: int = 50,
        theme: str | None = None,
        action_patience: float = 5.0,
        replica_interval: float = 2.0,
        live_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self._connect = core if isinstance(core, Connect) else None
        self._core: AuthCore | None = None if isinstance(core, Connect) else core
        self._force_read_only = bool(read_only)
        self._core_ready = threading.Event()  # set once the core is built (or could not be)
        self.startup_error: BaseException | None = None  # why the core could not be built
        if self._core is not None:
            self._adopt(self._core)
        self.clock = clock
        self.search_debounce = search_debounce
        self.refresh_interval = refresh_interval
        self.retry_interval = retry_interval
        self.page_size = page_size
        self.outage: str | None = None
        self.outages = 0  # outages seen so far
        self.action_patience = action_patience
        self._retry_timer: Any = None
        self.replica_interval = replica_interval
        # live screens (the audit log) re-read at least this often; PostgreSQL wakes them at once
        self.live_interval = live_interval
        self.replica: ReplicaStatus | None = None  # the read replica's last poll (header)
        self._replica_timer: Any = None
        self._probe: PropagationProbe | None = None
        self.animation_level = "none"  # nothing to animate over a slow link
        # keys typed before the first screen has focused its search box (an operator types
        # right after the command, over ssh): held, then replayed in order (``typeahead_ready``)
        self._typeahead: list[events.Key] | None = []
        self._retyped: deque[events.Key] = deque(maxlen=16)  # keys handed to a box (``_retype``)
        if theme:
            self.theme = THEME_ALIASES.get(theme, theme)

    # -- the core ----------------------------------------------------------------------------
    @property
    def core(self) -> AuthCore:
        """The ``AuthCore``. While it is being built, a worker thread asking for it waits."""
        core = self._core
        if core is None:
            if threading.get_ident() == self._thread_id:
                raise RuntimeError("the console is still connecting")  # pragma: no cover
            try:
                worker: Worker[Any] | None = get_current_worker()
            except Exception:  # noqa: BLE001 - another thread of ours
                worker = None
            while not self._core_ready.wait(0.05):  # bounded: never outlive the app
                if (worker is not None and worker.is_cancelled) or self._closing or self._closed:
                    raise ConnectFailed("the console closed before it connected")
            core = self._core
            if core is None:
                raise ConnectFailed(str(self.startup_error or "the console could not start"))
        return core

    @property
    def connected(self) -> bool:
        return self._core is not None

    def _adopt(self, core: AuthCore) -> None:
        if self._force_read_only:
            core.read_only = True  # authcore refuses too, not just the UI
        self._core = core
        self._core_ready.set()

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _build_core(self, connect: Connect) -> None:
        try:
            core = connect.build()
        except BaseException:
            self._core_ready.set()  # waiting workers fail (ConnectFailed) instead of hanging
            raise
        self._adopt(core)
        self.post_message(CoreReady(core))

    def on_core_ready(self, message: CoreReady) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.sync_identity()
        self._watch_replica()
        if getattr(message.core, "role_note", ""):  # PostgreSQL: the database role won
            notify_safe(self, message.core.role_note, severity="warning")
        self.call_after_refresh(_settle_heap)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "connect" and event.state == WorkerState.ERROR:
            self.startup_error = event.worker.error
            self.exit(return_code=1)  # run_tui reports it in one line, as before the TUI started

    @property
    def probe(self) -> PropagationProbe:
        if self._probe is None:
            self._probe = PropagationProbe(self.core)
        return self._probe

    # -- state shared by the screens ---------------------------------------------------------
    @property
    def read_only(self) -> bool:
        if self._core is None and self._connect is not None:
            return self._connect.read_only or self._force_read_only
        return bool(self.core.read_only)

    @property
    def role(self) -> str:
        """The operator role; ``None`` in authcore means unrestricted (same rights as admin)."""
        if self._core is None and self._connect is not None:
            return self._connect.role
        return self.core.role or "admin"

    @property
    def actor(self) -> str:
        if self._core is None and self._connect is not None:
            return self._connect.actor
        return self.core.actor

    @property
    def located(self) -> bool:
        """Whether a GeoIP file is configured: the session tables show a location column (and
        leave it out, rather than show it empty, without one)."""
        if self._core is None and self._connect is not None:
            return self._connect.located
        from authcore.devices import configured

        return configured(self.core.config)

    @property
    def db_url(self) -> str:
        """The database URL with its password masked."""
        if self._core is None and self._connect is not None:
            return self._connect.url
        return self.core.url_masked

    def get_default_screen(self) -> Screen[Any]:
        return UsersScreen()

    # -- typeahead ---------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """A key that comes before the first screen has a focused widget would reach the bare
        screen: lost (``ali`` typed right after the command never reached the search) or, worse,
        a binding (``q`` quits). Until something has focus such keys are held; the first key
        after that, or ``typeahead_ready``, replays them first, in order. A key that comes back
        from a widget focused before a text box was goes to the box (``_retype``)."""
        if isinstance(event, events.Key) and event.is_forwarded and self._retype(event):
            return
        if self._typeahead is not None and isinstance(event, events.Key) and not event.is_forwarded:
            if self.focused is None:
                self._typeahead.append(event)
                return
            await self._replay_typeahead()
        await super().on_event(event)

    def _retype(self, event: events.Key) -> bool:
        """Hand ``event`` to the focused text box if the box types it; True if so.

        Textual queues each key for the widget that has focus when the app takes the key from
        its own queue, and the keys of one read (a paste, typing over a slow link) are all taken
        before the first is handled: ``/ali`` in one read all went to the results table. ``/``
        focused the filter, and ``a``, ``l``, ``i`` came back up here unhandled, to the bindings
        of whatever had focus by then: still the table (``Widget.focus`` waits), so ``a`` opened
        the audit log; or the box, whose bindings leave printable keys to it, so they were
        dropped (``10.7`` on the sessions screen). A text box stops every key it types, so a key
        it would type (``check_consume_key``) that comes back up was sent before the focus moved
        into it: it types, as it would have a moment later. A key is handed over once (a box
        that let one through would loop)."""
        box = self.focused
        if (
            box is None
            or not box.check_consume_key(event.key, event.character)
            or any(event is k for k in self._retyped)
        ):
            return False
        key = events.Key(event.key, event.character)
        self._retyped.append(key)
        box._forward_event(key)  # noqa: SLF001 - marked forwarded, as Textual sends keys; pinned (pyproject)
        return True

    def typeahead_ready(self) -> None:
        """The first screen has focused its widget (its ``on_mount``): replay what was typed
        before, unless a newer key does it first."""
        self.call_later(self._replay_typeahead)

    async def _replay_typeahead(self) -> None:
        held, self._typeahead = self._typeahead, None
        for key in held or ():
            await super().on_event(events.Key(key.key, key.character))

    def on_mount(self) -> None:
        self._retry_timer = self.set_interval(self.retry_interval, self._retry, pause=True)
        if self._connect is not None and self._core is None:
            self.call_after_refresh(self._build_core, self._connect)  # after the first frame
        else:
            self.call_after_refresh(_settle_heap)
            self._watch_replica()

    # -- the read replica's lag (header) ---------------------------------------------------------
    def _watch_replica(self) -> None:
        """With a read replica (``read_database_url``), poll its state and lag for the header."""
        core = self._core
        if core is None or not core.has_read_replica or self._replica_timer is not None:
            return
        self._replica_timer = self.set_interval(self.replica_interval, self._check_replica)
        self._check_replica()

    def _check_replica(self) -> None:
        """One poll at a time: a slow one is not cancelled by the next (it ends within its
        deadline), the next is skipped."""
        busy = any(w.group == "replica" and not w.is_finished for w in self.workers)
        if self._core is not None and not self._closing and not busy:
            self._replica_worker()

    @work(thread=True, group="replica", exit_on_error=False)
    def _replica_worker(self) -> None:
        from authcore.errors import AuthCoreError

        try:
            status = self.core.replica_status()
        except AuthCoreError:
            return  # the primary itself is away: the screens' reads show the outage banner
        if status is not None:
            self.post_message(ReplicaChecked(status))

    def on_replica_checked(self, message: ReplicaChecked) -> None:
        before, self.replica = self.replica, message.status
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.sync_replica()
        if message.status.warn and (before is None or not before.warn):
            self.notify_safe("read replica: ", message.status.summary(), severity="warning")
        elif before is not None and before.warn and not message.status.warn:
            self.notify_safe("read replica: ", message.status.summary())

    def on_unmount(self) -> None:
        if self._probe is not None:
            self._probe.close()

    # -- navigation ----------------------------------------------------------------------------
    def goto(self, kind: str, **args: Any) -> None:
        """Open the ``kind`` screen by the one rule of ``console.navigation``: at most one screen
        of a kind on the stack; one already there is gone back to (or replaced)."""
        if self._exit:  # q, then more letters in the same burst: the app is quitting
            return
        step = plan(self.screen_stack, kind, args)
        for _ in range(step.pop):
            self.pop_screen()
        if step.step == "push":
            self.push_screen(SCREENS[kind].load()(**args))
        elif step.step == "replace":
            self.switch_screen(SCREENS[kind].load()(**args))
        else:
            screen = self.screen
            assert isinstance(screen, ConsoleScreen)
            screen.reopen(**args)

    def open_user(self, user_id: int) -> None:
        self.goto("user", user_id=user_id)

    def action_command_palette(self) -> None:
        # Textual 8.2 types is_open(app: App[object]); App is invariant in its return type
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(ConsolePalette(id="--command-palette"))

    def show_help(self, screen: ConsoleScreen) -> None:
        """One help at a time: asked again (the palette's Help over an open help), it is gone
        back to rather than stacked (found by the random walk)."""
        if self._exit:
            return
        for open_help in self.screen_stack:
            if isinstance(open_help, HelpScreen):
                while self.screen is not open_help:
                    self.pop_screen()
                return
        self.push_screen(HelpScreen(screen.title_text(), help_rows(screen)))

    def action_help(self) -> None:
        screen = self.console_screen()
        if screen is not None and self.screen is screen:
            self.show_help(screen)

    def console_screen(self) -> ConsoleScreen | None:
        """The topmost full screen (under any modal)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ConsoleScreen):
                return screen
        return None

    # -- output --------------------------------------------------------------------------------
    def notify_safe(
        self,
        *parts: object,
        severity: SeverityLevel = "information",
        title: str = "",
        timeout: float | None = None,
    ) -> None:
        """A toast, except while a dialog is open: a toast never covers one. Then the line goes
        to the status line of the screen under the dialog."""
        if isinstance(self.screen, ModalScreen):
            screen = self.console_screen()
            if screen is not None:
                head = (f"{title}: ",) if title else ()
                screen.say(safe_join(*head, *parts), "bold red" if severity == "error" else "")
            return
        notify_safe(self, *parts, severity=severity, title=title, timeout=timeout)

    def copy_value(self, value: str) -> None:
        """Copy via OSC 52 and show the value too: some terminals ignore OSC 52."""
        self.copy_to_clipboard(value)
        self.notify_safe("copied: ", value, title="clipboard")

    # -- errors and outages --------------------------------------------------------------------
    def worker_failed(self, worker: Worker[Any], screen: ConsoleScreen) -> None:
        """The one error handler: a clear line, a retry key, never a traceback."""
        if isinstance(worker.error, ConnectFailed):
            return  # the app is ending with that error (on_worker_state_changed)
        writing = worker.group in WRITE_GROUPS
        problem = describe(worker.error, writing=writing)
        if problem.outage:
            first = self.outage is None
            self.set_outage(problem.message)
            if writing:
                screen.report(f"{problem.message} (nothing was changed)", "bold red")
            elif first:
                self.notify_safe("database unavailable; retrying by itself", severity="error")
            screen.say("database unavailable · r retries now", "bold red", outage=True)
            return
        if writing:
            screen.report(problem.message, "bold red")
            return
        self.notify_safe(problem.message, " · r retries", severity="error")
        screen.say(f"error: {problem.message} · r retries", "bold red")

    def worker_succeeded(self, worker: Worker[Any]) -> None:
        if self.outage is not None and worker.group in READ_GROUPS | WRITE_GROUPS:
            self.set_outage(None)
            self.notify_safe("database is back")

    def set_outage(self, message: str | None) -> None:
        if message is not None and self.outage is None:
            self.outages += 1  # an action prepared before this one began must not open later
        self.outage = message
        if self._retry_timer is not None:
            if message is None:
                self._retry_timer.pause()
            else:
                self._retry_timer.resume()
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                screen.sync_outage()

    def _retry(self) -> None:
        screen = self.console_screen()
        if self.outage is not None and screen is not None and not screen.busy():
            screen.reload()


class ConnectFailed(Exception):
    """A screen's worker asked for the core, and the core could not be built."""


_heap_settled = False


def _settle_heap() -> None:
    """Once per process, after start-up: move what is alive now (imported modules, the app, the
    core: all of it lives until exit) out of the collector's sight (``gc.freeze``). A full
    collection then walks only what the console allocated since, instead of stalling a
    keystroke for 50-100 ms walking SQLAlchemy's and Textual's ~100k objects."""
    global _heap_settled
    if not _heap_settled:
        _heap_settled = True
        gc.freeze()


TABLE_KEYS = [
    ("enter", "open the highlighted row"),
    ("up/down", "move in a table"),
    ("pgup/pgdn", "page up / down"),
    ("home/end", "first / last row (end loads more)"),
]
GLOBAL_KEYS = [
    ("tab", "next pane"),
    ("ctrl+p", "command palette: every action by name"),
    ("f1", "help (also from a text box)"),
    ("ctrl+q", "quit from anywhere"),
]


def help_rows(screen: ConsoleScreen) -> list[tuple[str, str]]:
    """Every key of ``screen`` (whatever has focus; minus what read-only mode removes), then
    the table keys and the keys that work everywhere."""
    app = screen.app
    bindings: dict[tuple[str, str], Binding] = {}
    for cls in reversed(type(screen).__mro__):
        if not (isinstance(cls, type) and issubclass(cls, ConsoleScreen)):
            continue  # Textual's own screen keys (focus, copy) are in GLOBAL_KEYS or beside
        for b in cls.__dict__.get("BINDINGS", []):
            binding = b if isinstance(b, Binding) else Binding(*b)
            for key in binding.key.split(","):
                bindings[(key.strip(), binding.action)] = binding
    rows: list[tuple[str, str]] = []
    for (key, _action), binding in bindings.items():
        if not binding.description:
            continue
        name, params = _parse_action(binding.action)
        if not screen.allowed(name, params):
            continue
        row = (
            app.get_key_display(Binding(key, binding.action)),
            binding.tooltip or KEY_HELP.get(binding.action, binding.description),
        )
        if row not in rows:
            rows.append(row)
    keys = {k for k, _d in rows}
    return rows + [(k, d) for k, d in TABLE_KEYS + GLOBAL_KEYS if k not in keys]


def _parse_action(action: str) -> tuple[str, tuple[object, ...]]:
    """``goto('audit')`` -> ``("goto", ("audit",))``."""
    from textual.actions import parse

    _ns, name, params = parse(action)
    return name, params


def create_app(
    core: AuthCore | Connect,
    *,
    read_only: bool | None = None,
    clock: Clock = utcnow,
    search_debounce: float = 0.25,
    refresh_interval: float = 5.0,
    retry_interval: float = 5.0,
    page_size: int = 50,
    theme: str | None = None,
    action_patience: float = 5.0,
    replica_interval: float = 2.0,
    live_interval: float = 1.0,
) -> AuthConsoleApp:
    """The console over ``core`` (or over the core ``Connect`` builds after the first frame).
    ``read_only=True`` also makes the core refuse changes. An action's dialog opens only if its
    dry run answers within ``action_patience`` seconds of the key (and no outage began)."""
    return AuthConsoleApp(
        core,
        read_only=read_only,
        clock=clock,
        search_debounce=search_debounce,
        refresh_interval=refresh_interval,
        retry_interval=retry_interval,
        page_size=page_size,
        theme=theme,
        action_patience=action_patience,
        replica_interval=replica_interval,
        live_interval=live_interval,
    )


def run_tui(ctx: Ctx) -> int:
    """``authconsole`` without a command: run the console until the operator quits. The core is
    built after the first frame; if it cannot be, its error is raised here once the terminal is
    restored, so ``main`` prints the same one line (and exit code) as any other command."""
    app = create_app(
        Connect.from_ctx(ctx),
        read_only=bool(ctx.args.read_only) or None,
        theme=os.environ.get(THEME_ENV) or None,
    )
    app.run()
    if app.startup_error is not None:
        raise app.startup_error
    return int(app.return_code or 0)
