"""Verifier rows (``authcore.verifier``): propagation, cache-hit cost, reconnect safety.

* revoke -> refused by another process, p95 (``bench.propagation.VerifierNode`` child probes,
  PostgreSQL LISTEN), against raw ``pg_notify`` -> ``notifies()`` in a child process doing
  nothing else;
* strict access verification on a cache hit against ``jwt.decode`` with the same key;
* issue 13: an operator's revoke call (admin role: one SQL function call) -> refused by another
  process, against a hand-written raw audited revoke heard by a bare LISTEN, both timed from
  the start of the call;
* the listener's backend killed with ``pg_terminate_backend`` while revocations commit: after it
  reconnects, none of them may be missed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.context import Ctx, raw_connect
from bench.harness import Row, calibrate, interleave, percentile

ROOT = Path(__file__).resolve().parents[1]

_LISTENER = r"""
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
conn.execute("LISTEN bench_raw")
print("READY", flush=True)
for n in conn.notifies():
    print(f"GOT {n.payload} {time.time():.6f}", flush=True)
    if n.payload == "quit":
        break
"""


# Rounds per side of the two cross-process rows, in --quick too: a p95 needs samples to mean
# anything. Of 20 it was the second slowest round, and one scheduling hiccup of the two
# processes moved the revoke-call ratio from 1.09x to 1.43x in back-to-back runs (medians 1.1x
# in both); 200 rounds take ~2 s. At 200 the owner's revoke -> refused row read 1.33x-1.48x in
# four back-to-back runs (session 8; one full run of session 7 read 1.55x against 1.5x): the
# p95 of 200 is the 10th slowest round, and the tails of two processes on a 2-core machine move
# it. 400 rounds (~4 s a row) read 1.30x-1.44x; with ``wait_refused`` timing a refusal at the
# update's ``applied_at`` (not after its own check, ~30 µs in a process a notice just woke),
# 1.25x-1.32x.
ROUNDS = 400


def available() -> str | None:
    if not (ROOT / "authcore" / "verifier").is_dir():
        return "authcore/verifier/ is not there"
    try:
        import authcore.verifier  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"authcore.verifier does not import: {exc}"
    return None


def _libpq(url: str) -> str:
    from authcore.verifier import libpq_url

    return libpq_url(url)


def _dedicated_user(core: Any, tag: str) -> int:
    from sqlalchemy import select

    from authcore.models import users

    email = f"bench-verifier-{tag}@example.invalid"
    with core.engine.connect() as conn:
        row = conn.execute(select(users.c.id).where(users.c.email == email)).first()
    if row is not None:
        return int(row[0])
    return core.users.create(email, f"bench-verifier-{tag}", "Bench Verifier").id


class RawNotify:
    """Raw psycopg: a transaction that writes and ``pg_notify``s, timed from COMMIT sent (as
    ``measure_propagation`` times from the revoke's COMMIT) to a child receiving it (ms)."""

    def __init__(self, url: str, user_id: int, channel: str = "bench_raw") -> None:
        self.user_id = user_id
        self.channel = channel
        script = _LISTENER.replace("bench_raw", channel)
        self.child = subprocess.Popen(
            [sys.executable, "-c", script, _libpq(url)], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.child.stdout is not None
        assert self.child.stdout.readline().startswith("READY")
        self.sender = raw_connect(url)
        self.sender.autocommit = False
        self.n = 0

    def round(self) -> float:
        assert self.child.stdout is not None
        self.n += 1
        self.sender.execute(
            "UPDATE users SET token_version = token_version + 1 WHERE id = %s", (self.user_id,)
        )
        self.sender.execute("SELECT pg_notify(%s, %s)", (self.channel, str(self.n)))
        t0 = time.time()
        self.sender.commit()
        line = self.child.stdout.readline().split()
        return max(0.0, (float(line[2]) - t0) * 1000)

    def close(self) -> None:
        try:
            self.sender.execute("SELECT pg_notify(%s, 'quit')", (self.channel,))
            self.sender.commit()
            self.child.wait(timeout=10)
            self.cleanup()
        finally:
            if self.child.poll() is None:
                self.child.kill()
            self.sender.close()

    def cleanup(self) -> None:
        """What a round left behind, removed before the connection closes (nothing here)."""


def propagation(ctx: Ctx) -> None:
    """Ours and the raw baseline alternate round by round (ABBA), so both see the same load."""
    from authcore import fastpath
    from bench.propagation import PropagationStats, VerifierNode, measure_propagation

    core = ctx.core("postgresql")
    uid = _dedicated_user(core, "propagation")
    rounds = ROUNDS
    ours: list[float] = []
    raw: list[float] = []
    timeouts = 0
    base = RawNotify(ctx.url("postgresql"), _dedicated_user(core, "rawnotify"))
    try:
        with VerifierNode(core=core) as node:  # the core's own keys, whatever the env holds
            for i in range(rounds):
                for side in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
                    if side == "raw":
                        raw.append(base.round())
                    else:
                        one = measure_propagation(core, uid, [node], rounds=1, timeout=10)
                        ours.extend(one.samples_ms)
                        timeouts += one.timeouts
                    time.sleep(0.002)
    finally:
        base.close()
    stats = PropagationStats(tuple(ours), timeouts)
    row = Row(
        "verifier postgresql",
        f"revoke -> refused by another process, p95 of {stats.n}",
        stats.p95 / 1000,
        "raw write + pg_notify -> notifies() p95",
        percentile(raw, 95) / 1000,
        1.5,
        note=f"ours {stats.summary()}; raw p50 {percentile(raw, 50):.2f} ms (both timed "
        f"from COMMIT sent to the other process noticing, rounds interleaved; revokes on "
        f"{'the fast path' if fastpath.is_fast(core.engine) else 'SQLAlchemy (fast_paths off)'})",
    )
    if stats.timeouts:
        row.error = f"{stats.timeouts} revocations never refused"
    ctx.add(row)


def cache_hit(ctx: Ctx, engine: str) -> None:
    import jwt

    from authcore.tokens import _REQUIRED
    from authcore.verifier import Verifier

    core = ctx.core(engine)
    uid = _dedicated_user(core, "cache")
    token = core.tokens.issue_pair(uid).access_token
    ts = core.config.tokens
    key = core.keyring.keys[0]
    options = {"require": list(_REQUIRED)}
    with Verifier(core, ready_timeout=10) as v:
        v.verify_access(token)  # the miss that loads the user; every later call is a hit

        def ours() -> object:
            return v.verify_access(token)

        def base() -> object:
            return jwt.decode(
                token,
                key.verify_key,
                algorithms=[key.alg],
                audience=ts.audience,
                issuer=ts.issuer,
                leeway=ts.leeway.total_seconds(),
                options=options,
            )

        s = interleave(ours, base, samples=15 if ctx.quick else 41, inner=calibrate(base), warmup=3)
        fresh = v.is_fresh()
    row = Row(
        f"verifier {engine}", "strict access verify, cache hit", s.stat("a"), "jwt.decode", s.stat("b"), 1.05
    )
    if not fresh:
        row.error = "verifier was not fresh (cache not in use)"
    ctx.add(row)


def reconnect(ctx: Ctx) -> None:
    """Kill the listener's backend; revoke users while it is away; none may be missed."""
    from authcore.errors import TokenError
    from authcore.verifier import Verifier

    core = ctx.core("postgresql")
    uids = [_dedicated_user(core, f"reconnect{i}") for i in range(10 if ctx.quick else 20)]
    tokens = {u: core.tokens.issue_pair(u).access_token for u in uids}
    app = f"bench-verifier-{os.getpid()}"
    with Verifier(core, ready_timeout=10, application_name=app, staleness=30) as v:
        for t in tokens.values():
            v.verify_access(t)  # cached as valid
        killer = raw_connect(ctx.url("postgresql"))
        stop = threading.Event()

        def kill_loop() -> None:  # keep killing it while the revocations commit
            while not stop.is_set():
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (app,),
                )
                time.sleep(0.005)

        th = threading.Thread(target=kill_loop)
        th.start()
        try:
            for u in uids:
                core.admin.revoke_tokens(u, "bench: revoke during listener outage")
        finally:
            stop.set()
            th.join()
            killer.close()
        deadline = time.monotonic() + 20
        missed = list(uids)
        while missed and time.monotonic() < deadline:
            still = []
            for u in missed:
                try:
                    v.verify_access(tokens[u])
                    still.append(u)
                except TokenError:
                    pass
            missed = still
            if missed:
                time.sleep(0.05)
        reconnects = v.stats().reconnects
    ctx.add(
        Row(
            "verifier postgresql",
            f"listener killed during {len(uids)} revocations: missed after reconnect",
            float(len(missed)),
            "revocations",
            float(len(uids)),
            0.0,
            unit="count",
            note=f"listener reconnects: {reconnects}",
        )
    )


class RawAuditedRevoke(RawNotify):
    """The issue-13 baseline, hand-written in raw psycopg: ``UPDATE users ... RETURNING``, one
    audit INSERT (hash computed as authcore does; a negative seq, outside the chain, deleted
    afterwards) and ``pg_notify``, one transaction, heard by a bare LISTEN in a child process.
    Timed from the start of the call to the child receiving the notice (ms)."""

    def __init__(self, url: str, user_id: int) -> None:
        # a channel of this run's own: another bench on the same database cannot talk into it
        super().__init__(url, user_id, f"bench_audited_{os.getpid()}_{id(self)}")

    def round(self) -> float:
        import json
        from datetime import UTC, datetime

        from authcore.audit import event_hash

        assert self.child.stdout is not None
        self.n += 1
        t0 = time.time()
        (v,) = self.sender.execute(
            "UPDATE users SET token_version = token_version + 1 WHERE id = %s RETURNING token_version",
            (self.user_id,),
        ).fetchone()
        now = datetime.now(UTC)
        details = {"old_version": v - 1, "new_version": v}
        h = event_hash(-self.n, now, "bench", "revoke_tokens", self.user_id, None, "bench", details, "0" * 64)
        self.sender.execute(
            "INSERT INTO audit_events (seq, at, actor, action, target_user_id, target_session, "
            "reason, details, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                -self.n,
                now,
                "bench",
                "revoke_tokens",
                self.user_id,
                None,
                "bench",
                json.dumps(details),
                "0" * 64,
                h,
            ),
        )
        self.sender.execute("SELECT pg_notify(%s, %s)", (self.channel, str(self.n)))
        self.sender.commit()
        line = self.child.stdout.readline().split()
        assert line[1] == str(self.n), line  # this round's notice, nothing older
        return max(0.0, (float(line[2]) - t0) * 1000)

    def cleanup(self) -> None:
        # the append-only trigger refuses DELETE: the bench runs as the superuser
        self.sender.execute("SET LOCAL session_replication_role = replica")
        self.sender.execute("DELETE FROM audit_events WHERE seq < 0")
        self.sender.commit()


