"""A seeded random walk through the console: random keys from the keys bound right now (what the
footer and help offer, on whatever has focus), typed text, ``enter``, ``esc``, ``tab``, arrows and
bracketed pastes, sent through Pilot from every screen, on SQLite and PostgreSQL, at 80x24 and
60x15. After every key:

- no exception (the app still runs; no worker ended in an "unexpected" error);
- the screen stack never holds two screens for the same thing (``console.navigation.identity``);
- the database (users, sessions, audit events, digested) is unchanged unless a confirm dialog (or
  the bulk screen's typed confirmation) was confirmed since the last look (checked every few keys
  and at the end);
- ``esc`` in a text box lands on the screen's results, on the same screen;
- now and then, where ``/`` focuses a filter, ``/`` and a few characters in one read (a paste,
  a slow link): they all type into the filter, on the same screen. These bursts come from an rng
  of their own, so the other keys of a seed are drawn as before.

The seed is random per run and printed on failure; replay with ``AUTHCONSOLE_WALK_SEED=<seed>``
(timing between workers still varies, so a replay is close, not exact). The default run sends
``AUTHCONSOLE_WALK_KEYS`` (120) keys per screen, engine and size; ``-m walk_long`` sends 1,000
per screen and size (10,000 per engine).
"""

from __future__ import annotations

import hashlib
import os
import random
import string
from typing import Any

import pytest
from sqlalchemy import select
from textual import events
from textual.pilot import Pilot
from textual.widgets import TextArea

from authcore.core import AuthCore
from authcore.models import audit_events, sessions, users
from console.app import AuthConsoleApp
from console.navigation import identity
from console.screens.base import ConsoleScreen
from console.screens.bulk import BulkConfirmScreen
from console.screens.confirm import ConfirmScreen
from console.widgets.header import StatusLine
from tests.support.tui import make_app, seed, settle

SEED_ENV = "AUTHCONSOLE_WALK_SEED"
KEYS_ENV = "AUTHCONSOLE_WALK_KEYS"
STARTS = ["users", "user", "sessions", "audit", "token", "attention", "bulk", "activity"]
SIZES = [(80, 24), (60, 15)]
CHECK_EVERY = 25
SLASH_BURSTS = 0.05  # the share of steps that are a "/text" burst (where / focuses a filter)

CHAR_KEYS = {
    " ": "space",
    "@": "at",
    ".": "full_stop",
    "-": "minus",
    "_": "underscore",
    "/": "slash",
    "?": "question_mark",
}
TEXT = string.ascii_letters + string.digits + "@.-_ "
SPECIAL = [
    "enter",
    "escape",
    "tab",
    "shift+tab",
    "up",
    "down",
    "pageup",
    "pagedown",
    "home",
    "end",
    "backspace",
    "left",
    "right",
]


def digest(core: AuthCore) -> str:
    """Every row of users, sessions and audit events, hashed."""
    h = hashlib.sha256()
    with core.engine.connect() as conn:
        for table in (users, sessions, audit_events):
            pk = list(table.primary_key.columns)
            for row in conn.execute(select(table).order_by(*pk)):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


