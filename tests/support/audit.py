"""The audit chain as an attacker with every write right would rewrite it (tamper-detection tests)."""

from __future__ import annotations

from sqlalchemy import select, update

from authcore import audit
from authcore.core import AuthCore
from authcore.models import audit_events, audit_head
from tests.support.pg import bypass_audit_trigger


def rewrite_event(core: AuthCore, seq: int, reason: str) -> None:
    """Edit event ``seq`` and recompute every hash from there and the anchor: what someone who
    can write every row would do."""
    with core.engine.begin() as conn:
        bypass_audit_trigger(conn)
        rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
        prev = rows[seq - 2].hash if seq > 1 else rows[0].prev_hash
        for r in rows[seq - 1 :]:
            why = reason if r.seq == seq else r.reason
            h = audit.event_hash(
                r.seq,
                r.at,
                r.actor,
                r.action,
                r.target_user_id,
                r.target_session,
                why,
                r.details or {},
                prev,
                r.client,
                r.db_role,
            )
            conn.execute(
                update(audit_events)
                .where(audit_events.c.id == r.id)
                .values(reason=why, prev_hash=prev, hash=h)
            )
            prev = h
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=prev))
