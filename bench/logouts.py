"""Logouts per second under concurrent clients (issue 18.9).

``core.logout(sid)`` -- the session DELETE, a ``logout`` user event and the revocation notice in
one short transaction, no audit-chain lock -- against the same transaction written by hand on
the raw driver (judged), and against the bare DELETE (one autocommit statement, as hand-written
app code without events or notices would do it; info), all with the same number of client
threads, each with its own connection, on sessions made for the run. Rounds alternate so drift
hits every side alike. An info row shows the operator's audited ``admin.delete_session`` under
the same load: what logouts cost while they went through the hash chain's head lock.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.context import Ctx, raw_connect
from bench.harness import Row

Worker = Callable[[list[str]], None]


def _make_sessions(core: Any, n: int) -> list[str]:
    """``n`` fresh sessions spread over enabled users, inserted in one transaction."""
    from sqlalchemy import insert, select

    from authcore.db import write_tx
    from authcore.models import sessions, users
    from authcore.sessions import new_public_id

    now = datetime.now(UTC)
    with write_tx(core.engine) as conn:
        uids = [
            r[0]
            for r in conn.execute(
                select(users.c.id).where(users.c.disabled.is_(False)).order_by(users.c.id).limit(200)
            )
        ]
        rows = [
            {
                "public_id": new_public_id(),
                "token_hash": secrets.token_hex(32),
                "user_id": uids[i % len(uids)],
                "created_at": now,
                "last_seen_at": now,
                "expires_at": now + timedelta(days=1),
                "first_ip": None,
                "last_ip": None,
                "user_agent": "bench",
                "refresh_counter": 0,
            }
            for i in range(n)
        ]
        conn.execute(insert(sessions), rows)
    return [r["public_id"] for r in rows]


def _round(clients: int, per_client: int, core: Any, make_worker: Callable[[], Worker]) -> float:
    """Seconds per logout with ``clients`` threads each ending ``per_client`` sessions."""
    sids = _make_sessions(core, clients * per_client)
    workers = [make_worker() for _ in range(clients)]
    chunks = [sids[i * per_client : (i + 1) * per_client] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def client(w: Worker, chunk: list[str]) -> None:
        barrier.wait()
        try:
            w(chunk)
        except BaseException as e:  # noqa: BLE001 - reported as the row's error
            errors.append(e)

    threads = [threading.Thread(target=client, args=(w, c)) for w, c in zip(workers, chunks, strict=True)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    for w in workers:
        getattr(w, "close", lambda: None)()
    if errors:
        raise errors[0]
    return took / (clients * per_client)


class _RawDelete:
    """One client's raw-driver connection: the bare DELETE, autocommit, one statement."""

    def __init__(self, url: str, pg: bool) -> None:
        self.conn = raw_connect(url)
        self.sql = f"DELETE FROM sessions WHERE public_id = {'%s' if pg else '?'}"

    def __call__(self, sids: list[str]) -> None:
        for sid in sids:
            self.conn.execute(self.sql, (sid,))

    def close(self) -> None:
        self.conn.close()


class _RawLogout(_RawDelete):
    """The same transaction as ``core.logout`` written by hand: DELETE ... RETURNING, the user
    event row, the notice row and (PostgreSQL) its NOTIFY, between BEGIN and COMMIT."""

    def __init__(self, url: str, pg: bool) -> None:
        super().__init__(url, pg)
        ph = "%s" if pg else "?"
        self.pg = pg
        self.sql += " RETURNING user_id, public_id"
        self.event = (
            "INSERT INTO user_events (at, action, user_id, session_id, details) "
            f"VALUES ({ph}, 'logout', {ph}, {ph}, '{{}}')"
        )
        self.notice = (
            "INSERT INTO revocations (at, kind, user_id, token_version, session_id) "
            f"VALUES ({ph}, 'session', {ph}, NULL, {ph})"
        )
        if pg:
            from authcore.notices import CHANNEL

            self.notice = f"WITH r AS ({self.notice}) SELECT pg_notify('{CHANNEL}', %s)"

    def __call__(self, sids: list[str]) -> None:
        c, pg = self.conn, self.pg
        for sid in sids:
            now = datetime.now(UTC)
            at = now if pg else now.replace(tzinfo=None).isoformat(" ")
            c.execute("BEGIN" if pg else "BEGIN IMMEDIATE")
            uid, got = c.execute(self.sql, (sid,)).fetchone()
            c.execute(self.event, (at, uid, got))
            if pg:
                payload = json.dumps({"k": "session", "u": uid, "s": [got]}, separators=(",", ":"))
                c.execute(self.notice, (at, uid, got, payload))
            else:
                c.execute(self.notice, (at, uid, got))
            c.execute("COMMIT")


def logouts(ctx: Ctx, engine: str) -> None:
    core = ctx.core(engine)
    url = ctx.url(engine)
    pg = engine == "postgresql"
    clients = 20 if pg else 8
    # --quick runs the full run's rounds: with 3 rounds of 10 logouts a client the PostgreSQL row
    # read 0.63x-1.61x, and with 7 the SQLite one 1.00x-1.56x. Eight SQLite writers queue on
    # BEGIN IMMEDIATE and wait in SQLite's busy handler, which sleeps in steps of 1-100 ms, so a
    # short round is mostly where those sleeps happened to end (both sides often read the same
    # ~1,360 logouts/s).
    per_client = 40
    rounds = 7

    def ours() -> Worker:
        def w(sids: list[str]) -> None:
            for sid in sids:
                if not core.logout(sid):
                    raise RuntimeError(f"session {sid} was not deleted")

        return w

    def operator() -> Worker:
        def w(sids: list[str]) -> None:
            for sid in sids:
                core.admin.delete_session(sid, "bench logout")

        return w

    sides: dict[str, Callable[[], Worker]] = {
        "ours": ours,
        "same": lambda: _RawLogout(url, pg),
        "bare": lambda: _RawDelete(url, pg),
    }
    for make in sides.values():  # warm-up: pools, prepared statements
        _round(clients, 2, core, make)
    got: dict[str, list[float]] = {k: [] for k in sides}
    for i in range(rounds):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for k in order:
            got[k].append(_round(clients, per_client, core, sides[k]))
    med = {k: sorted(v)[len(v) // 2] for k, v in got.items()}
    ctx.add(
        Row(
            f"logouts {engine}",
            f"core.logout, {clients} clients",
            med["ours"],
            "same tx via raw driver",
            med["same"],
            1.5,
            note=f"{1 / med['ours']:,.0f} vs {1 / med['same']:,.0f} logouts/s (delete + "
            f"user event + notice, one transaction each)",
        )
    )
    ctx.add(
        Row(
            f"logouts {engine}",
            f"core.logout vs the bare DELETE, {clients} clients",
            med["ours"],
            "raw DELETE, autocommit",
            med["bare"],
            0.0,
            info=True,
            note=f"{1 / med['ours']:,.0f} vs {1 / med['bare']:,.0f} logouts/s",
        )
    )
    op = _round(clients, per_client, core, operator)
    ctx.add(
        Row(
            f"logouts {engine}",
            "operator delete_session (audit chain), same load",
            op,
            "core.logout",
            med["ours"],
            0.0,
            info=True,
            note=f"{1 / op:,.0f} logouts/s through the chain's head lock",
        )
    )


def run(ctx: Ctx) -> None:
    for engine in ctx.engines:
        if ctx.has(engine):
            logouts(ctx, engine)
