"""Live activity: one model of "what just happened" for the operator's live view.

An ``ActivityEvent`` is a login, a refresh, a refresh reuse, a session ended (the user's logout or
an operator's delete), a token version bumped, a user disabled or enabled -- or a ``gap``: a
stretch the follower could not see (``authcore.activityfeed`` reads them; the console renders).

Where each kind comes from, and why (the app-side cost is the constraint: a login and a refresh
are the fleet's hot writes):

* **login and refresh, PostgreSQL**: a ``pg_notify`` on ``CHANNEL`` in the same transaction,
  folded into a statement the path already sends (the session INSERT, the rotation UPDATE, as
  a data-modifying CTE), so a login or a refresh makes no extra round trip and a rolled-back
  transaction announces nothing (NOTIFY is delivered at commit). The payload is ids only (user
  id, session id, counter; ``payload``), far under NOTIFY's 8000 bytes, no PII. The price is
  PostgreSQL's: a notifying commit takes the database's notify-queue lock for a moment, so
  notifying commits are serialised at the commit (measured in ``bench/activity.py``; the
  rows name the figures). ``AuthCore(activity=False)`` turns publishing off.
* **login and refresh, SQLite**: nothing is written. Writers are serialised, so a session's
  rowid order is commit order (``sessions.id``); a rotation sets ``refresh_rotated_at``, which
  migration 0009 indexes on SQLite only (there an UPDATE has no HOT to lose; on PostgreSQL the
  index would make every rotation touch an index, so there the NOTIFY carries it instead).
* **reuse, replays and logouts**: already rows of ``user_events`` (``authcore.userevents``),
  written in their transactions; read by id.
* **bumps, disables, enables, operator session deletes**: the audit log (``authcore.audit``),
  read by ``seq``, which the chain's head lock hands out in commit order, on both engines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String, bindparam, func, select

CHANNEL = "authcore_activity"


class Kind(StrEnum):
    LOGIN = "login"
    REFRESH = "refresh"
    REUSE = "reuse"
    ENDED = "ended"
    BUMPED = "bumped"
    DISABLED = "disabled"
    ENABLED = "enabled"
    GAP = "gap"


#: What the operator reads for each kind (the console's wording comes from here).
WHAT = {
    Kind.LOGIN: "login",
    Kind.REFRESH: "refresh",
    Kind.REUSE: "refresh reuse",
    Kind.ENDED: "session ended",
    Kind.BUMPED: "version bumped",
    Kind.DISABLED: "user disabled",
    Kind.ENABLED: "user enabled",
    Kind.GAP: "gap",
}

#: Audit actions and user-event actions -> activity kinds (everything else is not activity).
AUDIT_KINDS = {
    "revoke_tokens": Kind.BUMPED,
    "bulk_revoke_tokens": Kind.BUMPED,
    "disable_user": Kind.DISABLED,
    "enable_user": Kind.ENABLED,
    "delete_session": Kind.ENDED,
    "delete_sessions": Kind.ENDED,
}
USER_EVENT_KINDS = {
    "logout": Kind.ENDED,
    "refresh_reuse_detected": Kind.REUSE,
    "refresh_replay": Kind.REFRESH,
}


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """One thing that happened. ``actor``: ``user`` (the user's own request), ``system``
    (authcore reacting: reuse) or the operator's name (audit). ``detail``: a short text (the
    operator's reason, a count); untrusted, like ``email`` (filled in by the reader from
    ``users``, never carried in a payload). ``key`` is unique per event (de-duplication across
    sources and re-reads)."""

    kind: Kind
    at: datetime
    user_id: int | None
    session_id: str | None = None
    actor: str = "user"
    detail: str = ""
    key: str = ""
    email: str | None = None

    def with_email(self, email: str | None) -> ActivityEvent:
        return replace(self, email=email)

    @property
    def what(self) -> str:
        return WHAT[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "at": self.at.isoformat(),
            "user_id": self.user_id,
            "session": self.session_id,
            "actor": self.actor,
            "detail": self.detail,
            "email": self.email,
        }


def login_key(session_id: str) -> str:
    return f"l:{session_id}"


def refresh_key(session_id: str, counter: int) -> str:
    return f"r:{session_id}:{counter}"


def payload(kind: Kind, at: datetime, user_id: int, session_id: str, counter: int = 0) -> str:
    """The NOTIFY payload of an app-side event: ids only (``[kind, epoch, uid, sid, counter]``)."""
    return json.dumps(
        [str(kind), round(at.timestamp(), 6), user_id, session_id, counter], separators=(",", ":")
    )


#: How a payload of each app-side kind starts (``payload``'s JSON array up to its first comma).
_HEADS = {k: json.dumps([str(k)])[:-1] + "," for k in (Kind.LOGIN, Kind.REFRESH)}


def payload_kinds(texts: list[str]) -> dict[Kind, int]:
    """How many of ``texts`` are payloads of each kind, from their heads only: what a follower
    that is only counting (nobody is looking) pays per payload, instead of ``decode``'s JSON,
    datetime and event. What does not start like a payload is not counted (``decode`` says so)."""
    counts: dict[Kind, int] = {}
    for kind, head in _HEADS.items():
        n = sum(1 for t in texts if t.startswith(head))
        if n:
            counts[kind] = n
    return counts


def decode(text: str) -> ActivityEvent:
    """A payload back into an event; ``ValueError`` for anything else."""
    try:
        kind_s, ts, uid, sid, counter = json.loads(text)
        kind = Kind(kind_s)
        if kind not in (Kind.LOGIN, Kind.REFRESH) or not isinstance(uid, int) or not isinstance(sid, str):
            raise ValueError(kind_s)
        at = datetime.fromtimestamp(float(ts), UTC)
        counter = int(counter)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an activity payload: {text[:80]!r}") from exc
    key = login_key(sid) if kind is Kind.LOGIN else refresh_key(sid, counter)
    return ActivityEvent(kind, at, uid, sid, "user", "", key)


def with_notify(statement: Any) -> Any:
    """``WITH r AS (statement) SELECT pg_notify(CHANNEL, :activity_payload)``: ``statement``
    (an INSERT or UPDATE the path sends anyway) and its NOTIFY in one round trip. A
    data-modifying CTE always runs to completion, whatever the outer SELECT reads."""
    notify = select(func.pg_notify(CHANNEL, bindparam("activity_payload", type_=String)))
    return notify.add_cte(statement.cte("activity_write"))
