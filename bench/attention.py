"""Needs attention at scale (``authcore.attention``): each signal's statements at the large size
against the same at the small one, in the same run, on the seeded databases (read only).

- refresh reuse and disabled users holding sessions answer from their index (a window of one
  action; the disabled users newest first, stopping at the limit): the large figure against the
  small one, as is.
- session bursts and new places read the window's sessions (all of them; the newest
  ``PLACE_CHECKS``), so their work grows with logins per window, not with the tables: judged per
  session read, the large size against the small one. The GeoIP file is written for the run
  (``mmdb-writer``, a test dependency) and places the seed's public networks.

Every statement's plan at the large size must name its index (``Attention.explain``), else the
row is an error. "now" is each dataset's newest session: the seed's own time, or the run's when
earlier sections left sessions of theirs.

Earlier sections log in and out tens of thousands of times on the same databases, at the run's
"now": the newest end of ``ix_sessions_created``, which these statements read first, then holds
dead entries. Nothing here vacuums them away (an operator's table has them too, until autovacuum
runs; migration 0012). On PostgreSQL each row's note says how many dead rows ``sessions`` had
when the section started and whether the server runs autovacuum, and a signal whose statement
fails (a timeout) is that row's error, not the section's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.context import Ctx
from bench.datasets import label
from bench.harness import Row, interleave

WINDOW = timedelta(hours=24)
INDEXES = {
    "refresh_reuse": "ix_user_events_action_at",
    "session_burst": "ix_sessions_created",
    "session_burst times": "ix_sessions_user_created",
    "disabled_sessions": "ix_users_disabled_at",
    "new_place": "ix_sessions_created",
    "new_place history": "ix_sessions_user_created",
}


def geoip_file(directory: Path) -> Path:
    """An MMDB file placing each of the seed's public /8 networks in its own country and ASN."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    from authcore.demo.people import PUBLIC_NETS

    w = MMDBWriter(ip_version=6, database_type="ipinfo_lite", ipv4_compatible=True)
    for i, net in enumerate(PUBLIC_NETS):
        country = ("DE", "FR", "US", "JP", "BR", "IN", "GB", "NL")[i % 8]
        w.insert_network(IPSet([f"{net}.0.0.0/8"]), {"country_code": country, "asn": f"AS{64500 + i}"})
    path = directory / "bench-places.mmdb"
    w.to_db_file(str(path))
    return path


class Side:
    """One dataset: its signals, its "now" and the number of sessions in the window."""

    def __init__(self, core: Any, geoip: Any) -> None:
        from sqlalchemy import func, select

        from authcore.attention import Attention
        from authcore.config import AttentionSettings
        from authcore.db import read_conn
        from authcore.models import sessions

        self.engine = core.engine
        self.att = Attention(core.engine, AttentionSettings(), geoip)
        with read_conn(self.engine) as conn:
            self.now: datetime = conn.execute(select(func.max(sessions.c.created_at))).scalar_one()
            self.start = self.now - WINDOW
            self.window = int(
                conn.execute(
                    select(func.count()).where(
                        sessions.c.created_at >= self.start, sessions.c.created_at <= self.now
                    )
                ).scalar_one()
            )

    def call(self, signal: str) -> Callable[[], object]:
        from authcore.attention import DEFAULT_LIMIT
        from authcore.db import read_conn

        def run() -> object:
            with read_conn(self.engine) as conn:
                if signal == "disabled_sessions":
                    return self.att.disabled_sessions(conn, self.now, DEFAULT_LIMIT)
                return getattr(self.att, signal)(conn, self.start, self.now, DEFAULT_LIMIT)

        return run


def churn_note(engine: Any) -> str:
    """PostgreSQL: the dead rows ``sessions`` holds now (the statistics' count) and whether
    autovacuum runs on the server; "" on SQLite."""
    from sqlalchemy import text

    from authcore.db import read_conn

    if engine.dialect.name != "postgresql":
        return ""
    with read_conn(engine) as conn:
        dead = conn.execute(
            text("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'sessions'")
        ).scalar()
        auto = conn.execute(text("SHOW autovacuum")).scalar()
    return f"sessions: {int(dead or 0):,} dead rows at start, autovacuum {auto}"


def attention(ctx: Ctx, engine: str, geoip: Any) -> None:
    from authcore.attention import PLACE_CHECKS
    from authcore.errors import AuthCoreError

    churn = churn_note(ctx.core(engine).engine)
    big, small = Side(ctx.core(engine), geoip), Side(ctx.core(engine, ctx.small), geoip)
    plans = dict(big.att.explain(WINDOW, now=big.now))
    missing = [f"{name}: no {ix}" for name, ix in INDEXES.items() if ix not in plans.get(name, "")]
    sizes = f"{label(ctx.big)} vs {label(ctx.small)}"
    n = 6 if ctx.quick else 15
    for signal, per, target in (
        ("refresh_reuse", None, 2.0),
        ("disabled_sessions", None, 3.0),
        ("session_burst", "window", 2.0),
        ("new_place", "checked", 2.0),
    ):
        figure = f"{signal} ({engine}), {sizes}"
        try:
            found_big = big.call(signal)()
            s = interleave(big.call(signal), small.call(signal), samples=n, budget_s=30 if ctx.quick else 60)
        except AuthCoreError as exc:  # a statement timeout: this row's error, with the churn state
            failed = f"{type(exc).__name__}: {exc}" + (f" ({churn})" if churn else "")
            ctx.add(Row("attention", figure, float("nan"), label(ctx.small), 0.0, target, error=failed))
            continue
        value, base = s.stat("a"), s.stat("b")
        note = f"{len(found_big[0])} findings at {label(ctx.big)}"  # type: ignore[index]
        if per is not None:
            nb = big.window if per == "window" else min(big.window, PLACE_CHECKS)
            ns = small.window if per == "window" else min(small.window, PLACE_CHECKS)
            value, base = value / max(nb, 1), base / max(ns, 1)
            figure = f"{signal} ({engine}), per session {per}, {sizes}"
            note += f"; {nb:,} vs {ns:,} sessions {per} in the 24 h window"
        if churn:
            note += f"; {churn}"
        bad = [m for m in missing if m.startswith(signal)]
        ctx.add(
            Row(
                "attention",
                figure,
                value,
                f"{label(ctx.small)}",
                base,
                target,
                note=note,
                error=f"plan without its index: {'; '.join(bad)}" if bad else None,
            )
        )


def run(ctx: Ctx) -> None:
    from authcore.geoip import GeoIP

    with tempfile.TemporaryDirectory(prefix="bench-attention-") as tmp:
        geoip = GeoIP.open(geoip_file(Path(tmp)))
        try:
            for engine in ctx.engines:
                if ctx.has(engine) and ctx.has(engine, ctx.small):
                    attention(ctx, engine, geoip)
        finally:
            geoip.close()
