"""The append-only, hash-chained audit log.

Every event stores ``hash = sha256(canonical(content) + prev_hash)``; ``audit_head`` holds the
newest sequence number and hash, and its row lock serialises writers on PostgreSQL (SQLite writers
are serialised by ``BEGIN IMMEDIATE``). ``verify_chain`` finds the first altered, deleted or
reordered event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from authcore.db import read_conn
from authcore.models import GENESIS_HASH, audit_events, audit_head


@dataclass
class EventIn:
    """An event to append; ``at``/``seq``/hashes are filled in by ``append``."""

    action: str
    actor: str
    reason: str = ""
    target_user_id: int | None = None
    target_session: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    seq: int
    at: datetime
    actor: str
    action: str
    target_user_id: int | None
    target_session: str | None
    reason: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def event_hash(seq: int, at: datetime, actor: str, action: str, target_user_id: int | None,
               target_session: str | None, reason: str, details: dict[str, Any],
               prev_hash: str) -> str:
    body = json.dumps(
        [seq, at.isoformat(timespec="microseconds"), actor, action, target_user_id,
         target_session, reason, details, prev_hash],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_LOCK_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
_SET_HEAD = update(audit_head).where(audit_head.c.id == 1)
_INSERT = insert(audit_events)


def append(conn: Connection, events: Sequence[EventIn], at: datetime) -> int:
    """Append ``events`` to the chain inside the caller's transaction. Returns the last seq."""
    if not events:
        return 0
    head = conn.execute(_LOCK_HEAD).one()
    seq, prev = head.seq, head.hash
    rows = []
    for ev in events:
        seq += 1
        h = event_hash(seq, at, ev.actor, ev.action, ev.target_user_id, ev.target_session,
                       ev.reason, ev.details, prev)
        rows.append({"seq": seq, "at": at, "actor": ev.actor, "action": ev.action,
                     "target_user_id": ev.target_user_id, "target_session": ev.target_session,
                     "reason": ev.reason, "details": ev.details, "prev_hash": prev, "hash": h})
        prev = h
    conn.execute(_INSERT, rows)
    conn.execute(_SET_HEAD, {"seq": seq, "hash": prev})
    return seq


def _record(row: Any) -> AuditRecord:
    return AuditRecord(id=row.id, seq=row.seq, at=row.at, actor=row.actor, action=row.action,
                       target_user_id=row.target_user_id, target_session=row.target_session,
                       reason=row.reason, details=row.details or {}, prev_hash=row.prev_hash,
                       hash=row.hash)


def list_events(engine: Engine, *, user_id: int | None = None, action: str | None = None,
                actor: str | None = None, limit: int = 50,
                before_seq: int | None = None) -> list[AuditRecord]:
    """Newest first, keyset-paged by ``seq``."""
    limit = max(1, min(int(limit), 1000))
    stmt = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(audit_events.c.target_user_id == user_id)
    if action:
        stmt = stmt.where(audit_events.c.action == action)
    if actor:
        stmt = stmt.where(audit_events.c.actor == actor)
    if before_seq is not None:
        stmt = stmt.where(audit_events.c.seq < before_seq)
    with read_conn(engine) as conn:
        return [_record(r) for r in conn.execute(stmt)]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str = ""
    first_bad_seq: int | None = None
    first_bad_id: int | None = None


def verify_chain(engine: Engine, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in ``seq`` order and report the first inconsistency."""
    checked, expected_seq, prev = 0, 1, GENESIS_HASH
    last_id = 0
    with read_conn(engine) as conn:
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)
                            .where(audit_head.c.id == 1)).one()
        last_seq = 0
        while True:
            rows = conn.execute(select(audit_events).where(audit_events.c.seq > last_seq)
                                .order_by(audit_events.c.seq).limit(batch)).all()
            if not rows:
                break
            for r in rows:
                rec = _record(r)
                bad = None
                if rec.seq != expected_seq:
                    bad = (f"event seq {expected_seq} is missing (next is seq {rec.seq}): "
                           "deleted or reordered")
                elif rec.id <= last_id:
                    bad = f"event seq {rec.seq} (id {rec.id}) is out of order: reordered"
                elif rec.prev_hash != prev:
                    bad = f"event seq {rec.seq} (id {rec.id}) does not link to its predecessor"
                elif event_hash(rec.seq, rec.at, rec.actor, rec.action, rec.target_user_id,
                                rec.target_session, rec.reason, rec.details,
                                rec.prev_hash) != rec.hash:
                    bad = f"event seq {rec.seq} (id {rec.id}) was altered: its hash does not match"
                if bad:
                    return ChainReport(False, checked, head.seq, head.hash, bad, rec.seq, rec.id)
                prev, last_id, expected_seq = rec.hash, rec.id, rec.seq + 1
                checked += 1
                last_seq = rec.seq
    if head.seq != checked or head.hash != prev:
        return ChainReport(False, checked, head.seq, head.hash,
                           f"the chain ends at seq {checked} but its anchor says seq {head.seq}: "
                           "newest events deleted or anchor altered", checked + 1, None)
    return ChainReport(True, checked, head.seq, head.hash)
