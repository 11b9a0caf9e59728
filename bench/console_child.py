"""Child process for the console rows: ``python -m bench.console_child MODE URL [ARGS]``.

Modes:
  console URL      the real console on URL; prints ``PAINTED`` after its first frame and
                   ``RESULTS`` when the first page of results is on screen, then exits.
  bare ROWS.json   a bare Textual app with the same widgets (search box, table, detail, footer),
                   filled from a static list; prints ``PAINTED`` likewise.
  rss URL N [P]    the real console: N keystrokes and P (10) pages down, then ``RSS <bytes>``
                   (peak resident set size of the process).
All run headless (no terminal needed); the parent times spawn -> ``PAINTED``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _css_path(base):  # type: ignore[no-untyped-def]
    import inspect
    from pathlib import Path

    css = base.CSS_PATH
    if isinstance(css, str | Path) and not Path(css).is_absolute():
        return str(Path(inspect.getfile(base)).parent / css)
    return css


def _console_app(
    url: str,
    on_first_page,
    on_first_frame=None,
    *,  # type: ignore[no-untyped-def]
    lazy: bool = False,
):
    """The console app over ``url``. ``lazy``: started the way ``authconsole`` starts it
    (``run_tui``): with a ``Connect``, the core built by the app after its first frame; the
    database stack is imported inside ``build``, not here."""
    from console.app import AuthConsoleApp, create_app
    from console.connect import Connect
    from console.screens.users import UsersScreen

    class FirstPaint(UsersScreen):
        # Handlers without super() calls: Textual runs UsersScreen's on_mount and on_users_page
        # as well (dispatched along the MRO); calling them here too ran each twice.
        _fired = False

        def on_mount(self) -> None:
            if on_first_frame is not None:
                self.call_after_refresh(on_first_frame, self.app)

        def on_users_page(self, message):  # type: ignore[no-untyped-def]
            if not self._fired:
                self._fired = True
                self.call_after_refresh(on_first_page, self.app)

    def build():  # type: ignore[no-untyped-def]
        from authcore.config import Config, TokenSettings
        from authcore.core import AuthCore
        from authcore.db import make_engine

        return AuthCore(make_engine(url), Config(tokens=TokenSettings(secret="x" * 40)), actor="bench")

    core = Connect(build=build, url=url, actor="bench", role="admin", read_only=False) if lazy else build()
    base = type(create_app(core))
    assert issubclass(base, AuthConsoleApp)

    class App(base):  # type: ignore[misc, valid-type]
        CSS_PATH = _css_path(base)

        def get_default_screen(self):  # type: ignore[no-untyped-def]
            return FirstPaint()

    return App(core, search_debounce=0.001, refresh_interval=3600)


def console(url: str) -> None:
    def frame(app) -> None:  # type: ignore[no-untyped-def]
        print("PAINTED", flush=True)

    def results(app) -> None:  # type: ignore[no-untyped-def]
        print("RESULTS", flush=True)
        app.exit()

    app = _console_app(url, results, frame, lazy=True)
    app.run(headless=True, size=(120, 40))
    if app.connected:
        app.core.dispose()


def bare(rows_file: str) -> None:
    import json

    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Input, Static

    rows = json.loads(Path(rows_file).read_text(encoding="utf-8"))

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("authconsole", id="header")
            yield Input(placeholder="search users", id="search", compact=True)
            yield DataTable(id="users", cursor_type="row", zebra_stripes=True)
            yield Static(id="detail")
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            for name in ("email", "username", "name", "ver", "sess", "off"):
                table.add_column(Text(name, style="bold"), key=name)
            for key, cells in rows:
                table.add_row(*(Text(c) for c in cells), key=key)
            self.query_one(Input).focus()
            self.call_after_refresh(self.painted)

        def painted(self) -> None:
            print("PAINTED", flush=True)
            print("RESULTS", flush=True)
            self.exit()

    Bare().run(headless=True, size=(120, 40))


def rss(url: str, keystrokes: int, pages: int = 10) -> None:
    import asyncio

    from textual.widgets import Input

    from console.widgets.table import KeyedTable

    app = _console_app(url, lambda app: None)
    text = "james.smith@example" * 10

    async def drive() -> None:
        async with app.run_test(headless=True, size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            box = app.screen.query_one("#search", Input)
            for i in range(keystrokes):
                n = (i % 19) + 1
                box.value = text[:n] if (i // 19) % 2 == 0 else text[: 20 - n]
                await pilot.pause(0.02)
            box.value = "example"
            await pilot.pause(0.5)
            table = app.screen.query_one(KeyedTable)
            table.focus()
            for _ in range(pages):
                await pilot.press("end")
                await pilot.pause(0.3)

    asyncio.run(drive())
    app.core.dispose()
    print(f"RSS {peak_rss()}", flush=True)


def peak_rss() -> int:
    """Peak resident set size of this process, in bytes.

    ``VmHWM`` (Linux): the high-water mark of this process's own memory. Not ``ru_maxrss``:
    after fork+exec it also counts the parent's resident size at fork time (the benchmark
    process holding million-user results), which would hide the console's own figure.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "console":
        console(argv[1])
    elif mode == "bare":
        bare(argv[1])
    elif mode == "rss":
        rss(argv[1], int(argv[2]), int(argv[3]) if len(argv) > 3 else 10)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
