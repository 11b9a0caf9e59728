"""User events: what users' own requests did, recorded without the operator's hash chain.

A logout, a refresh replayed within the grace window and a detected refresh reuse are written
here, in the same transaction as the change they record. ``user_events`` is append-only and has
no chain, so these inserts take no shared lock: at fleet rates they never queue behind
``audit_head``'s row lock, which orders the operator's actions (``authcore.audit``). The
operator still sees them: ``activity`` merges them with the audit events of a user (the
console's user screen, ``authconsole users show``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select

from authcore.compiled import Compiled, PerDialect
from authcore.db import read_conn
from authcore.models import user_events

LOGOUT = "logout"
REFRESH_REPLAY = "refresh_replay"
REFRESH_REUSE = "refresh_reuse_detected"
_WHAT = {
    LOGOUT: "the user logged out",
    REFRESH_REPLAY: "previous refresh token replayed within the grace window",
    REFRESH_REUSE: "an already rotated refresh token was presented; the session was ended",
}
_COLS = ("at", "action", "user_id", "session_id", "details")


_INSERT = (
    insert(user_events).values({c: bindparam("u_" + c, type_=user_events.c[c].type) for c in _COLS}).inline()
)


@dataclass(frozen=True)
class _Sql:
    insert: Compiled
    row: Any  # event tuple (_COLS order) -> driver parameters
    at: Any  # UTCDateTime's bind processor
    details: Any  # JSON's bind processor


def _build_sql(dialect: Any) -> _Sql:
    ins = Compiled(_INSERT, dialect).only_converts("u_at", "u_details")
    return _Sql(ins, ins.packer(["u_" + c for c in _COLS]), ins.proc("u_at"), ins.proc("u_details"))


_sql = PerDialect(_build_sql)


def record(
    conn: Any,
    at: datetime,
    action: str,
    user_id: int,
    session_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Insert one event inside the caller's transaction (a SQLAlchemy ``Connection`` or a
    ``fastpath.RawTx``); values converted by the columns' own bind processors."""
    sql = _sql(conn.dialect)
    row = (sql.at(at), action, user_id, session_id, sql.details(details or {}))
    conn.exec_driver_sql(sql.insert.sql, sql.row(row))


@dataclass(frozen=True)
class UserEvent:
    """One user event, with the fields the operator's views show for an audit event."""

    id: int
    at: datetime
    action: str
    target_user_id: int
    target_session: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def actor(self) -> str:
        """Who acted: the user's own request, or authcore reacting to it (reuse)."""
        return "system" if self.action == REFRESH_REUSE else "user"

    @property
    def reason(self) -> str:
        return _WHAT.get(self.action, self.action)

    @property
    def key(self) -> str:
        """A row key that never collides with an audit event's (``str(seq)``)."""
        return f"u{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action,
            "actor": self.actor,
            "user_id": self.target_user_id,
            "session": self.target_session,
            "reason": self.reason,
            "details": self.details,
        }


def list_events(
    engine: Engine,
    *,
    user_id: int | None = None,
    action: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[UserEvent]:
    """Newest first, keyset-paged by ``id``."""
    limit = max(1, min(int(limit), 1000))
    stmt = select(user_events).order_by(user_events.c.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(user_events.c.user_id == user_id)
    if action:
        stmt = stmt.where(user_events.c.action == action)
    if before_id is not None:
        stmt = stmt.where(user_events.c.id < before_id)
    with read_conn(engine) as conn:
        return [
            UserEvent(r.id, r.at, r.action, r.user_id, r.session_id, r.details or {})
            for r in conn.execute(stmt)
        ]


def activity(engine: Engine, user_id: int, limit: int = 50) -> list[Any]:
    """A user's recent audit events and user events, merged newest first (at most ``limit``).
    Audit records key by ``str(seq)``, user events by ``key``: see ``row_key``."""
    from authcore.audit import list_events as audit_events

    merged: list[Any] = [
        *audit_events(engine, user_id=user_id, limit=limit),
        *list_events(engine, user_id=user_id, limit=limit),
    ]
    merged.sort(key=lambda e: e.at, reverse=True)
    return merged[:limit]


def row_key(event: Any) -> str:
    """A table row key for an audit event or a user event."""
    return event.key if isinstance(event, UserEvent) else str(event.seq)
