"""The bulk revoke screen (console/screens/bulk.py), on both engines, driven with Pilot.

The whole flow from the users search (query -> count and first rows -> a wrong count refused ->
the right count -> progress -> done -> audit events), a run stopped from the screen and resumed
there and by the command line, a run whose process was killed resumed from the screen, and the
refusals of read-only mode and the viewer role, which authcore makes (shown calling authcore
directly too) and the screen only reflects.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Button, Input, ProgressBar

from authcore.config import Config
from authcore.core import AuthCore
from authcore.errors import PermissionDenied, ReadOnlyError, ValidationError
from authcore.models import audit_events, bulk_runs, users
from console.app import AuthConsoleApp
from console.cli import main
from console.screens.bulk import BulkConfirmScreen, BulkProgress, BulkScreen, StopScreen
from tests.support import ROOT
from tests.support.hostile import HOSTILE, assert_inert, seed_hostile
from tests.support.tui import column, footer_keys, make_app, seed, settle, text_of, type_text, walk_texts

QUERY = "@corp-gone.example"
REASON = "domain sold (SEC-77)"


def corp_users(core: AuthCore, n: int) -> list[int]:
    return [core.users.create(f"u{i:02d}{QUERY}", f"corp{i:02d}").id for i in range(n)]


def versions(core: AuthCore, ids: list[int]) -> list[int]:
    return [core.users.get(i).token_version for i in ids]


def count_events(core: AuthCore, action: str, reason: str = REASON) -> int:
    with core.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(audit_events)
                .where(audit_events.c.action == action, audit_events.c.reason == reason)
            ).scalar_one()
        )


def bulk_screen(app: AuthConsoleApp) -> BulkScreen:
    screen = app.console_screen()
    assert isinstance(screen, BulkScreen), app.screen_stack
    return screen


async def open_from_search(pilot: Pilot[Any], text: str) -> BulkScreen:
    """Type ``text`` in the users search, then ``b``: the bulk screen opens with it."""
    await settle(pilot)
    await type_text(pilot, text)
    await settle(pilot)
    await pilot.press("escape", "b")  # esc leaves the search box (to the results), b opens bulk
    await settle(pilot)
    screen = bulk_screen(pilot.app)
    assert screen.query_one("#bulk-query", Input).value == text
    return screen


async def confirm(pilot: Pilot[Any], count: str, reason: str | None) -> BulkConfirmScreen:
    """In the open dialog: the count (typed from the focused Cancel button), then the reason."""
    dialog = pilot.app.screen
    assert isinstance(dialog, BulkConfirmScreen)
    await type_text(pilot, count)  # digits on a button go to the count box
    await pilot.press("enter")  # next: the reason box (or confirm when the reason is fixed)
    if reason is not None:
        await type_text(pilot, reason)
        await pilot.press("enter")
    await pilot.pause()
    return dialog


class Progress:
    """Every ``BulkProgress`` the screen handled (the bar's messages), in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[int, int]] = []
        real = BulkScreen.on_bulk_progress

        def spy(screen: BulkScreen, message: BulkProgress) -> None:
            self.seen.append((message.done, message.total))
            real(screen, message)

        monkeypatch.setattr(BulkScreen, "on_bulk_progress", spy)


async def test_whole_flow_from_the_users_search(core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(core, 10)
    ids = corp_users(core, 12)
    others = [core.users.find(n).id for n in ("alice", "bob")]
    before_others = versions(core, others)
    monkeypatch.setattr(BulkScreen, "batch_size", 5)
    progress = Progress(monkeypatch)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await open_from_search(pilot, "corp-gone")
        # the count and the first rows, the run's own match (email or username contains)
        assert text_of(app, "#bulk-count").startswith("12 users match 'corp-gone'")
        assert column(app, "#bulk-rows", 1) == [f"u{i:02d}{QUERY}" for i in range(12)]

        await pilot.press("R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"  # Cancel focused

        # a wrong count does nothing: the dialog stays and says so; no user changed
        await confirm(pilot, "11", REASON)
        assert app.screen is dialog
        assert "Type 12 to confirm" in text_of(app, "#bulk-problem")
        assert versions(core, ids) == [0] * 12

        # the right count: the run goes, with progress, and ends done
        box = dialog.query_one("#bulk-count-input", Input)
        box.value = ""
        box.focus()
        await type_text(pilot, "12")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert progress.seen == [(5, 12), (10, 12), (12, 12)]
        bar = screen.query_one("#bulk-progress", ProgressBar)
        assert bar.progress == bar.total == 12
        result = text_of(app, "#bulk-result")
        assert result.startswith("done: bumped 12 users in run bulk_"), result
        assert not screen.running
    assert versions(core, ids) == [1] * 12
    assert versions(core, others) == before_others
    assert count_events(core, "revoke_tokens") == 12  # one audit event per user
    assert count_events(core, "bulk_revoke_tokens") == 1  # and the run's summary
    with core.engine.connect() as conn:
        run = conn.execute(select(bulk_runs)).one()
    assert run.finished_at is not None and run.done_count == 12 and run.actor == core.actor


async def test_no_reason_no_run(core: AuthCore) -> None:
    ids = corp_users(core, 3)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_from_search(pilot, QUERY)
        await pilot.press("R")
        await settle(pilot)
        dialog = await confirm(pilot, "3", None)
        await pilot.press("enter")  # in the (empty) reason box
        await settle(pilot)
        assert app.screen is dialog
        assert "A reason is required" in text_of(app, "#bulk-problem")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BulkScreen)
        assert "cancelled, nothing changed" in str(app.screen.query_one("#status").content)
    assert versions(core, ids) == [0, 0, 0]


class Gate:
    """Holds the run's second batch until released: the real ``bump_many_in`` runs, later."""

    def __init__(self, core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.calls = 0
        real = core.admin.bump_many_in

        def gated(*args: Any, **kw: Any) -> Any:
            self.calls += 1
            if self.calls == 2:
                assert self.release.wait(60), "the test never released the gate"
            return real(*args, **kw)

        monkeypatch.setattr(core.admin, "bump_many_in", gated)


async def test_esc_asks_stop_leaves_it_resumable_and_it_resumes_here(
    core: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = corp_users(core, 10)
    monkeypatch.setattr(BulkScreen, "batch_size", 4)
    gate = Gate(core, monkeypatch)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await open_from_search(pilot, QUERY)
        await pilot.press("R")
        await settle(pilot)
        await confirm(pilot, "10", REASON)
        while gate.calls < 2:  # the first batch is committed, the second waits at the gate
            await pilot.pause(0.02)
        assert screen.running
        await pilot.press("u")  # leaving is a question, not an abort (esc, q and u alike)
        await pilot.pause()
        assert isinstance(app.screen, StopScreen)
        assert app.focused is not None and app.focused.id == "keep"
        await pilot.press("escape")  # esc keeps it running
        await pilot.pause()
        assert app.screen is screen and screen.running
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, StopScreen)
        await pilot.press("tab", "enter")  # "Stop after this batch"
        gate.release.set()
        await settle(pilot)
        assert app.screen is screen and not screen.running
        assert "stopped after 8 users" in text_of(app, "#bulk-result")
        assert sorted(versions(core, ids)) == [0, 0] + [1] * 8
        # the interrupted run is listed; enter resumes it with its own query and reason
        assert column(app, "#bulk-runs", 2) == ["8/10"]
        screen.query_one("#bulk-runs").focus()
        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen) and dialog.expected == 2
        assert dialog.query_one("#bulk-reason", Input).value == REASON
        await confirm(pilot, "2", None)  # the reason is the run's: enter in the count confirms
        await settle(pilot)
        assert "done: bumped 2 users in run" in text_of(app, "#bulk-result")
        assert "(resumed; 10 in the whole run)" in text_of(app, "#bulk-result")
        assert column(app, "#bulk-runs", 0) == []
    assert versions(core, ids) == [1] * 10  # every user exactly once
    assert count_events(core, "revoke_tokens") == 10
    assert count_events(core, "bulk_revoke_tokens") == 1


async def test_a_run_stopped_here_resumes_from_the_command_line(
    core: AuthCore, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = corp_users(core, 6)
    monkeypatch.setattr(BulkScreen, "batch_size", 2)
    gate = Gate(core, monkeypatch)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await open_from_search(pilot, QUERY)
        await pilot.press("R")
        await settle(pilot)
        await confirm(pilot, "6", REASON)
        while gate.calls < 2:
            await pilot.pause(0.02)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("tab", "enter")
        gate.release.set()
        await settle(pilot)
        assert not screen.running
    assert sorted(versions(core, ids)) == [0, 0, 1, 1, 1, 1]
    code = main(
        [
            "--db",
            db_url,
            "revoke",
            "--query",
            QUERY,
            "--all-tokens",
            "--reason",
            REASON,
            "--confirm-count",
            "2",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "resuming run bulk_" in out and "(resumed; 6 in the whole run)" in out
    assert versions(core, ids) == [1] * 6


KILLED_RUN = """
import os, signal, sys
from authcore.config import Config
from authcore.core import AuthCore
from authcore.db import make_engine

core = AuthCore(make_engine(sys.argv[1]), Config(), actor="killed-process")
def die(done, total):
    if done >= 6:
        os.kill(os.getpid(), signal.SIGKILL)  # a crash between two batches
core.bulk.run(sys.argv[2], sys.argv[3], confirm_count=int(sys.argv[4]), batch=3, on_batch=die)
"""


def kill_a_run(db_url: str, count: int) -> None:
    """``core.bulk.run`` in another process, SIGKILLed after its second committed batch."""
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, db_url, QUERY, REASON, str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILL: no clean-up ran


async def test_a_killed_run_is_shown_and_resumes_from_the_console(core: AuthCore, db_url: str) -> None:
    ids = corp_users(core, 10)
    kill_a_run(db_url, 10)
    assert sorted(versions(core, ids)) == [0] * 4 + [1] * 6
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "b")
        await settle(pilot)
        screen = bulk_screen(app)
        assert column(app, "#bulk-runs", 2) == ["6/10"]
        assert column(app, "#bulk-runs", 4) == ["killed-process"]
        screen.query_one("#bulk-runs").focus()
        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmScreen) and dialog.expected == 4
        await confirm(pilot, "4", None)
        await settle(pilot)
        assert "(resumed; 10 in the whole run)" in text_of(app, "#bulk-result")
    assert versions(core, ids) == [1] * 10
    assert count_events(core, "revoke_tokens") == 10
    assert count_events(core, "bulk_revoke_tokens") == 1


@pytest.mark.parametrize("how", ["read_only", "viewer"])
def test_authcore_refuses_viewer_and_read_only(engine: Any, config: Config, how: str) -> None:
    """authcore decides, whatever the caller: the run, before anything is written."""
    admin = AuthCore(engine, config, actor="admin")
    ids = corp_users(admin, 3)
    refused = (
        AuthCore(engine, config, actor="v", read_only=True)
        if how == "read_only"
        else AuthCore(engine, config, actor="v", role="viewer")
    )
    plan = refused.bulk.plan(QUERY, REASON)  # reading is allowed
    assert plan.matching == 3
    # the viewer is refused the bulk before read-only mode is even asked; both are authcore's
    with pytest.raises(ReadOnlyError if how == "read_only" else PermissionDenied):
        refused.bulk.run(QUERY, REASON, confirm_count=3, plan=plan)
    with pytest.raises(ReadOnlyError):
        refused.require_write(3)  # what the screen asks before its dialog
    assert versions(admin, ids) == [0, 0, 0]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bulk_runs)).scalar_one() == 0


@pytest.mark.parametrize("how", ["read_only", "viewer"])
async def test_the_screen_reflects_authcores_refusal(engine: Any, config: Config, how: str) -> None:
    admin = AuthCore(engine, config, actor="admin")
    ids = corp_users(admin, 3)
    core = (
        AuthCore(engine, config, actor="v", read_only=True)
        if how == "read_only"
        else AuthCore(engine, config, actor="v", role="viewer")
    )
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await open_from_search(pilot, QUERY)
        assert text_of(app, "#bulk-count").startswith("3 users match")  # reading works
        assert "R" not in footer_keys(app)  # read-only mode hides the action
        await pilot.press("R")
        await settle(pilot)
        assert app.screen is screen  # no dialog
        # past the screen's own hiding, straight to the action: authcore's guard refuses
        screen.action_bulk_revoke()
        await settle(pilot)
        assert app.screen is screen
        result = text_of(app, "#bulk-result")
        assert result.startswith("refused: ") and "nothing was changed" in result, result
    assert versions(admin, ids) == [0, 0, 0]


async def test_a_short_query_is_authcores_one_line(core: AuthCore) -> None:
    corp_users(core, 2)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "b")
        await settle(pilot)
        await type_text(pilot, "ab")
        await settle(pilot)
        assert "at least 3 characters" in text_of(app, "#bulk-count")
        await pilot.press("enter", "R")  # enter leaves the query box for the list
        await settle(pilot)
        assert isinstance(app.screen, BulkScreen)
        assert "nothing was done" in text_of(app, "#bulk-result")


