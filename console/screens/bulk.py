"""Bulk revoke: the command line's ``revoke --query TEXT --all-tokens`` as a screen.

Type a query (at least three characters; literal, case-insensitive, in email or username): the
screen shows how many users it matches now and the first of them, by id, the order the run walks.
``R`` opens the typed confirmation (``BulkConfirmScreen``, Cancel focused): the count must be
typed as shown (a wrong count does nothing, k9s-style) and a reason is required. The run is
``core.bulk.run``, the command line's code (``authcore.bulk.BulkRevoker``): resumable batches,
one audit event per user and a summary event. It runs in an exclusive thread worker posting
``BulkProgress`` after each committed batch; the screen shows a progress bar and stays usable.

Leaving while a run is going is a question, never a silent abort (``StopScreen``, "Keep running"
focused): stopping means after the current batch, and the run stays resumable. Quitting the app
(ctrl+q) cancels the worker, which stops after the current batch the same way. An interrupted
run (stopped, or its process killed) is listed under "Interrupted runs"; ``enter`` on it resumes
it with its own query and reason, exactly as ``authconsole revoke --query`` would.

Who may do it is authcore's decision: before the dialog opens the screen asks the core's guard
(``AuthCore.require_write`` with the number of users: read-only mode, the viewer role, bulk needs
admin), and ``BulkRevoker.run`` asks it again; the screen only shows the refusal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, ProgressBar, Static

from authcore.errors import AuthCoreError, DatabaseUnavailable, PermissionDenied, ReadOnlyError
from console.navigation import bindings
from console.safe import safe, safe_join
from console.screens.base import ClosesOnce, ConsoleScreen, PaletteCommand
from console.widgets import cells
from console.widgets.search import SearchBox
from console.widgets.table import Col, KeyedTable, event_key
from console.workers import cancelled, describe

if TYPE_CHECKING:  # pragma: no cover
    from authcore.bulk import BulkPlan, BulkPreview, BulkReport, BulkRunInfo

#: How many matching users the screen shows (the count is always the whole set).
PREVIEW_ROWS = 20
#: The Textual action of ``R``: in ``console.actions.MUTATING``, so read-only mode hides it.
ACTION = "bulk_revoke"

MATCH_COLUMNS = [
    Col("id", "id", 6),
    Col("email", "email", 22, 4, floor=8),
    Col("username", "username", 10, 2, floor=6),
    Col("tv", "ver", 3),
]
RUN_COLUMNS = [
    Col("run", "run", 21),
    Col("query", "query", 12, 2, floor=6),
    Col("done", "done", 11),
    Col("reason", "reason", 12, 3, floor=6),
    Col("actor", "by", 8, 1, floor=4, optional=True),
]


# -- messages (posted by this screen's thread workers) ----------------------------------------
@dataclass
class BulkPreviewReady(Message):
    query: str
    preview: BulkPreview | None
    problem: str = ""  # authcore refused the query (too short, not plain text...)


@dataclass
class BulkRunsReady(Message):
    runs: list[BulkRunInfo]


@dataclass
class BulkReady(Message):
    """authcore's guard let it through: the confirmation can open."""

    query: str
    expected: int  # the count the operator must type
    run: BulkRunInfo | None = None  # resuming this run
    plan: BulkPlan | None = None  # the resume's plan (the claim compares it)


@dataclass
class BulkRefused(Message):
    text: str


@dataclass
class BulkProgress(Message):
    done: int
    total: int


@dataclass
class BulkFinished(Message):
    report: BulkReport | None
    done: int = 0
    stopped: bool = False
    problem: str = ""


class BulkStopped(Exception):
    """Raised from the run's batch callback to stop after a committed batch (resumable)."""

    def __init__(self, done: int) -> None:
        super().__init__(f"stopped after {done} users")
        self.done = done


def run_row(r: BulkRunInfo) -> list[Text]:
    return [
        cells.ident(r.id),
        safe(r.query, max_len=120),
        Text(f"{r.done_count:,}/{r.expected_count:,}"),
        safe(r.reason, max_len=200),
        safe(r.actor, max_len=80),
    ]


