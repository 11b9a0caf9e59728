"""Hot paths: token verification, session resolve, version bump, bulk revoke.

Each authcore call is timed against a hand-written raw-driver equivalent doing the same work:
the same SQL text (rendered from authcore's own statements, see ``bench.rawsql``), the same
parameters, the same hashing/JSON where the work is inherent (digests, audit hash chain).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.context import Ctx, checkpointer, make_core, raw_connect
from bench.harness import Row, calibrate, interleave
from bench.rawsql import statement

ALGS = ("HS256", "RS256", "ES256", "EdDSA")


def _driver_now(postgres: bool) -> Any:
    now = datetime.now(UTC)
    return now if postgres else now.replace(tzinfo=None).isoformat(" ")


def _write_key(alg: str, folder: Path) -> Path | None:
    if alg == "HS256":
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg == "RS256":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = folder / f"{alg}.pem"
    path.write_bytes(pem)
    return path


def access_tokens(ctx: Ctx) -> None:
    """verify_access (no database) vs jwt.decode with the same pre-loaded key and options."""
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ALGS:
            _access_token(ctx, alg, _write_key(alg, Path(tmp)))


def _access_token(ctx: Ctx, alg: str, key_file: Path | None) -> None:
    import jwt

    from authcore.config import TokenSettings
    from authcore.keys import KeyRing
    from authcore.tokens import _REQUIRED, TokenService

    ts = TokenSettings(secret="bench-secret-" + "b" * 40, algorithm=alg, private_key_file=key_file)
    svc = TokenService(None, ts, KeyRing.from_settings(ts, ts.secret))
    token = svc.issue_pair(42, token_version=3).access_token
    key = svc.keyring.keys[0]
    vk, audience, issuer = key.verify_key, ts.audience, ts.issuer
    leeway, options = ts.leeway.total_seconds(), {"require": list(_REQUIRED)}

    def ours() -> object:
        return svc.verify_access(token)

    def base() -> object:
        return jwt.decode(
            token, vk, algorithms=[alg], audience=audience, issuer=issuer, leeway=leeway, options=options
        )

    s = interleave(ours, base, samples=15 if ctx.quick else 41, inner=calibrate(base), warmup=2)
    ctx.add(Row("tokens", f"verify access {alg}", s.stat("a"), "jwt.decode", s.stat("b"), 1.1))


def _first_user(conn_core: Any) -> int:
    from sqlalchemy import func, select

    from authcore.models import users

    with conn_core.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.min(users.c.id)).where(users.c.disabled.is_(False), users.c.id > 100)
            ).scalar_one()
        )


def sessions_and_refresh(ctx: Ctx, engine: str) -> None:
    import jwt

    from authcore.sessions import _RESOLVE
    from authcore.tokens import _CHECK, _REQUIRED

    core = ctx.core(engine)
    pg = engine == "postgresql"
    raw = raw_connect(ctx.url(engine))
    samples = 21 if ctx.quick else 61
    uid = _first_user(core)
    session, token = core.sessions.create(uid, ip="203.0.113.5", user_agent="bench")

    # -- resolve: one indexed join ------------------------------------------------------------
    sql, pack = statement(core.engine, _RESOLVE)

    def resolve_raw() -> object:
        h = hashlib.sha256(token.encode()).hexdigest()
        return raw.execute(sql, pack(h=h, now=_driver_now(pg))).fetchone()

    assert core.sessions.resolve(token) is not None and resolve_raw() is not None
    s = interleave(
        lambda: core.sessions.resolve(token),
        resolve_raw,
        samples=samples,
        inner=calibrate(resolve_raw, 0.004),
        warmup=3,
    )
    ctx.add(
        Row(f"sessions {engine}", "session resolve", s.stat("a"), "raw join", s.stat("b"), 1.5 if pg else 2.0)
    )

    # -- refresh verification: signature + one PK select --------------------------------------
    pair = core.tokens.issue_pair(uid, sid=session.public_id)
    tok = pair.refresh_token
    ts = core.config.tokens
    key = core.keyring.keys[0]
    csql, cpack = statement(core.engine, _CHECK)
    options = {"require": list(_REQUIRED)}

    def refresh_raw() -> object:
        claims = jwt.decode(
            tok,
            key.verify_key,
            algorithms=[key.alg],
            audience=ts.audience,
            issuer=ts.issuer,
            leeway=ts.leeway.total_seconds(),
            options=options,
        )
        return raw.execute(csql, cpack(uid=int(claims["sub"]), sid=claims["sid"])).fetchone()

    assert refresh_raw() is not None
    core.tokens.verify_refresh(tok)
    s = interleave(
        lambda: core.tokens.verify_refresh(tok),
        refresh_raw,
        samples=samples,
        inner=calibrate(refresh_raw, 0.004),
        warmup=3,
    )
    ctx.add(
        Row(
            f"sessions {engine}",
            "verify refresh + DB check",
            s.stat("a"),
            "jwt.decode + raw PK select",
            s.stat("b"),
            1.2,
        )
    )
    core.sessions.logout(token)
    raw.close()


def bump(ctx: Ctx, engine: str) -> None:
    """revoke_tokens (bump + audit + notice) vs raw UPDATE + INSERT in one transaction."""
    from authcore.audit import event_hash

    core = ctx.core(engine)
    pg = engine == "postgresql"
    raw = raw_connect(ctx.url(engine))
    uid = _first_user(core) + 1
    samples = 15 if ctx.quick else 41
    seq = [0]
    ph = "%s" if pg else "?"
    upd = f"UPDATE users SET token_version = token_version + 1 WHERE id = {ph}"
    ins = (
        "INSERT INTO audit_events (seq, at, actor, action, target_user_id, target_session, "
        f"reason, details, prev_hash, hash) VALUES ({', '.join([ph] * 10)})"
    )

    def base() -> None:
        seq[0] -= 1  # negative seqs: outside authcore's chain, deleted afterwards
        now = datetime.now(UTC)
        details = {"old_version": 0, "new_version": 1}
        h = event_hash(seq[0], now, "bench", "revoke_tokens", uid, None, "bench", details, "0" * 64)
        at = now if pg else now.replace(tzinfo=None).isoformat(" ")
        if pg:
            with raw.transaction():
                raw.execute(upd, (uid,))
                raw.execute(
                    ins,
                    (
                        seq[0],
                        at,
                        "bench",
                        "revoke_tokens",
                        uid,
                        None,
                        "bench",
                        json.dumps(details),
                        "0" * 64,
                        h,
                    ),
                )
        else:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(upd, (uid,))
            raw.execute(
                ins,
                (seq[0], at, "bench", "revoke_tokens", uid, None, "bench", json.dumps(details), "0" * 64, h),
            )
            raw.execute("COMMIT")

    def ours() -> None:
        core.admin.revoke_tokens(uid, "bench")

    # SQLite: each sample pays its own WAL checkpoint (``checkpointer``; the median flipped
    # between 1.7x and 3x without). 90 calls a sample: ~1,000 pages of ours, the cadence the
    # autocheckpoint gives it. PostgreSQL checkpoints in the background, by time.
    frames: dict[str, list[int]] = {}
    checkpoint = None if pg else checkpointer(raw, frames=frames)

    try:
        inner = calibrate(base, 0.01, 50) if pg else 90
        s = interleave(ours, base, samples=samples, inner=inner, warmup=2, after=checkpoint)
        note = ""
        if frames:
            note = (
                f"pages written per call (WAL frames checkpointed per sample / {inner}): "
                f"{statistics.median(frames['a']) / inner:.1f} vs "
                f"{statistics.median(frames['b']) / inner:.1f}; "
                "each sample pays its own checkpoint"
            )
        ctx.add(
            Row(
                f"revoke {engine}",
                "bump one user's version (with audit)",
                s.stat("a"),
                "raw UPDATE + INSERT tx",
                s.stat("b"),
                2.0,
                note=note,
            )
        )
    finally:
        if pg:  # the append-only trigger refuses DELETE; the bench runs as the superuser
            with raw.transaction():
                raw.execute("SET LOCAL session_replication_role = replica")
                raw.execute("DELETE FROM audit_events WHERE seq < 0")
        else:
            raw.execute("DELETE FROM audit_events WHERE seq < 0")
        raw.close()


def bulk_revoke(ctx: Ctx, engine: str) -> None:
    """revoke_tokens_many over 10,000 users vs the same transaction through the raw driver."""
    from authcore import notices
    from authcore.audit import event_hash

    core = ctx.core(engine)
    pg = engine == "postgresql"
    n = 1000 if ctx.quick else 10_000
    raw = raw_connect(ctx.url(engine))
    first = _first_user(core) + 10
    ids_a = list(range(first, first + n))
    ids_b = list(range(first + n, first + 2 * n))
    ph = "%s" if pg else "?"
    marks = ", ".join([ph] * n)
    # hand-written as apps write it: one placeholder per id (authcore binds the id list as one
    # value: a bigint[] on PostgreSQL, a JSON array read by json_each on SQLite)
    bump_sql = (
        f"UPDATE users SET token_version=(users.token_version + %s::INTEGER) WHERE "
        f"users.id IN ({marks}) RETURNING users.id, users.token_version, users.email"
        if pg
        else f"UPDATE users SET token_version=(users.token_version + ?) WHERE users.id IN "
        f"({marks}) RETURNING id, token_version, email"
    )
    # as audit.append reads it: PostgreSQL's column default writes session_user as db_role,
    # which the hash covers
    head_sql = (
        "SELECT seq, hash, session_user FROM audit_head WHERE id = 1 FOR UPDATE"
        if pg
        else "SELECT seq, hash, NULL FROM audit_head WHERE id = 1"
    )
    ins_sql = (
        "INSERT INTO audit_events (seq, at, actor, action, target_user_id, "
        "target_session, reason, details, prev_hash, hash) VALUES "
        f"({', '.join([ph] * 10)})"
    )
    head_upd = f"UPDATE audit_head SET seq = {ph}, hash = {ph} WHERE id = 1"
    rev_sql = (
        "INSERT INTO revocations (at, kind, user_id, token_version, session_id) VALUES "
        f"({', '.join([ph] * 5)})"
    )

    def base() -> None:
        now = datetime.now(UTC)
        at = now if pg else now.replace(tzinfo=None).isoformat(" ")
        cur = raw.cursor()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        elif raw.info.transaction_status == 0:
            cur.execute("BEGIN")
        rows = sorted(cur.execute(bump_sql, (1, *ids_b)).fetchall())
        seq, prev, role = cur.execute(head_sql).fetchone()
        events = []
        for uid, tv, _email in rows:
            seq += 1
            details = {"old_version": tv - 1, "new_version": tv, "bulk": True}
            h = event_hash(seq, now, "bench", "revoke_tokens", uid, None, "bench", details, prev, None, role)
            events.append(
                (seq, at, "bench", "revoke_tokens", uid, None, "bench", json.dumps(details), prev, h)
            )
            prev = h
        cur.executemany(ins_sql, events)
        cur.execute(head_upd, (seq, prev))
        cur.executemany(rev_sql, [(at, "version", uid, tv, None) for uid, tv, _ in rows])
        if pg:
            for i in range(0, len(rows), 500):
                part = rows[i : i + 500]
                payload = json.dumps(
                    {"k": "version", "u": [r[0] for r in part], "v": [r[1] for r in part]},
                    separators=(",", ":"),
                )
                cur.execute("SELECT pg_notify(%s, %s)", (notices.CHANNEL, payload))
        cur.execute("COMMIT")

    def ours() -> None:
        core.admin.revoke_tokens_many(ids_a, "bench")

    if pg:
        raw.autocommit = False
    # Seven samples in --quick too: a median of 3 moved 0.96x-1.79x. SQLite: each sample's
    # WAL checkpointed in its own time, as in ``bump`` (a call writes several thousand pages).
    s = interleave(ours, base, samples=7, inner=1, warmup=1, after=None if pg else checkpointer(raw))
    if pg:
        raw.rollback()
        raw.autocommit = True
    from authcore.audit import verify_chain

    ok = verify_chain(core.engine).ok
    row = Row(
        f"revoke {engine}",
        f"bulk revoke {n:,} users, one transaction",
        s.stat("a"),
        "raw-driver equivalent",
        s.stat("b"),
        1.5,
    )
    if not ok:
        row.error = "audit chain broken after the run"
    ctx.add(row)
    raw.close()


def run(ctx: Ctx) -> None:
    access_tokens(ctx)
    for engine in ctx.engines:
        if not ctx.has(engine):
            continue
        sessions_and_refresh(ctx, engine)
        bump(ctx, engine)
        bulk_revoke(ctx, engine)


__all__ = ["make_core", "run"]
