"""Helpers shared by the console (TUI) tests: the app factory with test timings, settling, and
readers for what is on screen. (No tests here.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import textual.timer
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey
from textual.worker import WorkerCancelled, WorkerFailed

from authcore import demo
from authcore.core import AuthCore
from console.app import AuthConsoleApp, create_app
from console.screens.activity import ActivityScreen
from console.widgets.table import KeyedTable

DEBOUNCE = 0.05


def make_app(core: AuthCore, **kw: Any) -> AuthConsoleApp:
    """The real app over ``core`` with fast timings (no real waits in tests)."""
    kw.setdefault("search_debounce", DEBOUNCE)
    kw.setdefault("refresh_interval", 60.0)
    kw.setdefault("retry_interval", 0.2)
    return create_app(core, **kw)


def late_timer_clock(monkeypatch: pytest.MonkeyPatch, stall: float) -> None:
    """Every read of the clock of Textual's timers stalls ``stall`` s first: the main thread
    descheduled between two reads (a worker thread holding the GIL, a loaded machine). A
    one-shot ``set_timer`` whose delay is shorter than ``stall`` then skips and never fires."""

    def late_clock() -> float:
        time.sleep(stall)
        return time.monotonic()

    monkeypatch.setattr(textual.timer, "_time", SimpleNamespace(get_time=late_clock))


def seed(core: AuthCore, n: int = 30) -> None:
    """alice (3 active + 1 expired session), bob, carol (disabled) and ``n`` generated users."""
    demo.seed(core.engine, n, rng_seed=7)


async def workers_done(app: Any) -> None:
    """Wait for every running worker. A worker started with ``exit_on_error=False`` that raised
    (``DatabaseUnavailable`` during an outage) is the screen's to handle, through its state
    change, not this wait's: Textual's ``wait_for_complete`` re-raises it whenever the worker is
    still in the manager when the wait starts (a loaded machine), so its failure is taken here."""
    for worker in list(app.workers):
        try:
            await worker.wait()
        except WorkerCancelled:
            pass  # an exclusive worker replaced by a newer one
        except WorkerFailed:
            if worker.exit_on_error:
                raise  # a failure nothing handles: the test must see it


async def settle(pilot: Pilot[Any], rounds: int = 6) -> None:
    """Let debounce timers fire, every worker finish and every posted message be handled
    (a handled message may start another worker: loop until none is left)."""
    app = pilot.app
    await pilot.pause(DEBOUNCE * 1.5)
    for _ in range(rounds):
        await workers_done(app)
        await pilot.pause()
        if all(w.is_finished for w in app.workers):
            await pilot.pause()
            if all(w.is_finished for w in app.workers):
                return


def table(app: AuthConsoleApp, selector: str) -> KeyedTable:
    return app.screen.query_one(selector, KeyedTable)


def rows(app: AuthConsoleApp, selector: str) -> list[list[str]]:
    """Plain text of every row of a table on the current screen (and that cells are Text)."""
    t = app.screen.query_one(selector, DataTable)
    out = []
    for i in range(t.row_count):
        cells = t.get_row_at(i)
        assert all(isinstance(c, Text) for c in cells), "a raw str in a cell is markup"
        out.append([c.plain for c in cells])
    return out


def column(app: AuthConsoleApp, selector: str, index: int) -> list[str]:
    return [r[index] for r in rows(app, selector)]


def text_of(app: AuthConsoleApp, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def footer_keys(app: AuthConsoleApp) -> dict[str, str]:
    """Footer key -> description, as displayed now."""
    return {k.key_display or k.key: k.description for k in app.screen.query(FooterKey)}


def notifications(app: AuthConsoleApp) -> list[str]:
    return [n.message for n in app._notifications]


def walk_texts(app: AuthConsoleApp) -> Iterator[str]:
    """Every Static/Label content and DataTable cell on the current screen, as plain text."""
    for w in app.screen.query(Static):
        content = w.content
        yield content.plain if hasattr(content, "plain") else str(content)
    for t in app.screen.query(DataTable):
        for i in range(t.row_count):
            for c in t.get_row_at(i):
                yield c.plain if isinstance(c, Text) else str(c)


#: Key names of the characters the tests type (``press`` and ``burst`` take key names).
KEY_NAMES = {
    "/": "slash",
    "?": "question_mark",
    " ": "space",
    "@": "at",
    ".": "full_stop",
    ",": "comma",
    "-": "minus",
    "_": "underscore",
    ":": "colon",
    "#": "number_sign",
}
KEY_CHARS = {name: ch for ch, name in KEY_NAMES.items()}


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type characters one by one (``press`` takes key names; map the special ones)."""
    await pilot.press(*[KEY_NAMES.get(ch, ch) for ch in text])


async def find_row(pilot: Pilot[Any], selector: str, predicate: Any) -> int:
    """Move the cursor of a table to the first row whose plain cells satisfy ``predicate``."""
    app = pilot.app
    t = table(app, selector)
    for i, r in enumerate(rows(app, selector)):
        if predicate(r):
            t.focus()
            t.move_cursor(row=i)
            await pilot.pause()
            return i
    raise AssertionError(f"no row matches in {selector}: {rows(app, selector)[:5]}")


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Keys arriving at once (a word over SSH): sent to the driver without waiting in between."""
    from textual import events

    app = pilot.app
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else KEY_CHARS.get(key))
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()


async def until(pilot: Pilot[Any], check: Callable[[], bool], wait: float = 15.0) -> None:
    """Wait (the app running) until ``check()``; fail after ``wait`` seconds."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError("not on screen in time")


async def open_activity(pilot: Pilot[Any]) -> ActivityScreen:
    """The live activity screen (``L``), its feed started."""
    await settle(pilot)
    await pilot.press("escape", "L")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ActivityScreen)
    await until(pilot, lambda: screen._feed is not None)
    return screen
