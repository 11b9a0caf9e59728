"""The console at scale: keystroke -> results painted, cold start, peak memory.

Keystrokes are timed inside the app (Pilot adds ~80 ms per key): from the search box's
``Input.Changed`` handler to ``call_after_refresh`` after the results page was synced into the
table. The same keystroke sequence runs against the real database and against a static list of
the very same pages (the baseline: the console's own refill cost), in alternating passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.context import Ctx
from bench.datasets import label, sqlite_dataset
from bench.harness import Row, percentile

ROOT = Path(__file__).resolve().parents[1]
# What an operator types: prefixes, a contains term, corrections.
TYPED = ["james.smith", "example", "alice", "mary jo", "zhang12", "@corp-old", "kelly", "ith.j"]


def _css_path(base: Any) -> Any:
    """The console's stylesheet, absolute (Textual resolves CSS_PATH next to the subclass)."""
    import inspect

    css = base.CSS_PATH
    if isinstance(css, str | Path) and not Path(css).is_absolute():
        return str(Path(inspect.getfile(base)).parent / css)
    return css


def keystroke_sequence(n: int) -> list[str]:
    """``n`` search box values, each one keystroke away from the previous (typing and
    backspacing the words above)."""
    seq: list[str] = []
    while len(seq) < n:
        for word in TYPED:
            seq += [word[:i] for i in range(1, len(word) + 1)]
            seq += [word[:i] for i in range(len(word) - 1, 0, -1)]
    return seq[:n]


def available() -> str | None:
    if not (ROOT / "console" / "app.py").exists():
        return "console/app.py is not there"
    try:
        import console.app  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"console.app does not import: {exc}"
    return None


class _Users:
    """``core.users`` stand-in: real search, or the same pages from a static list."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.static: dict[tuple[str, int], Any] = {}
        self.use_static = False

    def search(self, query: str, limit: int = 50, after: Any = None) -> Any:
        key = (query, limit)
        if self.use_static and after is None and key in self.static:
            return self.static[key]
        page = self.real.search(query, limit=limit, after=after)
        if after is None:
            self.static.setdefault(key, page)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def keystrokes(ctx: Ctx, engine: str) -> None:
    from textual.widgets import Input

    from console.app import create_app
    from console.screens.users import UsersScreen

    core = ctx.core(engine, ctx.big)
    users = _Users(core.users)
    per_mode = 40 if ctx.quick else 200
    seq = keystroke_sequence(20 if ctx.quick else 50)
    passes = max(1, per_mode // len(seq))
    times: dict[bool, list[float]] = {False: [], True: []}
    state: dict[str, Any] = {"start": {}, "waiter": None}

    class Timed(UsersScreen):
        def on_input_changed(self, event: Input.Changed) -> None:
            if event.input.id == "search":
                state["start"][event.value] = time.perf_counter()

        def on_users_page(self, message: Any) -> None:
            # No super() call: Textual runs UsersScreen.on_users_page too (handlers are
            # dispatched along the MRO); calling it here as well synced every page twice.
            if not message.append:
                self.call_after_refresh(self._painted, message.query)

        def _painted(self, query: str) -> None:
            t0 = state["start"].pop(query, None)
            waiter = state["waiter"]
            if t0 is not None and waiter is not None and waiter[0] == query:
                times[users.use_static].append(time.perf_counter() - t0)
                waiter[1].set()

    base = type(create_app(core))

    class App(base):  # type: ignore[misc, valid-type]
        CSS_PATH = _css_path(base)

        def get_default_screen(self) -> Any:
            return Timed()

    async def drive() -> None:
        app = App(core, search_debounce=0.001, refresh_interval=3600)
        async with app.run_test(headless=True, size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            box = app.screen.query_one("#search", Input)

            async def key(value: str) -> None:
                ev = asyncio.Event()
                state["waiter"] = (value, ev)
                box.value = value
                await asyncio.wait_for(ev.wait(), 30)

            for value in seq:  # warm-up pass: caches, and the static pages
                await key(value)
            await key("")
            for i in range(2 * passes):
                users.use_static = i % 2 == 1
                for value in seq:
                    await key(value)
                await key("")
            users.use_static = False

    core.users = users
    try:
        asyncio.run(drive())
    finally:
        core.users = users.real
    real, static = times[False], times[True]
    ctx.add(
        Row(
            f"console {engine}",
            f"keystroke -> results painted, p95 of {len(real)} at {label(ctx.big)}",
            percentile(real, 95),
            "same console, static list",
            percentile(static, 95),
            1.2,
            limit=0.100,
            note=f"medians {statistics.median(real) * 1000:.1f} ms vs "
            f"{statistics.median(static) * 1000:.1f} ms",
        )
    )


def _spawn_until_painted(args: list[str]) -> tuple[float, float]:
    """Seconds from spawn to the child's first frame and to its first page of results."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.console_child", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.stdout is not None
    frame = None
    for line in proc.stdout:
        if line.startswith("PAINTED"):
            frame = time.perf_counter() - t0
        elif line.startswith("RESULTS") and frame is not None:
            results = time.perf_counter() - t0
            proc.wait(timeout=60)
            return frame, results
    err = proc.stderr.read() if proc.stderr else ""
    proc.wait(timeout=60)
    raise RuntimeError(f"child {args[0]} never painted: {err.strip()[-300:]}")