async def test_hostile_rows_are_literal(core: AuthCore) -> None:
    seed_hostile(core)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_from_search(pilot, "@example.com")
        emails = column(app, "#bulk-rows", 1)  # rows() also checks every cell is Text
        assert len(emails) == len(HOSTILE)
        assert "h1.[@click=app.quit]quit[/]@example.com" in emails
        for text in walk_texts(app):
            assert_inert(text)
        assert app.is_running


def test_preview_is_the_runs_own_match(core: AuthCore) -> None:
    """The screen's count and rows are ``BulkRevoker.preview``: the run's match and order."""
    ids = corp_users(core, 5)
    core.users.create("someone@else.example", "CORP-GONE.EXAMPLE-fan")  # username matches too
    p = core.bulk.preview("corp-gone.example", limit=3)
    assert p.matching == 6 and [m.id for m in p.first] == ids[:3]
    assert core.bulk.plan("corp-gone.example", REASON).matching == p.matching
    with pytest.raises(ValidationError):
        core.bulk.preview("ab")
    assert core.bulk.unfinished() == []
    with core.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 6


async def test_a_new_run_with_an_unfinished_twin_is_sent_to_resume(core: AuthCore, db_url: str) -> None:
    """Confirming a new run whose query and reason match an interrupted run changes nothing: the
    run's identity is its query and reason, so the screen says to resume that run instead."""
    ids = corp_users(core, 10)
    kill_a_run(db_url, 10)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await open_from_search(pilot, QUERY)
        assert text_of(app, "#bulk-count").startswith("10 users match")  # a new run's count
        await pilot.press("R")
        await settle(pilot)
        await confirm(pilot, "10", REASON)
        await settle(pilot)
        assert app.screen is screen and not screen.running
        result = text_of(app, "#bulk-result")
        assert "is unfinished; resume it from the list (nothing was changed)" in result, result
    assert sorted(versions(core, ids)) == [0] * 4 + [1] * 6


