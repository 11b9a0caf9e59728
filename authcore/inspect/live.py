"""Live state: the token compared with its user and session rows, and what that means for it.

Looked up only for a well-formed token whose signature verified (``inspector`` decides), with
one query per call (``live_lookup``). A database problem never escapes: it becomes the
``unavailable`` live state. SQLAlchemy is imported when ``live_lookup`` is called, and the
revocation model and ``LiveState`` when a lookup answered: an inspection without a database
(``tokens decode --no-db``) imports none of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from authcore.inspect.claims import MAX_EPOCH, MIN_EPOCH
from authcore.inspect.report import Findings, LiveLookup, clock_time, quote, span
from authcore.text import clean

if TYPE_CHECKING:
    from authcore.inspect.livestate import LiveState
    from authcore.revocation import Reason

MAX_UID = 2**63 - 1


class LiveChecks(Findings):
    """Fills ``report.live``, ``report.user`` and ``report.consequence``; the user's or session's
    problems are ``revoked`` findings."""

    def live_state(self) -> None:
        r = self.r
        payload = r.payload or {}
        if self.live is None:
            return
        if self.foreign:
            r.live = {"state": "skipped", "detail": "token for another issuer or audience"}
            return
        sub = payload.get("sub")
        uid: int | None = None
        if isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) < 20:
            uid = int(sub)
        elif isinstance(sub, int) and not isinstance(sub, bool):
            uid = sub
        if uid is None or not 0 < uid <= MAX_UID:
            r.live = {
                "state": "skipped",
                "detail": f"sub {quote(sub)} is not an authcore user id"
                if "sub" in payload
                else "no sub claim",
            }
            return
        sid = payload.get("sid")
        if sid is not None and not isinstance(sid, str):
            r.notes.append("sid claim is not a string (ignored)")
            sid = None
        try:
            st = self.live(uid, sid)
        except Exception as exc:  # noqa: BLE001 - a database problem never escapes
            r.live = {"state": "unavailable", "detail": "live state unavailable: " + _one_line(exc)}
            return
        from authcore.inspect.livestate import LiveState  # here: a lookup was made

        if not isinstance(st, LiveState):
            r.live = {"state": "unavailable", "detail": "live state unavailable: bad lookup"}
            return
        r.live = {"state": "checked", "detail": "user and session looked up"}
        from authcore.revocation import Facts, State, reasons  # the model: only once rows answered

        tv = payload.get("token_version")
        tv_ok = isinstance(tv, int) and not isinstance(tv, bool)
        state = State(
            st.exists,
            st.disabled,
            st.token_version,
            st.session_exists is False,
            st.session_expires_at.timestamp() if st.session_expires_at is not None else None,
        )
        facts = Facts(tv if tv_ok else None, sid)
        problems = [
            _problem(reason, uid, tv, sid, st, self.now_ts) for reason in reasons(facts, state, self.now_ts)
        ]
        if st.exists and not tv_ok:
            r.notes.append("no integer token_version claim: revocation by version not checked")
        elif st.exists and st.token_version is not None and isinstance(tv, int) and tv > st.token_version:
            r.warnings.append(
                f"token_version {tv} is ahead of the user's {st.token_version} "
                f"(issued against another database?)"
            )
        self.revoked = problems
        r.user = {
            "id": uid,
            "exists": st.exists,
            "disabled": st.disabled,
            "email": st.email,
            "token_version": st.token_version,
            "token_version_claim": tv if tv_ok else None,
            "sid": sid,
            "session_exists": st.session_exists,
            "session_expires_at": (st.session_expires_at.isoformat() if st.session_expires_at else None),
            "revoked": bool(problems),
            "problems": list(problems),
        }

    def consequence(self) -> str | None:
        r = self.r
        if r.user is None:
            return None
        typ = (r.payload or {}).get("typ")
        exp = r.times.get("exp")
        until = (
            datetime.fromtimestamp(exp.epoch + self.leeway, UTC)
            if exp is not None and exp.epoch is not None and MIN_EPOCH < exp.epoch + self.leeway < MAX_EPOCH
            else None
        )
        expired = until is not None and until <= self.now
        if self.revoked:
            if typ == "refresh":
                return "refresh will be refused"
            if typ == "access":
                if expired:
                    return "this access token has expired too; every verifier refuses it"
                if until is None:
                    return (
                        "this access token is accepted by non-strict verifiers (it has no "
                        "usable exp); strict verifiers refuse it now"
                    )
                return (
                    f"this access token is accepted by non-strict verifiers until "
                    f"{clock_time(until, self.now)} ({span((until - self.now).total_seconds())})"
                    f"; strict verifiers refuse it now"
                )
            return "strict verifiers and refresh refuse it now"
        if expired:
            return (
                "refresh will be refused: the token has expired"
                if typ == "refresh"
                else "every verifier refuses it: the token has expired"
            )
        if typ == "refresh":
            return "refresh will be accepted"
        if typ == "access":
            return "accepted by strict and non-strict verifiers" + (
                f" until {clock_time(until, self.now)}" if until else ""
            )
        return "the user and session are live"


def _problem(reason: Reason, uid: int, tv: Any, sid: str | None, st: LiveState, now_ts: float) -> str:
    """``revocation``'s reason in the inspector's words (with the user, session and times)."""
    from authcore.revocation import Reason

    if reason is Reason.NO_USER:
        return f"user {uid} no longer exists"
    if reason is Reason.DISABLED:
        return f"user {uid} is disabled"
    if reason is Reason.VERSION:
        return f"revoked: token version {tv}, user is at {st.token_version}"
    if reason is Reason.SESSION_ENDED:
        return f"session {quote(sid, 40)} no longer exists"
    assert reason is Reason.SESSION_EXPIRED and st.session_expires_at is not None
    return f"session {quote(sid, 40)} ended {span(now_ts - st.session_expires_at.timestamp())} ago"


def _one_line(exc: BaseException) -> str:
    """An exception as one line, with any password in a URL or DSN masked."""
    from authcore.errors import AuthCoreError
    from authcore.urls import mask_password

    if isinstance(exc, AuthCoreError):
        text = str(exc)
    else:
        orig = getattr(exc, "orig", None) or exc
        text = f"{type(exc).__name__}: {str(orig).strip()}"
    text = text.splitlines()[0] if text.strip() else type(exc).__name__
    return clean(mask_password(text), max_len=300)


def live_lookup(engine: Any) -> LiveLookup:
    """A ``live(user_id, sid)`` callable for ``inspect_token`` on ``engine``.

    One query per call: the user row outer-joined with the session row (``sid``) that belongs
    to it. SQLAlchemy is imported here, not at module import time.
    """
    from sqlalchemy import bindparam, select

    from authcore.db import read_conn
    from authcore.inspect.livestate import LiveState
    from authcore.models import sessions, users

    stmt = (
        select(
            users.c.id,
            users.c.email,
            users.c.token_version,
            users.c.disabled,
            sessions.c.public_id.label("sid"),
            sessions.c.expires_at,
        )
        .select_from(
            users.outerjoin(
                sessions, (sessions.c.public_id == bindparam("sid")) & (sessions.c.user_id == users.c.id)
            )
        )
        .where(users.c.id == bindparam("uid"))
    )

    def lookup(user_id: int, sid: str | None) -> LiveState:
        with read_conn(engine) as conn:
            row = conn.execute(stmt, {"uid": user_id, "sid": sid}).first()
        if row is None:
            return LiveState(user_id=user_id, exists=False, sid=sid)
        return LiveState(
            user_id=user_id,
            exists=True,
            disabled=bool(row.disabled),
            token_version=int(row.token_version),
            email=row.email,
            sid=sid,
            session_exists=(row.sid is not None) if sid is not None else None,
            session_expires_at=row.expires_at if sid is not None else None,
        )

    return lookup
