"""bench.activity_load --writes: authcore's own login INSERT and rotation UPDATE, batched, seen by
the operator's feed as the logins and refreshes they stand for, on both engines (on PostgreSQL
each by its NOTIFY; on SQLite from the rows, where a poll sees a session's newest rotation), and
on the console's activity screen."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from authcore.activity import Kind, login_key, refresh_key
from authcore.core import AuthCore
from authcore.db import read_conn
from authcore.models import sessions
from tests.support.tui import make_app, open_activity, rows, until

ROOT = Path(__file__).resolve().parents[1]


def generate(url: str, rate: int, seconds: int) -> int:
    """Run the write mode for ``seconds``; the events it committed (its ``RAN`` line)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.activity_load", "--writes", url, str(rate), "1", str(seconds)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.splitlines()[0] == "READY" and out.stderr == ""
    return int(out.stdout.splitlines()[1].split()[1])


def test_the_write_mode_is_seen_as_logins_and_refreshes(core: AuthCore, db_url: str) -> None:
    ids = {core.users.create(f"u{i}@example.com", f"u{i}").id for i in range(3)}
    feed = core.activity.follow(poll_s=0.05)
    try:
        assert feed.primed.wait(10)
        ran = generate(db_url, 400, 1)
        with read_conn(core.engine) as conn:
            rows = conn.execute(
                select(
                    sessions.c.public_id,
                    sessions.c.user_id,
                    sessions.c.token_hash,
                    sessions.c.refresh_counter,
                )
            ).all()
        assert rows and all(r.user_id in ids and r.public_id.startswith("ses_") for r in rows)
        assert all(len(r.token_hash) == 64 for r in rows)
        rotations = sum(r.refresh_counter for r in rows)
        assert len(rows) + rotations == ran and rotations > 0
        logins = {login_key(r.public_id) for r in rows}
        newest = {refresh_key(r.public_id, r.refresh_counter) for r in rows if r.refresh_counter}
        every = {refresh_key(r.public_id, c) for r in rows for c in range(1, r.refresh_counter + 1)}
        seen: set[str] = set()
        end = time.monotonic() + 15
        while not (logins | newest) <= seen and time.monotonic() < end:
            seen |= {e.key for e in feed.drain(100_000).events if e.kind in (Kind.LOGIN, Kind.REFRESH)}
            time.sleep(0.1)
        assert (logins | newest) <= seen <= logins | every
        if core.engine.dialect.name == "postgresql":  # one NOTIFY per write
            time.sleep(0.3)
            seen |= {e.key for e in feed.drain(100_000).events}
            assert seen == logins | every
    finally:
        feed.close()


async def test_the_activity_screen_shows_them(core: AuthCore, db_url: str) -> None:
    core.users.create("ann@example.com", "ann")
    app = make_app(core)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_activity(pilot)
        await asyncio.to_thread(generate, db_url, 200, 1)
        await until(
            pilot,
            lambda: (
                {"login", "refresh"} <= {r[1] for r in rows(app, "#activity") if r[2] == "ann@example.com"}
            ),
        )
