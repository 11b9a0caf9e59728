"""Revocation: version bumps, session deletes, disable/enable. Audited, atomic, announced.

Each call runs in one transaction: the change, its audit event(s) and its revocation notice commit
together or not at all. Every call can be planned first (``dry_run=True``) for previews.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    BindParameter,
    Engine,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from authcore import audit, fastpath, notices, pgroles
from authcore.audit import EventIn
from authcore.compiled import PerDialect, once, per_dialect
from authcore.db import read_conn, write_tx
from authcore.errors import NotFound, ValidationError
from authcore.models import audit_head, sessions, users
from authcore.revocation import RULES, Kind
from authcore.sessions import active_sessions
from authcore.text import require_plain
from authcore.timeutil import fmt_utc, utcnow

# Hot paths, built once.
_USER = select(users.c.id, users.c.email, users.c.token_version, users.c.disabled).where(
    users.c.id == bindparam("uid")
)
_ACTIVE = select(active_sessions(bindparam("uid"), bindparam("now", type_=sessions.c.expires_at.type)))
_DEL_USER_SESSIONS = (
    delete(sessions).where(sessions.c.user_id == bindparam("uid")).returning(sessions.c.public_id)
)
_DEL_SESSION = delete(sessions).where(sessions.c.public_id == bindparam("sid")).returning(sessions.c.user_id)
_SESSION_OWNER = select(sessions.c.user_id).where(sessions.c.public_id == bindparam("sid"))


def _bump(where: Any) -> Any:
    """``UPDATE users SET token_version = token_version + 1 WHERE ...``."""
    return update(users).where(where).values(token_version=users.c.token_version + 1)


def _bump_one(dialect: Any) -> Any:
    """One statement for ``revoke_tokens``: bump the version and return ``(id, token_version,
    email, active sessions, audit head seq, audit head hash, role)``, the head locked for the
    audit append that follows. Binds: ``uid``, ``now`` (``sessions.expires_at``'s type).

    PostgreSQL: the head is locked (``FOR UPDATE``) only once the user row is (its filter runs
    the UPDATE first), the same lock order as every other audited change -- user, then head --
    and the role is ``session_user`` (what the audit column default writes). SQLite: ``BEGIN
    IMMEDIATE`` already serialises writers; the head is read in ``RETURNING``. A missing head
    comes back as NULLs (never as "no such user"): ``audit.append`` then reports it.
    """
    uid: BindParameter[int] = bindparam("uid")
    active = active_sessions(uid, bindparam("now", type_=sessions.c.expires_at.type))
    bumped = (users.c.id, users.c.token_version, users.c.email)
    if dialect.name == "postgresql":
        u = _bump(users.c.id == uid).returning(*bumped).cte("u")
        h = (
            select(audit_head.c.seq, audit_head.c.hash)
            .where(audit_head.c.id == 1, exists().select_from(u))
            .with_for_update()
            .cte("h")
        )
        return select(
            u.c.id, u.c.token_version, u.c.email, active, h.c.seq, h.c.hash, func.session_user()
        ).select_from(u.outerjoin(h, true()))

    def head(col: Any) -> Any:
        return select(col).where(audit_head.c.id == 1).scalar_subquery()

    return _bump(users.c.id == uid).returning(
        *bumped, active, head(audit_head.c.seq), head(audit_head.c.hash), null()
    )


_BUMP_ONE = per_dialect(_bump_one)


def _bump_one_plan(dialect: Any) -> tuple[str, Callable[[Any], Any], Callable[[Any], Any]]:
    """``_BUMP_ONE`` ready to run: its SQL, its ``(uid, now)`` packer, ``now``'s processor
    (looked up once per dialect, not per bump)."""
    c = _BUMP_ONE(dialect)
    return c.sql, c.packer(("uid", "now")), c.proc("now")


_BUMP_ONE_PLAN = PerDialect(_bump_one_plan)


def _bump_many(dialect: Any) -> Any:
    """The bulk bump: ``ids`` (a list) bound as one value -- a ``bigint[]`` on PostgreSQL, a JSON
    array read by ``json_each`` on SQLite (no per-id placeholder, so no variable limit and one
    compiled text for any count). Returns ``(id, token_version, email)``."""
    if dialect.name == "postgresql":
        where = users.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))
    else:
        each = func.json_each(bindparam("ids", type_=JSON)).table_valued("value")
        where = users.c.id.in_(select(each.c.value))
    return _bump(where).returning(users.c.id, users.c.token_version, users.c.email)


_BUMP_MANY = per_dialect(_bump_many)

# Ids per bulk UPDATE (one transaction still holds them all). Each statement has the statement
# bound to itself: 10,000 rows in one UPDATE ran past 15 s on a PostgreSQL table whose updates
# were not HOT (each row version a new entry in every index, the trigram GIN one's pending list
# flushed inside the statement), where 1,000 take well under a second.
BUMP_CHUNK = 1000


# What each action publishes (its writer below; on PostgreSQL without direct write rights, the
# migration-0004 function of the same name). ``RevokeResult.refuses`` and the console's
# propagation figure read it with ``revocation.RULES``.
PUBLISHES: dict[str, tuple[Kind, ...]] = {
    "revoke_tokens": (Kind.VERSION,),
    "delete_session": (Kind.SESSION,),
    "delete_sessions": (Kind.SESSION,),
    "disable_user": (Kind.DISABLED, Kind.SESSION),
    "enable_user": (Kind.ENABLED,),
}


def refuses(action: str) -> bool:
    """Whether ``action`` can make tokens refused (a notice of a kind whose rule refuses)."""
    return any(RULES[k].refuses is not None for k in PUBLISHES.get(action, ()))


@dataclass(frozen=True)
class RevokeResult:
    """What a revocation changed (or would change, for a dry run) and when it takes effect."""

    action: str
    user_id: int
    email: str
    old_version: int
    new_version: int
    sessions_deleted: int
    sessions_remaining: int
    disabled: bool
    refresh_effective_at: datetime
    access_effective_at: datetime
    dry_run: bool = False
    session_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The notices this change published (or, for a dry run, would): a session notice only
        when it named a session."""
        return tuple(
            k
            for k in PUBLISHES.get(self.action, ())
            if not (RULES[k].sessions and self.sessions_deleted == 0)
        )

    @property
    def refuses(self) -> bool:
        """Strict verifiers refuse tokens because of it (a published kind's rule refuses)."""
        return any(RULES[k].refuses is not None for k in self.kinds)

    def summary(self) -> str:
        """One line for an operator (the email is untrusted: render it through safe text).

        What is true for access tokens issued before: checks that read the revocation state
        (``Verifier``, ``verify_access(strict=True)``) refuse them within their staleness bound
        (milliseconds on PostgreSQL, the poll interval on SQLite) -- the console and
        the CLI add the figure measured by their own verifier (``console.propagation``); only
        signature-only checks accept them, until they expire."""
        stay = f"{self.sessions_remaining} session{'s stay' if self.sessions_remaining != 1 else ' stays'}"
        until = self.access_effective_at.strftime("%H:%M UTC")
        if self.access_effective_at.date() != self.refresh_effective_at.date():
            until = fmt_utc(self.access_effective_at)
        refused = (
            f"strict verifiers refuse {{}} access tokens within their staleness bound; "
            f"signature-only checks accept them until {until} (expiry)"
        )
        if self.action == "revoke_tokens":
            return (
                f"{self.email}: token_version {self.old_version} -> {self.new_version}, "
                f"{stay}. Refresh tokens stop now; " + refused.format("the user's earlier")
            )
        if self.action == "delete_session":
            return (
                f"{self.email}: session {self.session_id} deleted, {stay}; that device is "
                f"logged out now. Refresh tokens bound to it stop now; " + refused.format("its")
            )
        n = self.sessions_deleted
        ended = f"{n} session{'s' if n != 1 else ''}"
        if self.action == "delete_sessions":
            return (
                f"{self.email}: {ended} deleted; every device is logged out now. Refresh "
                f"tokens bound to them stop now; " + refused.format("their")
            )
        if self.action == "disable_user":
            return (
                f"{self.email}: disabled; token_version {self.old_version} -> "
                f"{self.new_version}, {ended} ended. Sessions and refresh tokens are refused "
                f"now and stay refused after an enable; " + refused.format("the user's earlier")
            )
        if self.action == "enable_user":
            return f"{self.email}: enabled; the user can log in again"
        return f"{self.email}: {self.action}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "user_id": self.user_id,
            "email": self.email,
            "old_token_version": self.old_version,
            "token_version": self.new_version,
            "sessions_deleted": self.sessions_deleted,
            "sessions_remaining": self.sessions_remaining,
            "disabled": self.disabled,
            "session_id": self.session_id,
            "dry_run": self.dry_run,
            "refresh_effective_at": self.refresh_effective_at.isoformat(),
            "access_effective_at": self.access_effective_at.isoformat(),
            "summary": self.summary(),
            **self.extra,
        }


