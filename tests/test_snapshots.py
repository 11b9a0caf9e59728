"""SVG snapshots of the console's main screens (SQLite, deterministic demo data and clock).

Regenerate after an intended UI change with ``pytest tests/test_snapshots.py --snapshot-update``
and review the SVGs under ``tests/snapshots/``; ``docs/screenshots/`` holds copies of the main ones.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
import pytest_textual_snapshot
from textual import events
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from authcore import demo
from authcore.config import Config
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import DatabaseUnavailable
from console.app import AuthConsoleApp, create_app
from tests.support.hostile import seed_hostile
from tests.support.tui import type_text, workers_done

FIXED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
URL = "sqlite:////srv/authconsole/demo.db"
BOTH = [(80, 24), (120, 40)]


class SnapshotsDirSVG(pytest_textual_snapshot.SVGImageExtension):
    """Keep the SVGs in tests/snapshots/<module>/ (not syrupy's __snapshots__)."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


class SnapshotCore(AuthCore):
    @property
    def url_masked(self) -> str:  # the temporary path would change every run
        return URL


@pytest.fixture(autouse=True)
def _frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """One instant for authcore's notion of now (active counts, audit times) and the app's."""
    monkeypatch.setattr(pytest_textual_snapshot, "SVGImageExtension", SnapshotsDirSVG)
    # authcore.timeutil last: resolving the others imports any not imported yet, and a module
    # imported while timeutil's is patched binds the patch, which undo would then "restore"
    for module in (
        "authcore.users.service",
        "authcore.users.search",
        "authcore.sessions",
        "authcore.revoke",
        "authcore.tokens",
        "authcore.inspect.inspector",
        "authcore.attention",
        "authcore.timeutil",
    ):
        monkeypatch.setattr(f"{module}.utcnow", lambda: FIXED, raising=False)


@pytest.fixture
def snap_core(tmp_path: Path, sqlite_template: Path, config: Config) -> AuthCore:
    db = tmp_path / "snap.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    demo.seed(engine, 60, rng_seed=42, now=FIXED)
    return SnapshotCore(engine, config, actor="ops@bastion", role="admin")


def app_for(core: AuthCore, **kw: Any) -> AuthConsoleApp:
    return create_app(
        core, clock=lambda: FIXED, search_debounce=0.05, refresh_interval=3600, retry_interval=3600, **kw
    )


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        await pilot.pause(0.08)
        await workers_done(pilot.app)
        await pilot.pause()


def alice_id(core: AuthCore) -> int:
    return core.users.find("alice").id


def two_actions(core: AuthCore) -> None:
    alice = alice_id(core)
    sid = core.sessions.for_user(alice)[1].public_id
    core.admin.delete_session(sid, "lost phone (SEC-1041)")
    core.admin.revoke_tokens(alice, "suspected token theft (SEC-1042)")


@pytest.mark.parametrize("size", BOTH, ids=["80x24", "120x40"])
def test_users_start(snap_compare, snap_core: AuthCore, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(snap_core), terminal_size=size, run_before=settle)


def test_users_search_ali(snap_compare, snap_core: AuthCore) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await type_text(pilot, "ali")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), run_before=run_before)


@pytest.mark.parametrize("size", BOTH, ids=["80x24", "120x40"])
def test_user_alice(snap_compare, snap_core: AuthCore, size: tuple[int, int]) -> None:
    two_actions(snap_core)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_user(alice_id(snap_core))
        await settle(pilot)

    assert snap_compare(app_for(snap_core), terminal_size=size, run_before=run_before)


def test_confirm_revoke(snap_compare, snap_core: AuthCore) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_user(alice_id(snap_core))
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("y")  # no reason yet: the dialog says so
        await settle(pilot)

    assert snap_compare(app_for(snap_core), run_before=run_before)


def test_user_read_only(snap_compare, snap_core: AuthCore) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_user(alice_id(snap_core))
        await settle(pilot)

    assert snap_compare(app_for(snap_core, read_only=True), run_before=run_before)


def test_sessions(snap_compare, snap_core: AuthCore) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("escape", "s")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), run_before=run_before)


@pytest.mark.parametrize("size", BOTH, ids=["80x24", "120x40"])
def test_audit(snap_compare, snap_core: AuthCore, size: tuple[int, int]) -> None:
    two_actions(snap_core)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("escape", "a")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), terminal_size=size, run_before=run_before)