def revoke_call(ctx: Ctx) -> None:
    """Issue 13: from the start of an operator's revoke call (an ``authconsole_admin`` login
    role: one round trip, ``authcore_revoke_tokens``) to refusal by a ``Verifier`` in another
    process, against ``RawAuditedRevoke``; rounds interleaved (ABBA). The roles get a per-run
    prefix and are dropped afterwards (role names are cluster-wide)."""
    import uuid

    from sqlalchemy.engine import make_url

    from authcore import pgroles
    from bench.context import make_core
    from bench.propagation import VerifierNode

    owner = ctx.core("postgresql")
    url = ctx.url("postgresql")
    prefix = "bench" + uuid.uuid4().hex[:8] + "_"
    login = prefix + "ops"
    pgroles.apply(owner.engine, prefix)
    with owner.engine.begin() as c:
        c.exec_driver_sql(f"CREATE ROLE {login} LOGIN IN ROLE {prefix}{pgroles.ADMIN}")
    admin = make_core(make_url(url).set(username=login).render_as_string(hide_password=False))
    uid = _dedicated_user(owner, "revoke-call")
    rounds = ROUNDS
    ours: list[float] = []
    raw: list[float] = []
    timeouts = 0
    base = RawAuditedRevoke(url, _dedicated_user(owner, "raw-audited"))
    try:
        assert not pgroles.direct_writer(admin.engine)  # the function path is what is timed
        with VerifierNode(core=owner) as node:  # the same keys as the admin's core
            for i in range(rounds):
                for side in ("ours", "raw") if i % 2 == 0 else ("raw", "ours"):
                    if side == "raw":
                        raw.append(base.round())
                    else:
                        token = admin.tokens.issue_pair(uid).access_token
                        node.arm(token, 10)
                        t0 = time.time()
                        admin.admin.revoke_tokens(uid, "bench revoke call")
                        t = node.refused_at(10)
                        if t is None:
                            timeouts += 1
                        else:
                            ours.append(max(0.0, (t - t0) * 1000))
                    time.sleep(0.002)
    finally:
        base.close()
        admin.dispose()
        with owner.engine.begin() as c:
            c.exec_driver_sql(f"DROP ROLE IF EXISTS {login}")
            for stmt in pgroles.drop_sql(prefix):
                c.exec_driver_sql(stmt)
    row = Row(
        "verifier postgresql",
        f"revoke call (admin role, one round trip) -> refused by another process, p95 of {len(ours)}",
        percentile(ours, 95) / 1000,
        "raw UPDATE+audit INSERT+pg_notify tx -> LISTEN p95",
        percentile(raw, 95) / 1000,
        1.2,
        note=f"ours p50 {percentile(ours, 50):.2f} ms, raw p50 "
        f"{percentile(raw, 50):.2f} ms (both from the start of the call to "
        f"the other process noticing, rounds interleaved)",
    )
    if timeouts:
        row.error = f"{timeouts} revocations never refused"
    ctx.add(row)


def run(ctx: Ctx) -> None:
    why = available()
    if why:
        ctx.add(Row("verifier", "verifier rows", float("nan"), "", 0, 1.0, error=why))
        return
    for engine in ctx.engines:
        if ctx.has(engine):
            cache_hit(ctx, engine)
    if ctx.has("postgresql"):
        propagation(ctx)
        revoke_call(ctx)
        reconnect(ctx)