_new = object.__new__
_RESULT_DEFAULTS = {f.name: f.default for f in fields(RevokeResult) if f.default is not MISSING}


def _bumped(user_id: int, email: str, new: int, active: int, r_at: datetime, a_at: datetime) -> RevokeResult:
    """``RevokeResult("revoke_tokens", user_id, email, new - 1, new, 0, active, False, r_at,
    a_at)``, built by filling the instance's ``__dict__``: the frozen dataclass ``__init__`` calls
    ``object.__setattr__`` once per field (13), ~20k instructions, a tenth of a single bump's
    Python. The same object (equal, same repr; ``tests/test_revoke.py`` compares every
    field with the constructor's and fails when a field is added)."""
    r = _new(RevokeResult)
    d = r.__dict__
    d.update(_RESULT_DEFAULTS)
    d.update(
        action="revoke_tokens",
        user_id=user_id,
        email=email,
        old_version=new - 1,
        new_version=new,
        sessions_deleted=0,
        sessions_remaining=active,
        disabled=False,
        refresh_effective_at=r_at,
        access_effective_at=a_at,
        extra={},
    )
    return r


def _reason(reason: str | None) -> str:
    r = require_plain((reason or "").strip(), "the reason")
    if not r:
        raise ValidationError("a reason is required")
    if len(r) > 1000:
        raise ValidationError("the reason is too long (at most 1000 characters)")
    return r