def cold_start(ctx: Ctx, engine: str) -> None:
    from console.screens.users import user_row

    core = ctx.core(engine, ctx.big)
    page = core.users.search("", limit=50)
    rows = [[str(u.id), [c.plain for c in user_row(u)]] for u in page.items]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(rows, fh)
    try:
        ours_args = ["console", ctx.url(engine, ctx.big)]
        bare_args = ["bare", fh.name]
        for args in (ours_args, bare_args):
            _spawn_until_painted(args)
        a: list[tuple[float, float]] = []
        b: list[tuple[float, float]] = []
        for i in range(2 if ctx.quick else 11):
            for args in (ours_args, bare_args) if i % 2 == 0 else (bare_args, ours_args):
                (a if args is ours_args else b).append(_spawn_until_painted(args))
    finally:
        os.unlink(fh.name)
    first = statistics.median(x[0] for x in a)
    with_results = statistics.median(x[1] for x in a)
    bare = statistics.median(x[1] for x in b)
    ctx.add(
        Row(
            f"console {engine}",
            f"cold start to first paint at {label(ctx.big)}",
            first,
            "bare Textual app, same widgets",
            bare,
            1.5,
            note=f"first page of results painted at {with_results * 1000:.0f} ms",
        )
    )


def _rss(url: str, keys: int) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "bench.console_child", "rss", url, str(keys), "3" if keys < 50 else "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RSS "):
            return int(line.split()[1])
    raise RuntimeError(f"rss child failed: {out.stderr.strip()[-300:]}")


def memory(ctx: Ctx, engine: str) -> None:
    small_n = 1000
    if engine == "sqlite":
        small_url = sqlite_dataset(small_n).url
    else:
        from bench.datasets import pg_dataset

        ds = pg_dataset(small_n)
        if ds is None:
            return
        small_url = ds.url
    keys = 20 if ctx.quick else 120
    a, b = [], []
    for i in range(1 if ctx.quick else 3):
        for url in (
            (ctx.url(engine, ctx.big), small_url) if i % 2 == 0 else (small_url, ctx.url(engine, ctx.big))
        ):
            (a if url != small_url else b).append(_rss(url, keys))
    ctx.add(
        Row(
            f"console {engine}",
            f"peak RSS at {label(ctx.big)} users",
            max(a),
            f"at {label(small_n)}",
            max(b),
            1.2,
            unit="MB",
        )
    )


def run(ctx: Ctx) -> None:
    why = available()
    if why:
        ctx.add(Row("console", "console rows", float("nan"), "", 0, 1.0, error=why))
        return
    engines = [e for e in ctx.engines if ctx.has(e, ctx.big)]
    if ctx.quick:
        engines = engines[:1]  # --quick: the console rows on the first engine only
    for engine in engines:
        keystrokes(ctx, engine)
        cold_start(ctx, engine)
        memory(ctx, engine)