class BulkScreen(ConsoleScreen):
    TITLE = "Bulk revoke"
    KIND = "bulk"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", ACTION, "Revoke all matching"),
        *bindings("users", "audit"),
    ]
    DEFAULT_CSS = """
    BulkScreen #bulk-help { color: $text-muted; width: 100%; height: auto; }  /* wraps at 60 columns */
    BulkScreen #bulk-count { height: auto; }
    BulkScreen #bulk-rows { height: 1fr; min-height: 3; }
    BulkScreen #bulk-runs-label { height: 1; margin-top: 1; }
    BulkScreen #bulk-runs { height: auto; max-height: 6; }
    BulkScreen #bulk-progress { display: none; height: 1; }
    BulkScreen #bulk-result { display: none; height: auto; }
    """
    #: Users per transaction, as ``revoke --batch`` (tests make it small to see progress).
    batch_size: ClassVar[int] = 1000

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self._initial = query
        self._query = ""  # the query the shown preview answers
        self._preview: BulkPreview | None = None
        self._runs: dict[str, BulkRunInfo] = {}
        self._stop = threading.Event()
        self.running = False

    def compose_body(self) -> ComposeResult:
        yield Label(
            Text("Revoke every refresh token of each user whose email or username contains:"),
            id="bulk-help",
        )
        yield SearchBox("query: 3+ characters, literal (e.g. @corp-old.example)", id="bulk-query")
        yield Static(id="bulk-count", markup=False)
        yield KeyedTable(MATCH_COLUMNS, id="bulk-rows")
        yield ProgressBar(show_eta=False, id="bulk-progress")
        yield Static(id="bulk-result", markup=False)
        yield Label(Text("Interrupted runs (enter resumes)", style="bold"), id="bulk-runs-label")
        yield KeyedTable(RUN_COLUMNS, id="bulk-runs")

    def on_mount(self) -> None:
        if self.gone:
            return
        box = self.query_one("#bulk-query", SearchBox)
        if self._initial:  # from the users search: the query is typed, R is one key away
            box.value = self._initial  # its Changed event asks for the preview
            self.query_one("#bulk-rows", KeyedTable).focus()
        else:
            box.focus()
            self._show_count(Text("type a query to see who it matches", style="dim"))
        self._load_runs()

    # -- the query and its preview -------------------------------------------------------------
    def filter_widget(self) -> Input:
        return self.query_one("#bulk-query", SearchBox)

    def reopen(self, query: str | None = None, **args: object) -> None:
        """``b`` (or the users search's palette entry) again: take the new query, unless a run
        is going (its query stays on screen)."""
        box = self.filter_widget()
        if query and not self.running:
            box.value = query
            self.query_one("#bulk-rows", KeyedTable).focus()
        else:
            box.focus()

    @on(Input.Changed, "#bulk-query")
    def _typed(self) -> None:
        self._preview = None  # R waits for the answer to what is typed now
        self.debounce(self.capp.search_debounce, self.reload)

    def reload(self) -> None:
        query = self.filter_widget().value
        self._load_runs()
        if not query.strip():
            self._query = ""
            self._preview = None
            self.query_one("#bulk-rows", KeyedTable).sync([])
            self._show_count(Text("type a query to see who it matches", style="dim"))
            return
        self._load_preview(query)

    @work(thread=True, exclusive=True, group="bulk", exit_on_error=False)
    def _load_preview(self, query: str) -> None:
        from authcore.errors import ValidationError

        try:
            preview = self.core.bulk.preview(query, PREVIEW_ROWS)
        except ValidationError as exc:
            if not cancelled():
                self.post_message(BulkPreviewReady(query, None, str(exc)))
            return
        if not cancelled():
            self.post_message(BulkPreviewReady(query, preview))

    def on_bulk_preview_ready(self, message: BulkPreviewReady) -> None:
        if message.query != self.filter_widget().value:
            return  # an answer to an older question
        self._query = message.query
        self._preview = message.preview
        table = self.query_one("#bulk-rows", KeyedTable)
        if message.preview is None:
            table.sync([])
            self._show_count(safe(message.problem, max_len=300, style="yellow"))
            return
        p = message.preview
        table.sync(
            [
                (
                    str(m.id),
                    [cells.number(m.id), safe(m.email), safe(m.username), cells.number(m.token_version)],
                )
                for m in p.first
            ],
            top=True,
        )
        head = safe_join(
            Text(f"{p.matching:,} user{'s' if p.matching != 1 else ''} match ", style="bold"),
            (repr(p.query), "bold"),
        )
        if p.matching > len(p.first):
            head.append(f" · the first {len(p.first)} by id below", style="dim")
        if p.matching and not self.capp.read_only:
            head.append(
                " · enter, then R revokes them all" if self.typing() else " · R revokes them all", style="dim"
            )
        self._show_count(head)

    def _show_count(self, text: Text) -> None:
        self.query_one("#bulk-count", Static).update(text)

    # -- interrupted runs ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="bulk-runs", exit_on_error=False)
    def _load_runs(self) -> None:
        runs = self.core.bulk.unfinished()
        if not cancelled():
            self.post_message(BulkRunsReady(runs))

    def on_bulk_runs_ready(self, message: BulkRunsReady) -> None:
        self._runs = {r.id: r for r in message.runs}
        self.query_one("#bulk-runs", KeyedTable).sync([(r.id, run_row(r)) for r in message.runs])
        n = len(message.runs)
        label = Text("Interrupted runs", style="bold")
        label.append(f"  {n}" + (" · enter resumes the highlighted one" if n else " · none"), style="dim")
        self.query_one("#bulk-runs-label", Label).update(label)

    @on(KeyedTable.RowSelected, "#bulk-runs")
    def _run_selected(self, event: KeyedTable.RowSelected) -> None:
        run = self._runs.get(event_key(event) or "")
        if run is not None:
            self._start_prepare(run.query, run)

    # -- R: guard, confirm, run ----------------------------------------------------------------
    def palette_commands(self) -> list[PaletteCommand]:
        own = [
            PaletteCommand(
                self, "Revoke every user matching the query (R)", ACTION, (), "typed count, then a reason"
            ),
            PaletteCommand(
                self, "Resume the highlighted interrupted run", "bulk_resume", (), "enter on the runs table"
            ),
        ]
        return own + super().palette_commands()

    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool:
        if action == "bulk_resume" and (self.capp.read_only or not self._runs):
            return False
        return super().allowed(action, parameters)

    def action_bulk_revoke(self) -> None:
        p = self._preview
        if p is None or p.query != self.filter_widget().value:
            self.report("type a query and wait for its count first; nothing was done", "yellow")
            return
        if p.matching == 0:
            self.report("no user matches this query; nothing to revoke", "yellow")
            return
        self._start_prepare(p.query, None)

    def action_bulk_resume(self) -> None:
        run = self._runs.get(self.query_one("#bulk-runs", KeyedTable).highlighted_key or "")
        if run is None:
            self.report("no interrupted run highlighted", "yellow")
            return
        self._start_prepare(run.query, run)

    def _start_prepare(self, query: str, run: BulkRunInfo | None) -> None:
        if self.running:
            self.report("a bulk run is going: wait for it (or esc to stop it)", "yellow")
            return
        if self.capp.outage is not None:
            self.report("cannot run, the database is unavailable; nothing was sent", "bold red")
            return
        self.say("asking authcore…", "dim")
        self._prepare(query, run)

    @work(thread=True, exclusive=True, group="bulk-plan", exit_on_error=False)
    def _prepare(self, query: str, run: BulkRunInfo | None) -> None:
        """authcore's guard first (``require_write`` with the number of users: read-only mode,
        the viewer role, bulk needs admin); the dialog opens only if it lets the run through."""
        try:
            if run is None:
                n = self.core.bulk.preview(query, 0).matching
                self.core.require_write(max(n, 1))
                message: Message = BulkReady(query, n)
            else:
                plan = self.core.bulk.plan(run.query, run.reason)
                if plan.run_id != run.id:
                    message = BulkRefused(f"run {run.id} finished or moved meanwhile; nothing was changed")
                else:
                    self.core.require_write(max(plan.matching, 1))
                    message = BulkReady(run.query, plan.matching, run, plan)
        except (ReadOnlyError, PermissionDenied) as exc:
            message = BulkRefused(describe(exc).message + " (the screen shows authcore's answer)")
        if not cancelled():
            self.post_message(message)

    def on_bulk_refused(self, message: BulkRefused) -> None:
        self.report(message.text, "bold red")

    def on_bulk_ready(self, message: BulkReady) -> None:
        if self.running or self.app.screen is not self:  # the operator moved on meanwhile
            self.report("bulk revoke: the dialog did not open (you moved on); nothing was changed", "yellow")
            return
        run = message.run
        if run is None:
            title = f"Revoke {message.expected:,} users"
            summary = (
                f"{message.expected:,} users match {message.query!r}: token_version +1 each, so every "
                "refresh token of theirs stops now; one audit event per user, in resumable batches."
            )
        else:
            title = f"Resume run {run.id}"
            summary = (
                f"Resume run {run.id} of {run.query!r} (reason {run.reason!r}, by {run.actor}): "
                f"{run.done_count:,} already done, {message.expected:,} left to bump."
            )

        def done(reason: str | None) -> None:
            if reason is None:
                self.say("bulk revoke: cancelled, nothing changed", "dim")
                return
            self._begin(message, reason, dialog.count)

        dialog = BulkConfirmScreen(
            title,
            summary,
            expected=message.expected,
            actor=self.core.actor,
            reason=run.reason if run is not None else None,
        )
        self.say("bulk revoke: answer in the dialog", "dim")
        self.app.push_screen(dialog, done)

    def _begin(self, ready: BulkReady, reason: str, count: int) -> None:
        self.running = True
        self._stop.clear()
        bar = self.query_one("#bulk-progress", ProgressBar)
        bar.update(total=max(ready.expected, 1), progress=0)
        bar.display = True
        self.report(f"revoking {ready.expected:,} users… (esc asks before leaving)", "bold")
        self.refresh_bindings()
        self._run(ready.query, reason, count, ready.plan)

    @work(thread=True, exclusive=True, group="bulk-run", exit_on_error=False)
    def _run(self, query: str, reason: str, count: int, plan: BulkPlan | None) -> None:
        """The command line's run: ``core.bulk.run``. Stops after a committed batch when asked
        (``StopScreen``) or when the worker is cancelled (the app quits): resumable either way."""
        done = 0

        def progress(bumped: int, total: int) -> None:
            nonlocal done
            done = bumped
            self.post_message(BulkProgress(bumped, total))
            if self._stop.is_set() or cancelled():
                raise BulkStopped(bumped)

        try:
            if plan is None:  # a new run: one of this query and reason left unfinished resumes from the list
                plan = self.core.bulk.plan(query, reason)
                if plan.run_id is not None:
                    self.post_message(
                        BulkFinished(
                            None,
                            problem=f"not done: run {plan.run_id} of this query with this reason is "
                            "unfinished; resume it from the list (nothing was changed)",
                        )
                    )
                    return
            report = self.core.bulk.run(
                query, reason, confirm_count=count, batch=self.batch_size, on_batch=progress, plan=plan
            )
        except BulkStopped as stop:
            self.post_message(BulkFinished(None, stop.done, stopped=True))
            return
        except AuthCoreError as exc:
            problem = describe(exc, writing=True).message
            if done:
                problem += (
                    f" after {done:,} users; the batches before it are committed: resume it from the list"
                )
            elif "nothing changed" not in problem and "nothing was changed" not in problem:
                problem += " (nothing was changed)"
            if isinstance(exc, DatabaseUnavailable):
                self.app.call_from_thread(self.capp.set_outage, str(exc))
            self.post_message(BulkFinished(None, done, problem=problem))
            return
        self.post_message(BulkFinished(report, report.bumped))

    def on_bulk_progress(self, message: BulkProgress) -> None:
        bar = self.query_one("#bulk-progress", ProgressBar)
        bar.update(total=max(message.total, 1), progress=message.done)
        self.say(f"bumped {message.done:,}/{message.total:,} · esc asks before leaving", "dim")

    def on_bulk_finished(self, message: BulkFinished) -> None:
        self.running = False
        self.refresh_bindings()
        rep = message.report
        if rep is not None:
            text = f"done: bumped {rep.bumped:,} users in run {rep.run_id}" + (
                f" (resumed; {rep.total_done:,} in the whole run)" if rep.resumed else ""
            )
            self.report(text, "bold green")
        elif message.stopped:
            self.report(
                f"stopped after {message.done:,} users (committed); "
                "the run is listed below: enter resumes it",
                "bold yellow",
            )
        else:
            self.report(message.problem or "not done", "bold red")
        self.reload()

    def report(self, text: Text | str, style: str = "") -> None:
        """Outcomes go to the result line under the table (and the status line)."""
        line = text if isinstance(text, Text) else safe(text, max_len=400, style=style)
        result = self.query_one("#bulk-result", Static)
        result.update(line)
        result.display = True
        self.say(line)

    # -- leaving while a run is going -------------------------------------------------------
    def _asked(self) -> bool:
        """While a run is going, leaving is a question: keep running (focused) or stop after
        the current batch. Returns True when it asked (the caller does nothing more)."""
        if not self.running:
            return False

        def answered(stop: bool | None) -> None:
            if stop and self.running:  # (it may have finished while the question was open)
                self._stop.set()
                self.say("stopping after the current batch…", "bold yellow")

        self.app.push_screen(StopScreen(), answered)
        return True

    def action_back(self) -> None:
        if not self._asked():
            super().action_back()

    def action_close(self) -> None:
        if not self._asked():
            super().action_close()

    def action_goto(self, kind: str) -> None:
        if not self._asked():
            super().action_goto(kind)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == ACTION and self.running:
            return None  # shown disabled while a run is going
        return super().check_action(action, parameters)

    def current_id(self) -> str | None:
        focused = self.focused
        if isinstance(focused, KeyedTable):
            return focused.highlighted_key
        return None

    @on(Input.Submitted, "#bulk-query")
    def _submitted(self) -> None:
        self.to_results()