# PostgreSQL, a role without direct write rights: one SECURITY DEFINER function per change
# (migration 0004), which also audits and announces it; the database refuses what the role may
# not do. Results have the columns of the direct path's rows.
_FN_REVOKE = once(pgroles.function_rows("authcore_revoke_tokens", "uid", "reason", "actor", "client"))
_FN_BUMP_MANY = once(
    pgroles.function_rows(
        "authcore_bump_many",
        cast(bindparam("ids"), ARRAY(BigInteger)),
        "reason",
        "actor",
        "client",
        cast(bindparam("details"), JSONB),
    )
)
_FN_DELETE_SESSION = once(
    pgroles.function_rows("authcore_delete_session", "sid", "reason", "actor", "client")
)
_FN_DELETE_SESSIONS = once(
    pgroles.function_rows("authcore_delete_sessions", "uid", "reason", "actor", "client")
)
_FN_SET_DISABLED = once(
    pgroles.function_rows("authcore_set_disabled", "uid", "disabled", "reason", "actor", "client")
)


class AdminService:
    """Operator-level changes. ``guard(bulk)`` enforces read-only mode and roles first (a UI
    courtesy: on PostgreSQL the database's grants decide, see ``authcore.pgroles``)."""

    def __init__(
        self,
        engine: Engine,
        access_ttl: timedelta,
        actor: str,
        guard: Callable[[int], None],
        client: str | None = None,
    ) -> None:
        self.engine = engine
        self.access_ttl = access_ttl
        self.actor = actor
        self.client = client  # claimed context (SSH_CONNECTION), recorded apart from the actor
        self._guard = guard
        self._writer: fastpath.Writer | None = None

    def _via_functions(self) -> bool:
        """PostgreSQL and a role that may not write the tables directly."""
        return self.engine.dialect.name == "postgresql" and not pgroles.direct_writer(self.engine)

    def _hot(self) -> fastpath.Writer:
        """The engine's ``fastpath.Writer``, built on first use."""
        w = self._writer
        if w is None:
            w = self._writer = fastpath.Writer(self.engine)
        return w

    def _single(self, fn: Any, **values: Any) -> list[Any]:
        """One SQL function call (``_FN_*``) as its own transaction; refusals translated."""
        w = self._hot()
        c = fn(w.dialect)
        with pgroles.refusals():
            return w.single(c.sql, c.params(values))

    def _times(self, now: datetime) -> tuple[datetime, datetime]:
        return now, now + self.access_ttl

    def _load(self, conn: Any, user_id: int, now: datetime) -> tuple[Any, int]:
        row = conn.execute(_USER, {"uid": user_id}).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return row, int(conn.execute(_ACTIVE, {"uid": user_id, "now": now}).scalar_one())

    def _result(
        self,
        action: str,
        row: Any,
        old: int,
        new: int,
        deleted: int,
        remaining: int,
        now: datetime,
        dry: bool,
        sid: str | None = None,
        disabled: bool | None = None,
    ) -> RevokeResult:
        r_at, a_at = self._times(now)
        return RevokeResult(
            action,
            row.id,
            row.email,
            old,
            new,
            deleted,
            remaining,
            bool(row.disabled) if disabled is None else disabled,
            r_at,
            a_at,
            dry,
            sid,
        )

    # -- token_version -------------------------------------------------------------------------
    def revoke_tokens(self, user_id: int, reason: str, *, dry_run: bool = False) -> RevokeResult:
        """Bump ``token_version`` atomically: every refresh token of the user dies at once."""
        reason = _reason(reason)
        now = utcnow()
        if dry_run:
            with read_conn(self.engine) as conn:
                row, active = self._load(conn, user_id, now)
            v = int(row.token_version)
            return self._result("revoke_tokens", row, v, v + 1, 0, active, now, True)
        self._guard(1)
        if self._via_functions():  # one statement, its own transaction: one round trip
            ((_id, new, email, active),) = self._single(
                _FN_REVOKE, uid=user_id, reason=reason, actor=self.actor, client=self.client
            )
            r_at, a_at = self._times(now)
            return RevokeResult("revoke_tokens", user_id, email, new - 1, new, 0, active, False, r_at, a_at)
        with self._hot().transaction() as tx:
            sql, pack, at = _BUMP_ONE_PLAN(tx.dialect)
            row = tx.exec_driver_sql(sql, pack((user_id, at(now)))).fetchone()
            if row is None:
                raise NotFound(f"no user with id {user_id}")
            _id, new, email, active, head_seq, head_hash, role = row
            audit.append(
                tx,
                [
                    EventIn(
                        "revoke_tokens",
                        self.actor,
                        reason,
                        user_id,
                        details={"old_version": new - 1, "new_version": new},
                        client=self.client,
                    )
                ],
                now,
                head=(head_seq, head_hash, role),
            )
            notices.publish(tx, now, Kind.VERSION, [user_id], [new])
        r_at, a_at = self._times(now)
        return _bumped(user_id, email, new, active, r_at, a_at)

    def revoke_tokens_many(
        self, user_ids: Sequence[int], reason: str, *, summary: dict[str, Any] | None = None
    ) -> list[RevokeResult]:
        """Bump many users in ONE transaction (an UPDATE per ``BUMP_CHUNK`` ids), one audit event per
        user."""
        reason = _reason(reason)
        ids = sorted({int(u) for u in user_ids})
        if not ids:
            return []
        self._guard(len(ids))
        now = utcnow()
        r_at, a_at = self._times(now)
        with self._hot().transaction() as tx:
            rows = self.bump_many_in(tx, ids, reason, now, summary=summary)
        return [
            RevokeResult("revoke_tokens", uid, email, v - 1, v, 0, 0, False, r_at, a_at)
            for uid, v, email in rows
        ]

    def _bulk_summary(self, reason: str, summary: dict[str, Any], users: int) -> EventIn:
        """The one ``bulk_revoke_tokens`` event a bulk bump adds (both write paths)."""
        details = {**summary, "users": users}
        return EventIn("bulk_revoke_tokens", self.actor, reason, None, details=details, client=self.client)

    def bump_many_in(
        self,
        conn: Any,
        ids: Sequence[int],
        reason: str,
        now: datetime,
        *,
        details: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
    ) -> list[Any]:
        """The body of a bulk bump, inside the caller's transaction (a SQLAlchemy ``Connection``
        or a ``fastpath.RawTx``): an UPDATE per ``BUMP_CHUNK`` ids, one audit event per user
        (plus an optional summary event), one notice batch. Returns ``(id, token_version, email)``
        rows sorted by id."""
        ids = [int(u) for u in ids]
        parts = [ids[i : i + BUMP_CHUNK] for i in range(0, len(ids), BUMP_CHUNK)]
        if self._via_functions():
            import json

            fn = _FN_BUMP_MANY(conn.dialect)
            details_json = json.dumps(details or {}, default=str)
            rows = sorted(
                (r[0], r[1], r[2])
                for part in parts
                for r in pgroles.call(
                    conn,
                    fn.sql,
                    fn.params(
                        {
                            "ids": part,
                            "reason": reason,
                            "actor": self.actor,
                            "client": self.client,
                            "details": details_json,
                        }
                    ),
                )
            )
            if summary is not None:
                audit.append(conn, [self._bulk_summary(reason, summary, len(rows))], now)
            return rows
        bump = _BUMP_MANY(conn.dialect)
        rows = sorted(
            (r[0], r[1], r[2])
            for part in parts
            for r in conn.exec_driver_sql(bump.sql, bump.convert({"ids": part})).fetchall()
        )
        extra = {"bulk": True, **(details or {})}
        events = [
            EventIn(
                "revoke_tokens",
                self.actor,
                reason,
                uid,
                details={"old_version": v - 1, "new_version": v, **extra},
                client=self.client,
            )
            for uid, v, _email in rows
        ]
        if summary is not None:
            events.append(self._bulk_summary(reason, summary, len(rows)))
        audit.append(conn, events, now)
        notices.publish(conn, now, Kind.VERSION, [r[0] for r in rows], [r[1] for r in rows])
        return rows

    # -- sessions ------------------------------------------------------------------------------
    def delete_session(self, public_id: str, reason: str, *, dry_run: bool = False) -> RevokeResult:
        reason = _reason(reason)
        require_plain(public_id, "the session id")
        now = utcnow()
        if not dry_run:
            self._guard(1)
            if self._via_functions():
                ((uid, email, v, disabled, active),) = self._single(
                    _FN_DELETE_SESSION, sid=public_id, reason=reason, actor=self.actor, client=self.client
                )
                r_at, a_at = self._times(now)
                return RevokeResult(
                    "delete_session", uid, email, v, v, 1, active, disabled, r_at, a_at, False, public_id
                )
        ctx = read_conn(self.engine) if dry_run else write_tx(self.engine)
        with ctx as conn:
            owner = conn.execute(_DEL_SESSION if not dry_run else _SESSION_OWNER, {"sid": public_id}).first()
            if owner is None:
                raise NotFound(f"no session {public_id[:60]!r}")
            row, active = self._load(conn, owner.user_id, now)
            v = int(row.token_version)
            if dry_run:
                return self._result("delete_session", row, v, v, 1, max(active - 1, 0), now, True, public_id)
            audit.append(
                conn,
                [EventIn("delete_session", self.actor, reason, row.id, public_id, client=self.client)],
                now,
            )
            notices.publish(conn, now, Kind.SESSION, [row.id], session_ids=[public_id])
        return self._result("delete_session", row, v, v, 1, active, now, False, public_id)

    def delete_sessions(self, user_id: int, reason: str, *, dry_run: bool = False) -> RevokeResult:
        """Delete every session of a user (logs out every device at once)."""
        reason = _reason(reason)
        now = utcnow()
        if dry_run:
            with read_conn(self.engine) as conn:
                row, _active = self._load(conn, user_id, now)
                n = conn.execute(
                    select(func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
                ).scalar_one()
            v = int(row.token_version)
            return self._result("delete_sessions", row, v, v, int(n), 0, now, True)
        self._guard(1)
        if self._via_functions():
            ((uid, email, v, disabled, n),) = self._single(
                _FN_DELETE_SESSIONS, uid=user_id, reason=reason, actor=self.actor, client=self.client
            )
            r_at, a_at = self._times(now)
            return RevokeResult("delete_sessions", uid, email, v, v, n, 0, disabled, r_at, a_at)
        with write_tx(self.engine) as conn:
            row = conn.execute(
                _USER.with_for_update() if conn.dialect.name == "postgresql" else _USER, {"uid": user_id}
            ).first()
            if row is None:
                raise NotFound(f"no user with id {user_id}")
            sids = [r.public_id for r in conn.execute(_DEL_USER_SESSIONS, {"uid": user_id})]
            audit.append(
                conn,
                [
                    EventIn(
                        "delete_sessions",
                        self.actor,
                        reason,
                        user_id,
                        details={"sessions_deleted": len(sids)},
                        client=self.client,
                    )
                ],
                now,
            )
            notices.publish(conn, now, Kind.SESSION, [user_id], session_ids=sids)
        v = int(row.token_version)
        return self._result("delete_sessions", row, v, v, len(sids), 0, now, False)

    # -- disable / enable ----------------------------------------------------------------------
    def set_disabled(
        self, user_id: int, disabled: bool, reason: str, *, dry_run: bool = False
    ) -> RevokeResult:
        """Disable (or enable) a user: refused at once by every check that reads the flag.

        Disabling also bumps ``token_version`` in the same UPDATE and deletes the user's
        sessions (a user who cannot get tokens has no session, as ``SessionService.create``
        refuses one), all in one transaction under one audit event: enabling later never
        revives an access, refresh or session token that existed at the disable; the user logs
        in again. Enabling changes only the flag.
        """
        reason = _reason(reason)
        action = "disable_user" if disabled else "enable_user"
        now = utcnow()
        step = 1 if disabled else 0  # disabling also bumps token_version (see the docstring)
        if dry_run:
            with read_conn(self.engine) as conn:
                row, active = self._load(conn, user_id, now)
                n = conn.execute(
                    select(func.count()).select_from(sessions).where(sessions.c.user_id == user_id)
                ).scalar_one()
            v = int(row.token_version)
            return self._result(
                action,
                row,
                v,
                v + step,
                int(n) if disabled else 0,
                0 if disabled else active,
                now,
                True,
                disabled=disabled,
            )
        self._guard(1)
        if self._via_functions():
            ((uid, email, v, _d, active, n),) = self._single(
                _FN_SET_DISABLED,
                uid=user_id,
                disabled=disabled,
                reason=reason,
                actor=self.actor,
                client=self.client,
            )
            r_at, a_at = self._times(now)
            return RevokeResult(action, uid, email, v - step, v, n, active, disabled, r_at, a_at)
        with write_tx(self.engine) as conn:
            row = conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(
                    disabled=disabled,
                    disabled_at=now if disabled else None,
                    token_version=users.c.token_version + step,
                )
                .returning(users.c.id, users.c.email, users.c.token_version, users.c.disabled)
            ).first()
            if row is None:
                raise NotFound(f"no user with id {user_id}")
            v = int(row.token_version)
            sids: list[str] = []
            details: dict[str, Any] = {}
            if disabled:  # the user row is locked (UPDATE): then its sessions, as delete-all
                sids = [r.public_id for r in conn.execute(_DEL_USER_SESSIONS, {"uid": user_id})]
                details = {"old_version": v - 1, "new_version": v, "sessions_deleted": len(sids)}
            active = int(conn.execute(_ACTIVE, {"uid": user_id, "now": now}).scalar_one())
            audit.append(
                conn, [EventIn(action, self.actor, reason, user_id, details=details, client=self.client)], now
            )
            notices.publish(conn, now, Kind.DISABLED if disabled else Kind.ENABLED, [user_id], [v])
            notices.publish(conn, now, Kind.SESSION, [user_id], session_ids=sids)
        return self._result(action, row, v - step, v, len(sids), active, now, False, disabled=disabled)
