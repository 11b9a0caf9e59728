"""Revocation notices: a row in ``revocations`` plus, on PostgreSQL, a ``NOTIFY``.

Both happen inside the caller's transaction, so a rolled-back change announces nothing.
Verifiers LISTEN on ``CHANNEL`` (PostgreSQL) or poll the table (SQLite, and after a reconnect).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from authcore.models import revocations

CHANNEL = "authcore_revocations"
_SIDS_PER_NOTICE = 100
_INSERT = insert(revocations)
_NOTIFY = select(__import__("sqlalchemy").func.pg_notify(CHANNEL, bindparam("payload")))


def publish(conn: Connection, at: datetime, kind: str, user_ids: Sequence[int],
            versions: Sequence[int | None] | None = None,
            session_ids: Iterable[str] = ()) -> None:
    """Record and announce a revocation. ``kind``: version, disabled, enabled, session."""
    sids = list(session_ids)
    if kind == "session":
        uid = user_ids[0]
        rows = [{"at": at, "kind": kind, "user_id": uid, "token_version": None, "session_id": s}
                for s in sids]
        payloads = [{"k": kind, "u": uid, "s": sids[i:i + _SIDS_PER_NOTICE]}
                    for i in range(0, len(sids), _SIDS_PER_NOTICE)]
    else:
        vs = list(versions) if versions is not None else [None] * len(user_ids)
        rows = [{"at": at, "kind": kind, "user_id": u, "token_version": v, "session_id": None}
                for u, v in zip(user_ids, vs, strict=True)]
        payloads = [{"k": kind, "u": [r["user_id"] for r in rows[i:i + 500]],
                     "v": [r["token_version"] for r in rows[i:i + 500]]}
                    for i in range(0, len(rows), 500)]
    if not rows:
        return
    conn.execute(_INSERT, rows)
    if conn.dialect.name == "postgresql":
        for p in payloads:
            conn.execute(_NOTIFY, {"payload": json.dumps(p, separators=(",", ":"))})