class BulkConfirmScreen(ClosesOnce, ModalScreen[str | None]):
    """The typed confirmation: the count as shown, then a reason. Returns the reason (the typed
    count is ``count``), ``None`` on cancel.

    Cancel has the focus. On a button, digits go to the count box and letters to the reason box
    (there is no one-key yes: the count is the answer). A count that is not the one shown does
    nothing but say so; an empty reason likewise. The run itself checks the count again against
    the users the query matches then (``BulkRevoker.run``)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    BulkConfirmScreen { align: center middle; background: $background 60%; }
    BulkConfirmScreen #bulk-dialog { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $error; background: $surface; padding: 0 1; }
    BulkConfirmScreen Input { background: $boost; }
    BulkConfirmScreen Input:focus { background: $primary 25%; }
    BulkConfirmScreen #bulk-problem { display: none; height: auto; }
    BulkConfirmScreen #bulk-buttons { height: 1; align-horizontal: right; margin: 1 0 0 0; }
    BulkConfirmScreen #bulk-buttons Button { margin-left: 2; }
    BulkConfirmScreen #bulk-buttons Button:focus { text-style: bold reverse; }
    """

    def __init__(self, title: str, summary: str, *, expected: int, actor: str, reason: str | None) -> None:
        super().__init__()
        self.title_text = title
        self.summary = summary
        self.expected = expected
        self.actor = actor
        self.fixed_reason = reason  # resuming: the run's own reason (it is part of its identity)
        self.count = -1

    def compose(self) -> ComposeResult:
        with Vertical(id="bulk-dialog"):
            yield Label(Text(self.title_text + "?", style="bold red"), id="bulk-title")
            yield Static(safe(self.summary, max_len=800, wrap=True), id="bulk-summary", markup=False)
            yield Label(
                Text(f"Type the number of users, {self.expected}, to confirm:"), id="bulk-count-label"
            )
            count = Input(
                placeholder=str(self.expected),
                id="bulk-count-input",
                restrict=r"[0-9,]*",
                max_length=16,
                compact=True,
                select_on_focus=False,
            )
            count.cursor_blink = False
            yield count
            yield Label(Text.assemble("Reason, audited as ", safe(self.actor, max_len=60, style="bold"), ":"))
            reason = Input(
                value=self.fixed_reason or "",
                placeholder="required: why? e.g. ticket SEC-123, domain sold",
                id="bulk-reason",
                max_length=1000,
                compact=True,
                select_on_focus=False,
                disabled=self.fixed_reason is not None,
            )
            reason.cursor_blink = False
            yield reason
            yield Static(id="bulk-problem", markup=False)
            with Horizontal(id="bulk-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self.title_text, id="bulk-confirm", variant="error", compact=True)
            yield Label(
                Text(
                    "digits: count · letters: reason · enter: next · esc: cancel",
                    style="dim",
                ),
                id="bulk-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.app.clear_notifications()
        self.query_one("#cancel", Button).focus()

    def on_key(self, event: events.Key) -> None:
        """On a button, a digit starts the count and a letter the reason (the focus moves)."""
        if isinstance(self.focused, Input) or not (event.is_printable and event.character):
            return
        ch = event.character
        target = "#bulk-count-input" if ch in "0123456789," else "#bulk-reason"
        box = self.query_one(target, Input)
        if box.disabled:
            return
        event.stop()
        event.prevent_default()
        box.focus()
        box.insert_text_at_cursor(ch)

    def _problem(self, text: str, focus: str) -> None:
        problem = self.query_one("#bulk-problem", Static)
        problem.update(Text(text, style="bold red"))
        problem.display = True
        self.query_one(focus, Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        typed = self.query_one("#bulk-count-input", Input).value.replace(",", "").strip()
        if not typed.isdigit() or int(typed) != self.expected:
            shown = f"{typed!r} is not {self.expected}" if typed else "no count typed"
            self._problem(
                f"Type {self.expected} to confirm ({shown}); nothing was done.", "#bulk-count-input"
            )
            return
        reason = self.query_one("#bulk-reason", Input).value.strip()
        if not reason:
            self._problem("A reason is required: type it, then press enter.", "#bulk-reason")
            return
        self.count = int(typed)
        self.dismiss(reason)

    @on(Input.Submitted, "#bulk-count-input")
    def _count_submitted(self) -> None:
        reason = self.query_one("#bulk-reason", Input)
        if not reason.value.strip() and not reason.disabled:
            reason.focus()
        else:
            self.action_confirm()

    @on(Input.Submitted, "#bulk-reason")
    def _reason_submitted(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#bulk-confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()


class StopScreen(ClosesOnce, ModalScreen[bool]):
    """Leaving while a run is going: keep running (focused; esc too) or stop after the current
    batch (committed batches stay; the run is resumable from this screen or the command line)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "keep", "Keep running")]
    DEFAULT_CSS = """
    StopScreen { align: center middle; background: $background 60%; }
    StopScreen #stop-dialog { width: 64; max-width: 100%; height: auto; border: thick $warning;
        background: $surface; padding: 0 1; }
    StopScreen #stop-buttons { height: 1; align-horizontal: right; margin: 1 0 0 0; }
    StopScreen #stop-buttons Button { margin-left: 2; }
    StopScreen #stop-buttons Button:focus { text-style: bold reverse; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="stop-dialog"):
            yield Label(Text("A bulk revoke is running", style="bold"))
            yield Static(
                Text(
                    "Stop it after the current batch? What is committed stays; the run is listed "
                    "as interrupted and resumes here or with the same `authconsole revoke --query`.",
                ),
                markup=False,
            )
            with Horizontal(id="stop-buttons"):
                yield Button("Keep running", id="keep", compact=True)
                yield Button("Stop after this batch", id="stop", variant="warning", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def action_keep(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#keep")
    def _keep(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#stop")
    def _stop(self) -> None:
        self.dismiss(True)