class Walk:
    """One walk: the keys sent, the confirmations seen, the invariants checked."""

    def __init__(
        self,
        pilot: Pilot[Any],
        core: AuthCore,
        rng: random.Random,
        pastes: list[str],
        slash_rng: random.Random,
    ) -> None:
        self.pilot = pilot
        self.app: AuthConsoleApp = pilot.app
        self.core = core
        self.rng = rng
        self.slash_rng = slash_rng
        self.pastes = pastes
        self.trail: list[str] = []
        self.confirmed = 0
        self.quits = 0
        self.baseline = digest(core)
        self.changes = 0

    def pick(self) -> tuple[str, Any]:
        r = self.rng.random()
        if r < 0.08:
            return "burst", [self.pick_key() for _ in range(self.rng.randint(2, 6))]
        if r < 0.40:
            bound = sorted(self.app.active_bindings)
            if bound:
                return "key", self.rng.choice(bound)
        if r < 0.65:
            ch = self.rng.choice(TEXT)
            return "key", CHAR_KEYS.get(ch, ch)
        if r < 0.90:
            return "key", self.rng.choice(SPECIAL)
        if r < 0.95:
            return "paste", self.rng.choice(self.pastes)
        return "settle", None

    def pick_key(self) -> str:
        what, arg = "", None
        while what != "key":
            what, arg = self.pick()
        return str(arg)

    def send(self, keys: list[str]) -> None:
        """Keys as one read brings them (a word over SSH, a paste): no waiting in between."""
        driver = self.app._driver
        assert driver is not None
        for key in keys:
            char = next((c for c, k in CHAR_KEYS.items() if k == key), None)
            event = events.Key(key, char or (key if len(key) == 1 else None))
            event.set_sender(self.app)
            driver.send_message(event)

    def text_box_screen(self) -> ConsoleScreen | None:
        """The screen on top if it is a console screen whose text box has focus."""
        screen = self.app.screen
        if isinstance(screen, ConsoleScreen) and screen.typing():
            return screen
        return None

    async def slash_burst(self) -> bool:
        """``/`` and a few characters in one read, where ``/`` focuses a filter: they all type
        into it, at its cursor (over its selection), on the same screen. False (nothing sent) elsewhere."""
        screen = self.app.screen
        if not (
            isinstance(screen, ConsoleScreen)
            and self.app.focused is not None
            and screen.check_action("focus_filter", ())
        ):
            return False
        box = screen.filter_widget()
        assert box is not None
        text = "".join(self.slash_rng.choice(TEXT) for _ in range(self.slash_rng.randint(1, 5)))
        lo, hi = sorted(box.selection)  # typing replaces a selection left in the box
        want = box.value[:lo] + text + box.value[hi:]
        self.trail.append(f"burst(/{text})")
        self.send(["slash", *(CHAR_KEYS.get(c, c) for c in text)])
        for _ in range(100):  # the keys' way back up to the app takes a few hops
            await self.pilot.pause(0.02)
            if self.app.screen is not screen or box.value == want:
                break
        assert self.app.screen is screen, f"'/{text}' in one read left {screen.KIND}"
        assert self.app.focused is box and box.value == want, (
            f"'/{text}' in one read on {screen.KIND}: {box.value!r}, not {want!r}"
        )
        return True

    async def step(self) -> None:
        if self.slash_rng.random() < SLASH_BURSTS and await self.slash_burst():
            self.check()
            return
        what, arg = self.pick()
        if what == "key":
            self.trail.append(arg)
            typing = self.text_box_screen() if arg == "escape" else None
            # A maximized box (the palette's "Maximize") first leaves the maximized view on esc
            # (Textual's ESCAPE_TO_MINIMIZE): esc backs out one step, the box keeps the focus.
            maximized = typing is not None and typing.maximized is not None
            await self.pilot.press(arg)
            if typing is not None and maximized:
                assert self.app.screen is typing and typing.maximized is None, f"esc on {typing.KIND}"
            elif typing is not None and typing.results_widget() is not None:
                assert self.app.screen is typing, f"esc in a text box left {typing.KIND}"
                assert self.app.focused is typing.results_widget(), f"esc on {typing.KIND}"
        elif what == "burst":  # as a word arrives over SSH: no waiting between the keys
            self.trail.append("burst(" + " ".join(arg) + ")")
            self.send(arg)
            await self.pilot.pause()
        elif what == "paste":
            self.trail.append(f"paste({arg[:12]!r}…)")
            self.app.post_message(events.Paste(arg))
            await self.pilot.pause()
        else:
            self.trail.append("(settle)")
            await settle(self.pilot)
        self.check()

    def check(self) -> None:
        app = self.app
        assert app._exception is None, f"exception: {app._exception!r}"
        assert app.is_running and app.return_code is None, "the app ended"
        stack = [identity(s) for s in app.screen_stack]
        assert len(stack) == len(set(stack)), f"two screens for the same thing: {stack}"
        for screen in app.screen_stack:
            for line in screen.query(StatusLine):
                content = line.content
                text = content.plain if hasattr(content, "plain") else str(content)
                assert "unexpected " not in text, f"a worker failed: {text}"

    async def check_database(self) -> None:
        await settle(self.pilot)
        now = digest(self.core)
        if self.confirmed:
            self.confirmed = 0
            self.changes += now != self.baseline
        else:
            assert now == self.baseline, "the database changed without a confirmed dialog"
        self.baseline = now


def pastes_for(core: AuthCore) -> list[str]:
    alice = core.users.find("alice").id
    bob = core.users.find("bob").id
    return [
        core.tokens.issue_pair(alice).access_token,
        "Bearer " + core.tokens.issue_pair(bob).access_token,
        "not.a.token",
        "\x1b]52;c;QUFB\x07[@click=app.quit]x[/]\u202e",
        "alice",
        "a" * 300,
    ]


async def start_on(pilot: Pilot[Any], start: str, pastes: list[str]) -> None:
    app = pilot.app
    await settle(pilot)
    if start == "user":
        app.open_user(app.core.users.find("alice").id)
    elif start != "users":
        app.goto(start)
    await settle(pilot)
    if start == "token":
        app.screen.query_one(TextArea).focus()
        app.post_message(events.Paste(pastes[0]))
        await settle(pilot)