async def test_a_count_that_changed_meanwhile_is_refused_by_the_run(core: AuthCore) -> None:
    """The dialog checks the count shown; the run checks it against what the query matches then."""
    ids = corp_users(core, 4)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await open_from_search(pilot, QUERY)
        await pilot.press("R")
        await settle(pilot)
        core.users.create(f"late{QUERY}", "late-corp")  # arrives while the dialog is open
        await confirm(pilot, "4", REASON)
        await settle(pilot)
        result = text_of(app, "#bulk-result")
        assert result.startswith("not done: confirmation count 4 does not match the 5 users"), result
        assert result.count("nothing") == 1
        assert not screen.running
    assert versions(core, ids) == [0] * 4


async def test_the_palette_takes_the_users_search_to_the_bulk_screen(core: AuthCore) -> None:
    corp_users(core, 3)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await type_text(pilot, "corp-gone")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "revoke everyone matching")
        await pilot.pause(0.6)
        await pilot.press("enter")
        await settle(pilot)
        screen = bulk_screen(app)
        assert screen.query_one("#bulk-query", Input).value == "corp-gone"
        assert text_of(app, "#bulk-count").startswith("3 users match 'corp-gone'")


@pytest.mark.parametrize("read_only", [False, True], ids=["admin", "read-only"])
async def test_read_only_palette_offers_no_bulk_action(core: AuthCore, read_only: bool) -> None:
    corp_users(core, 3)
    app = make_app(core, read_only=read_only)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_from_search(pilot, QUERY)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "revoke every")
        await pilot.pause(0.6)
        titles = [str(o.prompt) for o in app.screen.query_one(CommandList).options]
        assert any("Revoke every user matching" in t for t in titles) is not read_only, titles