def test_token_inspector(snap_compare, snap_core: AuthCore, config: Config) -> None:
    iat = int((FIXED - timedelta(minutes=3)).timestamp())
    token = jwt.encode(
        {
            "sub": str(alice_id(snap_core)),
            "typ": "access",
            "token_version": 0,
            "iat": iat,
            "exp": iat + 900,
            "jti": "snapshot",
            "iss": "authconsole",
            "aud": "authconsole",
        },
        config.tokens.secret,
        algorithm="HS256",
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("escape", "t")
        await settle(pilot)
        pilot.app.screen.query_one(TextArea).focus()
        pilot.app.post_message(events.Paste(token))
        await settle(pilot)

    assert snap_compare(app_for(snap_core), run_before=run_before)


@pytest.mark.parametrize("size", BOTH, ids=["80x24", "120x40"])
def test_activity(snap_compare, snap_core: AuthCore, size: tuple[int, int]) -> None:
    """The live activity screen (``L``) with the recent past: the demo's logins and two operator
    actions, the cursor following the newest."""
    two_actions(snap_core)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("escape", "L")
        # the feed's first read, a tick, the table scrolled to the newest, and the status line
        # past a tick's "last: N events" (kept 3 s: a tick that brought events in late made the
        # picture depend on timing)
        for _ in range(200):
            await settle(pilot)
            table = pilot.app.screen.query("#activity").first()
            status = str(pilot.app.screen.query_one("#status", Static).content)
            if (
                table.row_count
                and table.scroll_y == table.max_scroll_y
                and "polling" in status
                and "last:" not in status
            ):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.4)
        await settle(pilot)

    assert snap_compare(app_for(snap_core), terminal_size=size, run_before=run_before)


def test_help_on_user_screen(snap_compare, snap_core: AuthCore) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_user(alice_id(snap_core))
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), run_before=run_before)


@pytest.mark.parametrize("size", BOTH, ids=["80x24", "120x40"])
def test_attention(snap_compare, snap_core: AuthCore, size: tuple[int, int]) -> None:
    """A refresh reuse of bob's 40 minutes ago, and carol (disabled in the demo) holding a session."""
    from tests.support.attention import add_reuse, add_session

    add_reuse(snap_core, snap_core.users.find("bob").id, FIXED - timedelta(minutes=40), "ses_bob")
    add_session(snap_core, snap_core.users.find("carol").id, FIXED - timedelta(hours=3))

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("escape", "exclamation_mark")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), terminal_size=size, run_before=run_before)


def test_outage_banner(snap_compare, snap_core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*a: Any, **kw: Any) -> Any:
        raise DatabaseUnavailable(f"database unavailable ({URL}): unable to open database file")

    monkeypatch.setattr(snap_core.users, "search", down)
    assert snap_compare(app_for(snap_core), run_before=settle)


def test_hostile_text_is_literal(snap_compare, snap_core: AuthCore) -> None:
    seed_hostile(snap_core)

    async def run_before(pilot: Pilot[Any]) -> None:
        await type_text(pilot, "h")
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), terminal_size=(120, 40), run_before=run_before)


def test_confirm_at_60x15(snap_compare, snap_core: AuthCore) -> None:
    """At 60x15 the dialog stays usable: title, reason, buttons and hint on screen; what will
    happen scrolls inside the dialog (after the empty-reason error, the tightest state)."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_user(alice_id(snap_core))
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        screen = pilot.app.screen
        for part in ("#confirm-title", "#reason", "#cancel", "#confirm-button", "#confirm-hint"):
            region = screen.query_one(part).region
            assert region.height >= 1 and region.bottom <= 14 and region.right <= 60, part

    assert snap_compare(app_for(snap_core), terminal_size=(60, 15), run_before=run_before)


def test_users_at_60x15(snap_compare, snap_core: AuthCore) -> None:
    assert snap_compare(app_for(snap_core), terminal_size=(60, 15), run_before=settle)


@pytest.fixture
def located_core(snap_core: AuthCore, config: Config, tmp_path: Path) -> AuthCore:
    """The snapshot data with a GeoIP file covering the demo's addresses (tests/support/mmdb.py)."""
    from dataclasses import replace

    from tests.support.mmdb import demo_db

    geo = replace(config, geoip_db=demo_db(tmp_path))
    return SnapshotCore(snap_core.engine, geo, actor="ops@bastion", role="admin")


def test_user_alice_located(snap_compare, located_core: AuthCore) -> None:
    """Issue 16.3: the where column (country, ASN) and the device line with the ASN's name."""
    alice = alice_id(located_core)

    async def run_before(pilot: Pilot[Any]) -> None:
        pilot.app.open_user(alice)
        await settle(pilot)

    assert snap_compare(app_for(located_core), terminal_size=(120, 40), run_before=run_before)


def test_sessions_located(snap_compare, located_core: AuthCore) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("escape", "s")
        await settle(pilot)

    assert snap_compare(app_for(located_core), terminal_size=(120, 40), run_before=run_before)


class _Stop(Exception):
    """Ends a bulk run after its first batch, as a killed process would: unfinished, resumable."""


def _stop_after_first(done: int, total: int) -> None:
    raise _Stop


def test_bulk_revoke(snap_compare, snap_core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk screen from the users search: count, first rows, an interrupted run listed."""
    monkeypatch.setattr("authcore.bulk.secrets", SimpleNamespace(token_hex=lambda n: "5eed" * (n // 2)))
    n = snap_core.bulk.preview("example.org").matching
    with pytest.raises(_Stop):
        snap_core.bulk.run(
            "example.org", "old run (SEC-9)", confirm_count=n, batch=2, on_batch=_stop_after_first
        )

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await type_text(pilot, "example.net")
        await settle(pilot)
        await pilot.press("escape", "b")
        await settle(pilot)

    assert snap_compare(app_for(snap_core), terminal_size=(100, 30), run_before=run_before)