async def walk(
    core: AuthCore, start: str, size: tuple[int, int], keys: int, request: pytest.FixtureRequest
) -> None:
    base = os.environ.get(SEED_ENV)
    walk_seed = int(base) if base else random.randrange(2**32)
    rng = random.Random(f"{walk_seed}/{start}/{size[0]}x{size[1]}")
    slash_rng = random.Random(f"{walk_seed}/{start}/{size[0]}x{size[1]}/slash")
    seed(core, 30)
    pastes = pastes_for(core)
    app = make_app(core, refresh_interval=0.5)
    confirmations: list[str] = []
    real_dismiss = ConfirmScreen.dismiss

    def dismiss(screen: ConfirmScreen, result: Any = None) -> Any:
        if result:
            confirmations.append(result)
        return real_dismiss(screen, result)

    real_bulk_dismiss = BulkConfirmScreen.dismiss

    def bulk_dismiss(screen: BulkConfirmScreen, result: Any = None) -> Any:
        if result:
            confirmations.append(result)
        return real_bulk_dismiss(screen, result)

    state: dict[str, Walk] = {}
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ConfirmScreen, "dismiss", dismiss)
            mp.setattr(BulkConfirmScreen, "dismiss", bulk_dismiss)
            async with app.run_test(size=size) as pilot:
                app.exit = lambda *a, **k: None  # type: ignore[method-assign]  # q/ctrl+q: stay
                await start_on(pilot, start, pastes)
                w = state["walk"] = Walk(pilot, core, rng, pastes, slash_rng)
                w.check()
                for i in range(keys):
                    before = len(confirmations)
                    await w.step()
                    w.confirmed += len(confirmations) - before
                    if i % CHECK_EVERY == CHECK_EVERY - 1:
                        await w.check_database()
                await w.check_database()
                request.node.user_properties.append(
                    (
                        "walk",
                        (
                            f"seed={walk_seed} keys={keys} confirmed={len(confirmations)} "
                            f"changes={w.changes} final_stack={[identity(s) for s in app.screen_stack]}"
                        ),
                    )
                )
    except BaseException as exc:
        w = state.get("walk")
        trail = " ".join(w.trail[-40:]) if w else "(before the first key)"
        raise AssertionError(
            f"random walk failed: {exc!r}\n  seed {walk_seed} (replay: {SEED_ENV}={walk_seed}"
            f" pytest {request.node.nodeid!r})\n  start {start} at {size[0]}x{size[1]} on "
            f"{core.engine.dialect.name}, key {len(w.trail) if w else 0} of {keys}\n"
            f"  last keys: {trail}"
        ) from exc


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "60x15"])
@pytest.mark.parametrize("start", STARTS)
async def test_random_walk(
    core: AuthCore, start: str, size: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    await walk(core, start, size, int(os.environ.get(KEYS_ENV, "120")), request)


# Walks that once failed, replayed on every run (seed, start, size): each names its fix.
FOUND = [
    # escape escape ctrl+p A pageup shift+tab: the palette's search ended after its list was
    # gone (NoMatches in a worker); console/palette.py _watch__list_visible
    (3792091157, "activity", (60, 15)),
    # ... pageup backspace escape on a maximized sessions filter: esc left the maximized view
    # (Textual's rule) where the walk expected the results; the walk's esc invariant now knows it
    (3453088263, "users", (60, 15)),
]


@pytest.mark.parametrize(("walk_seed", "start", "size"), FOUND)
async def test_walks_that_once_failed(
    core: AuthCore,
    walk_seed: int,
    start: str,
    size: tuple[int, int],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SEED_ENV, str(walk_seed))
    await walk(core, start, size, 120, request)


@pytest.mark.walk_long
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "60x15"])
@pytest.mark.parametrize("start", STARTS)
async def test_random_walk_long(
    core: AuthCore, start: str, size: tuple[int, int], request: pytest.FixtureRequest
) -> None:
    await walk(core, start, size, int(os.environ.get(KEYS_ENV, "1000")), request)


def test_the_walk_would_see_a_duplicate_screen(core: AuthCore) -> None:
    """The stack invariant is not vacuous: two screens of one kind are reported."""
    from console.screens.sessions import SessionsScreen

    class Fake:
        _exception = None
        is_running = True
        return_code = None
        screen_stack = [SessionsScreen(), SessionsScreen()]  # noqa: RUF012 - a stand-in App

    w = Walk.__new__(Walk)
    w.app = Fake()  # type: ignore[assignment]
    with pytest.raises(AssertionError, match="two screens for the same thing"):
        w.check()


@pytest.mark.parametrize("start", ["user", "sessions"])
async def test_random_walk_with_geoip(
    core: AuthCore, start: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    """The session screens with their location column (a GeoIP file over the demo's networks)."""
    from dataclasses import replace

    from tests.support.mmdb import demo_db

    located = AuthCore(core.engine, replace(core.config, geoip_db=demo_db(tmp_path)), actor=core.actor)
    await walk(located, start, SIZES[0], int(os.environ.get(KEYS_ENV, "120")), request)