async def test_quitting_during_a_run_stops_it_after_the_batch_resumable(
    core: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+q while a run is going: the worker is cancelled, the run stops after the batch in
    flight commits, and it stays unfinished (resumable), never half a batch, never silently on."""
    from authcore.bulk import BulkRevoker

    ids = corp_users(core, 10)
    monkeypatch.setattr(BulkScreen, "batch_size", 4)
    gate = Gate(core, monkeypatch)
    returned = threading.Event()
    real_run = BulkRevoker.run

    def run(self: BulkRevoker, *args: Any, **kw: Any) -> Any:
        try:
            return real_run(self, *args, **kw)
        finally:
            returned.set()

    monkeypatch.setattr(BulkRevoker, "run", run)
    app = make_app(core)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_from_search(pilot, QUERY)
        await pilot.press("R")
        await settle(pilot)
        await confirm(pilot, "10", REASON)
        while gate.calls < 2:
            await pilot.pause(0.02)
        threading.Timer(0.3, gate.release.set).start()  # the batch in flight ends after the quit
        await pilot.press("ctrl+q")
    assert returned.wait(60)
    assert gate.calls == 2  # no batch after the one in flight
    assert sorted(versions(core, ids)) == [0, 0] + [1] * 8
    (run_info,) = core.bulk.unfinished()
    assert run_info.done_count == 8 and run_info.expected_count == 10


async def test_the_help_line_wraps_at_60_columns(core: AuthCore) -> None:
    """At 60x15 the bulk screen's first line was cut after "or usern" (a Label as wide as its
    text, one line high): it is as wide as the screen now, and wraps."""
    seed(core, 0)
    app = make_app(core)
    async with app.run_test(size=(60, 15)) as pilot:
        screen = await open_from_search(pilot, "@example")
        help_line = screen.query_one("#bulk-help")
        assert help_line.region.width <= 60 and help_line.region.height == 2, help_line.region
