"""Rows for the "needs attention" tests at chosen times: sessions and refresh-reuse events
written as authcore writes them (the models' tables, ``userevents.record``), dated in the past."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select

from authcore import userevents
from authcore.core import AuthCore
from authcore.db import make_engine, write_tx
from authcore.models import sessions, user_events
from authcore.sessions import new_public_id


def add_session(
    core: AuthCore,
    user_id: int,
    at: datetime,
    *,
    ip: str | None = "198.51.100.7",
    ttl: timedelta = timedelta(days=30),
) -> str:
    """A session of ``user_id`` opened at ``at`` from ``ip``; returns its public id."""
    sid = new_public_id()
    with write_tx(core.engine) as conn:
        conn.execute(
            insert(sessions).values(
                public_id=sid,
                token_hash=secrets.token_hex(32),
                user_id=user_id,
                created_at=at,
                last_seen_at=at,
                expires_at=at + ttl,
                first_ip=ip,
                last_ip=ip,
                user_agent="test",
                refresh_counter=0,
            )
        )
    return sid


def add_reuse(core: AuthCore, user_id: int, at: datetime, session_id: str | None = None) -> None:
    """A refresh-reuse event as ``authcore.tokens`` records it, dated ``at``."""
    with write_tx(core.engine) as conn:
        userevents.record(conn, at, userevents.REFRESH_REUSE, user_id, session_id, {"rc": 1})


def user_events_spread(url: str, n_users: int, count: int = 20_000) -> None:
    """``count`` user events over a seeded database's 45 days (``authcore.demo.seed``): logouts,
    and 1 in 20 a refresh reuse, for users 1..``n_users``."""
    rng = random.Random(5)
    engine = make_engine(url)
    try:
        with write_tx(engine) as conn:
            newest = conn.execute(select(func.max(sessions.c.created_at))).scalar_one()
            conn.execute(
                insert(user_events),
                [
                    {
                        "at": newest - timedelta(seconds=rng.randrange(45 * 86400)),
                        "action": userevents.REFRESH_REUSE if i % 20 == 0 else userevents.LOGOUT,
                        "user_id": rng.randrange(1, n_users + 1),
                        "session_id": None,
                        "details": {},
                    }
                    for i in range(count)
                ],
            )
    finally:
        engine.dispose()
